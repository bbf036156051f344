"""What attach says when the kernel refuses (pure wording)."""

from __future__ import annotations

from l4lb_tui.bpftool import BpfError
from l4lb_tui.control.attaching import no_memory


def test_a_flow_table_the_kernel_cannot_allocate_is_one_line_with_a_smaller_size() -> None:
    exc = BpfError("map create failed: Cannot allocate memory", ["bpftool", "-j", "map"])
    assert no_memory(exc, 16 << 20) == (
        "cannot allocate the 596 MiB of flow tables (flow table 16M): the kernel refused it "
        "(low on memory, or a memory cgroup's limit); a smaller --flows needs less "
        "(8M 296 MiB, 4M 148 MiB); nothing was attached"
    )
    # The IPv6 table the larger: its option, not --flows (v17 MEDIUM-A).
    assert no_memory(exc, 1 << 19, 16 << 20) == (
        "cannot allocate the 1,122 MiB of flow tables (IPv6 flow table 16M): the kernel "
        "refused it (low on memory, or a memory cgroup's limit); a smaller --flows6 needs less "
        "(8M 552 MiB, 4M 276 MiB); nothing was attached"
    )
    assert "low on memory" in (no_memory(exc, 4096, 4096) or "")
    assert no_memory(BpfError("map create failed: Invalid argument"), 16 << 20) is None

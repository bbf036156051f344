"""The flow table's maps, sized by the operator at attach: created before the
program is loaded (the object's own definition holds the old fixed size),
and read back by what must know the size (stats, a second attach)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

from l4lb_tui import abi, bpfsys, flowsize
from l4lb_tui.bpftool import STAGING_ROOT
from l4lb_tui.control.handle import Handle
from l4lb_tui.errors import BalancerError

# Value sizes of the three maps (the entries, and one cache line of tags or
# picks per array element).
_VALUE_SIZES = {
    "flows": abi.FLOW.size,
    "flow_tags": abi.FLOW_TAGS_PER_ENTRY,
    "flow_picks": abi.FLOW_PICKS_PER_ENTRY * 2,
}


@contextlib.contextmanager
def created(h: Handle, flows: int) -> Iterator[dict[str, Path]]:
    """The three maps for `flows` slots, pinned in a staging directory for
    the load to take (it pins them again among the balancer's own); the
    staging pins go afterwards, whatever happened."""
    staging = STAGING_ROOT / f"{h.pin_dir.name}-flows"
    h.bpftool.unpin_tree(staging)
    try:
        staging.mkdir(parents=True, exist_ok=True)
        pins = {}
        for name, entries in flowsize.map_entries(flows).items():
            pin = staging / name
            h.bpftool.map_create(pin, "array", 4, _VALUE_SIZES[name], entries, name)
            pins[name] = pin
        yield pins
    finally:
        h.bpftool.unpin_tree(staging)
        with contextlib.suppress(OSError):
            STAGING_ROOT.rmdir()  # only when empty: another attach may stage beside it


def slots(h: Handle) -> int:
    """The running balancer's flow table size, read from its map (right for
    pins made before the size was recorded in the config too)."""
    try:
        with bpfsys.opened(bpfsys.obj_get(h.map_pin("flows"))) as fd:
            return bpfsys.map_info(fd).max_entries
    except bpfsys.BpfSysError as exc:
        raise BalancerError(f"cannot read the flow table of {h.ifname}: {exc}") from None


def refuse_resize(h: Handle, flows: int | None) -> None:
    """A loaded balancer keeps its table: a new size is a new load."""
    if flows is None:
        return
    running = slots(h)
    if running != flows:
        raise BalancerError(
            f"{h.ifname} runs with a flow table of {running:,} flows ({flowsize.human(running)}); "
            f"for {flows:,}, 'l4lb detach -i {h.ifname}' then attach with --flows "
            f"{flowsize.human(flows)} and load again (its flows are forgotten)"
        )

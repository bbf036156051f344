"""The nodes view's rows (pure): per node, its session, what it announces,
its ring prints with a mismatch marked (against the other nodes of its
group: its lab, or the config that lists it), its packets per second."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence

from rich.text import Text

from l4lb_tui.console_nodes import NodeSample
from l4lb_tui.viewmodels.cells import Cell

MISMATCH = "≠"  # marks a print that differs from most nodes'
PRINT_CHARS = 6  # enough of a print to tell two apart at a glance


def majority_prints(samples: Sequence[NodeSample]) -> dict[tuple[str, str], str]:
    """Per (group, service), the print most of the group's nodes have (ties:
    the smallest, so stable).  Only nodes of one group (one lab, or one
    config's [[node]] list) must agree: two labs on one host need not."""
    seen: dict[tuple[str, str], Counter[str]] = {}
    for s in samples:
        for service, fp in s.ring_prints:
            seen.setdefault((s.group, service), Counter())[fp] += 1
    return {where: min(counts, key=lambda fp: (-counts[fp], fp)) for where, counts in seen.items()}


def mismatched(samples: Sequence[NodeSample]) -> set[str]:
    """The nodes whose prints are not the rest of their group's (a split brain)."""
    common = majority_prints(samples)
    services: Counter[str] = Counter(group for group, _ in common)
    return {
        s.name
        for s in samples
        if any(common.get((s.group, service)) != fp for service, fp in s.ring_prints)
        or (s.ring_prints and len(s.ring_prints) != services[s.group])
    }


def last_announcer(samples: Sequence[NodeSample], name: str) -> list[str]:
    """The VIPs node `name` is the only node of its group to announce (a
    drain withdraws them from the router altogether)."""
    node = next((s for s in samples if s.name == name), None)
    if node is None:
        return []
    others = {
        vip for s in samples if s.group == node.group and s.name != name for vip in s.announced
    }
    return sorted(set(node.announced) - others)


def rates(
    before: Mapping[str, int], samples: Sequence[NodeSample], seconds: float
) -> dict[str, float]:
    out: dict[str, float] = {}
    for s in samples:
        old = before.get(s.name)
        if s.packets is not None and old is not None and seconds > 0:
            out[s.name] = max(0, s.packets - old) / seconds
    return out


def _prints(sample: NodeSample, common: Mapping[tuple[str, str], str]) -> Cell:
    if not sample.ring_prints:
        return "-"
    text = Text()
    for service, fp in sample.ring_prints:
        odd = common.get((sample.group, service)) != fp
        text.append(fp[:PRINT_CHARS] + (MISMATCH if odd else " "), "bold red" if odd else "")
        text.append(" ")
    return text


def _announces(sample: NodeSample) -> Cell:
    if sample.drained:
        return Text("drained", "yellow")
    return ", ".join(sample.announced) or Text("nothing", "red")


def _session(sample: NodeSample) -> Cell:
    """The session's state, red unless established; with an IPv6 session,
    both (`Established v4+v6` when both are up)."""
    s4, s6 = sample.session, sample.session6
    if not s4:
        return Text(sample.problem or "?", "red")
    up = "Established"
    if not s6:
        return s4 if s4.startswith(up) else Text(s4, "red")
    if s4.startswith(up) and s6.startswith(up):
        return f"{up} v4+v6"
    text = Text()
    text.append(f"v4 {s4}", "" if s4.startswith(up) else "red")
    text.append(f" v6 {s6}", "" if s6.startswith(up) else "red")
    return text


def node_rows(
    samples: Sequence[NodeSample], pps: Mapping[str, float]
) -> list[tuple[str, list[Cell]]]:
    common = majority_prints(samples)
    rows: list[tuple[str, list[Cell]]] = []
    for s in samples:
        session = _session(s)
        rate = pps.get(s.name)
        rows.append(
            (
                s.name,
                [s.name, session, _announces(s), _prints(s, common),
                 "-" if rate is None else f"{rate:,.0f}"],
            )
        )  # fmt: skip
    return rows

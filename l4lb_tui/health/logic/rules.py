"""The routing rules of the probe tunnel, planned from the rules there are.

A probe to the VIP from a host that holds the VIP would be delivered
locally: the `local` table is the first rule (preference 0) and matches
every packet.  Marked probes need a rule ahead of it, and nothing can be
added ahead of a rule of the same preference; so the tunnel's rule goes in at
preference 0 after `local`, a copy of `local` after it, and then the original
`local` goes.  Every other packet meets `local` first, as before, and there
is never a moment without a `local` rule.  Undone in the other order.  The
tunnel's rules carry their own protocol number, so a tunnel left behind by a
killed prober is found and undone the same way.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from l4lb_tui.health.logic.marks import MARK_MASK

# A routing protocol number no routing daemon uses (iproute2's rt_protos
# names 0-18, 42, 99 and 186-192): it tags the tunnel's rules and route.
PROTOCOL = 76
_SELECTOR_KEYS = frozenset({"priority", "src", "table", "protocol", "fwmark", "fwmask"})


@dataclass(frozen=True, slots=True)
class Rule:
    priority: int
    table: str
    protocol: str = ""  # "" when the kernel does not say
    fwmark: str = ""
    fwmask: str = ""
    plain: bool = True  # no selector beyond those above ("from all")

    @property
    def ours(self) -> bool:
        return self.protocol == str(PROTOCOL)


def parse_rules(doc: Sequence[Mapping[str, Any]]) -> list[Rule]:
    """The rules as `ip -j rule show` prints them, in order."""
    rules = []
    for entry in doc:
        plain = entry.get("src", "all") == "all" and not set(entry) - _SELECTOR_KEYS
        rules.append(
            Rule(
                priority=int(entry.get("priority", 0)),
                table=str(entry.get("table", "")),
                protocol=str(entry.get("protocol", "")),
                fwmark=str(entry.get("fwmark", "")),
                fwmask=str(entry.get("fwmask", "")),
                plain=plain,
            )
        )
    return rules


def _original_local(rules: Sequence[Rule]) -> Rule | None:
    return next(
        (
            r
            for r in rules
            if r.priority == 0 and r.table == "local" and r.plain and not r.fwmark and not r.ours
        ),
        None,
    )


def install_steps(rules: Sequence[Rule], mark_base: int, table: int) -> list[list[str]]:
    """`ip` argument lists that put the tunnel's rule ahead of `local`.

    If `local` is not at preference 0 (someone moved it), the tunnel's rule
    at 0 is ahead of it already and `local` is left alone.
    """
    steps = [
        ["rule", "add", "pref", "0", "fwmark", f"{mark_base:#x}/{MARK_MASK:#x}",
         "lookup", str(table), "protocol", str(PROTOCOL)],
    ]  # fmt: skip
    local = _original_local(rules)
    if local is not None:
        steps.append(["rule", "add", "pref", "0", "lookup", "local", "protocol", str(PROTOCOL)])
        steps.append(["rule", "del", *_match(local)])
    return steps


def restore_steps(rules: Sequence[Rule]) -> list[list[str]]:
    """`ip` argument lists that remove every rule of a tunnel (also one left
    by a killed process) and put `local` back at preference 0 first."""
    ours = [r for r in rules if r.ours]
    steps = []
    if any(r.table == "local" for r in ours) and _original_local(rules) is None:
        steps.append(["rule", "add", "pref", "0", "lookup", "local", "protocol", "kernel"])
    steps += [["rule", "del", *_match(r)] for r in ours]
    return steps


def _match(rule: Rule) -> list[str]:
    """Selectors that name exactly this rule to `ip rule del`."""
    args = ["pref", str(rule.priority)]
    if rule.fwmark:
        args += ["fwmark", f"{rule.fwmark}/{rule.fwmask}" if rule.fwmask else rule.fwmark]
    args += ["lookup", rule.table]
    if rule.protocol:
        args += ["protocol", rule.protocol]
    return args

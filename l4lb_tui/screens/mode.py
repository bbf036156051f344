"""Pick how the balancer runs: driver, generic or offload XDP, or detach."""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option

from l4lb_tui.control.modeswitch import SWITCH_COST, SWITCHABLE
from l4lb_tui.screens.palette import PaletteCommand
from l4lb_tui.widgets.footer import KeyFooter
from l4lb_tui.widgets.options import KeyOptionList

CHOICES = (
    ("driver", "Driver", "native XDP in the NIC driver (fastest)"),
    ("generic", "Generic", "XDP on the kernel's skb path (any interface)"),
    ("offload", "Offload", "run on the NIC itself (needs an offload-capable NIC)"),
)


def mode_commands(ifname: str) -> list[PaletteCommand]:
    """What this screen offers, as commands of the dashboard's palette."""
    found = [
        PaletteCommand(f"Attach in {key} mode", f"attach or switch {ifname}", f"set_mode('{key}')")
        for key, _name, _text in CHOICES
    ]
    found.append(PaletteCommand("Detach", f"detach from {ifname} (asks first)", "detach"))
    return found


class ModeScreen(ModalScreen[str | None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "dismiss(None)", "Cancel"),
        # A modal screen stops the app's own keys: q is documented everywhere.
        Binding("q", "app.quit", "Quit", show=False),
    ]

    DEFAULT_CSS = """
    ModeScreen { align: center middle; }
    ModeScreen > Vertical {
        width: 76; max-width: 100%; height: auto; padding: 1 2;
        border: thick $primary; background: $surface;
    }
    ModeScreen OptionList { height: auto; margin-top: 1; }
    ModeScreen #switch-cost { margin-top: 1; height: auto; color: $warning; }
    ModeScreen #table-size { margin-top: 1; height: auto; }
    """

    def __init__(
        self,
        ifname: str,
        current: str,
        loaded: bool,
        can_offload: bool = True,
        no_ethernet: bool = False,
        stale: bool = False,
        table: str = "",
    ) -> None:
        """`can_offload`: the link's NIC offloads XDP (the interfaces row's
        "Offload"); `no_ethernet`: the link has no Ethernet address (lo), so
        the balancer, which rewrites Ethernet headers, cannot run there;
        `stale`: the last poll failed (the link deleted?), so `current` is
        what it was, and no mode is claimed; `table`: what a new balancer's
        flow table takes, shown while none is loaded."""
        super().__init__()
        self.ifname = ifname
        self.stale = stale
        self.current = "" if stale else current
        self.loaded = loaded
        self.can_offload = can_offload
        self.no_ethernet = no_ethernet
        self.table = table

    def _why_not(self, key: str) -> str:
        """Why `key` is not offered here ("": it is)."""
        if self.no_ethernet and key != self.current:
            return "no Ethernet address on this link"
        if key == "offload" and not self.can_offload and key != self.current:
            return "this link cannot offload"
        return ""

    def compose(self) -> ComposeResult:
        now = self.current or ("loaded, not attached" if self.loaded else "no balancer")
        if self.stale:
            now = "unknown: the last poll failed"
        options = []
        for key, name, text in CHOICES:
            mark = "  (current)" if key == self.current else ""
            why = self._why_not(key)
            if why:
                text, mark = why, ""
            prompt = Text.assemble((f"{name:<8}", "bold"), f" {text}{mark}")
            options.append(Option(prompt, id=key, disabled=bool(why)))
        options.append(
            Option(
                Text.assemble(("Detach  ", "bold"), " stop balancing and remove the pins…"),
                id="detach",
                disabled=not self.loaded,
            )
        )
        with Vertical():
            yield Static(Text(f"XDP mode of {self.ifname} (now: {now})", style="bold"))
            yield KeyOptionList(*options)
            if self.table and not self.loaded:
                yield Static(Text(self.table), id="table-size")
            if self.current in SWITCHABLE:
                # Said before the switch, not after it.
                note = f"Driver \u2194 generic: {SWITCH_COST}."
                yield Static(Text(note), id="switch-cost")
        yield KeyFooter()

    def on_mount(self) -> None:
        opts = self.query_one(KeyOptionList)
        keys = [c[0] for c in CHOICES]
        opts.highlighted = keys.index(self.current) if self.current in keys else 0

    @on(OptionList.OptionSelected)
    def _chosen(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(event.option.id)

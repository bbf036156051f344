"""The changes an operator makes from the dashboard: add, edit, delete,
drain, undo, load and save a destinations file, mode and detach, each on the
highlighted row (never one out of sight), and what a write says when it ends.

A base class of DashboardScreen (its keys are in the dashboard's table, in
the footer's order); every write goes through the dashboard's WriteRunner,
one at a time, and asks for a poll when it ends.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from textual import on

from l4lb_tui.abi import ServiceKey
from l4lb_tui.console_backend import no_balancer_note, no_ethernet
from l4lb_tui.console_files import family_file, save_csv
from l4lb_tui.model import Backend
from l4lb_tui.netlink import LinkInfo
from l4lb_tui.screens.confirm import ConfirmScreen
from l4lb_tui.screens.dashboard_features import DashboardFeatures
from l4lb_tui.screens.editor import EditorScreen
from l4lb_tui.screens.load import LoadRequest, LoadScreen
from l4lb_tui.screens.mode import ModeScreen
from l4lb_tui.screens.refusal import RefusalScreen, first_line
from l4lb_tui.screens.save import SaveScreen, save_default, save_heading
from l4lb_tui.screens.writing import Written
from l4lb_tui.services import service_spec
from l4lb_tui.viewmodels import edits
from l4lb_tui.viewmodels.applying import carry_out
from l4lb_tui.viewmodels.backend_rows import ServiceScope, target_service
from l4lb_tui.viewmodels.editor_form import EditorRequest, EditorResult, OwnAddresses
from l4lb_tui.widgets.tables import BackendTable


class DashboardEdits(DashboardFeatures):
    # The dashboard's, read here.
    scope: ServiceScope
    seen: edits.Seen
    answered: bool
    link: LinkInfo | None
    refusal: str
    stale: bool
    loaded_from: Path | None
    # An add or edit form's write in flight: reopens the form if refused.
    _reopen: Callable[[str], None] | None = None

    # -- selection helpers -------------------------------------------------

    def _selected(self) -> tuple[ServiceKey, Backend] | None:
        key = self.query_one(BackendTable).current_key
        return self._digest.where.get(key) if key else None

    def _highlighted(self) -> tuple[ServiceKey, Backend] | None:
        """The highlighted backend, or None after saying there is none, or
        after bringing it into sight: a key never acts on a row unseen."""
        picked = self._selected()
        table = self.query_one(BackendTable)
        if picked is None:
            self._warn("no backend highlighted")
        elif not table.cursor_in_view():
            self._warn(table.reveal_cursor(picked[1].ip))
            return None
        return picked

    def _target_service(self) -> ServiceKey | None:
        picked = self._selected()
        keys = [s.key for s in self.state.services] if self.state else []
        return target_service(picked[0] if picked else None, keys, self.scope.current)

    def _need_balancer(self) -> bool:
        if not self.answered:
            self._warn(f"still reading {self.ifname}…")
            return False
        if self.state is None:
            self._warn(
                no_balancer_note(self.link) if self.link else f"no balancer on {self.ifname}"
            )
        return self.state is not None

    def _warn(self, text: str) -> None:
        self.notify(text, severity="warning", markup=False)

    # -- writing (one at a time, in a thread) ----------------------------------

    @on(Written)
    def _written(self, message: Written) -> None:
        done = self._features_written(message.outcome)
        self.writes.busy = False
        reopen, self._reopen = self._reopen, None
        self.undo_stack = done.undo_stack(self.undo_stack)
        if done.ok:
            self.notify(done.message, title=self.ifname, markup=False)
            if done.change is not None:
                self.seen.wrote(done.change)
        else:
            self.refusal = done.message
            line, more = first_line(done.message)
            more_text = "  (i: the details)" if more else ""
            self.notify(
                line + more_text, title="refused", severity="error", timeout=12, markup=False
            )
            # The form back as it was left, the refusal in it; not when
            # another writer changed the backend meanwhile: the refreshed
            # table (and the form opened again) shows what it holds now.
            if reopen is not None and not done.stale:
                reopen(done.message)
        self.poll_now()

    def apply(self, intent: edits.Intent, undo: bool = False) -> bool:
        """Ask the balancer to make the change in one step under its lock
        (whether the write started)."""
        backend, ifname = self.backend, self.ifname
        return self.writes.start(lambda: carry_out(backend, ifname, intent), undo)

    def _apply_form(self, intent: edits.Intent, reopen: Callable[[str], None]) -> None:
        """A form's change: refused, the form comes back with what was typed."""
        if self.apply(intent):
            self._reopen = reopen

    def action_details(self) -> None:
        if not self.refusal:
            self._warn("no refusal to show")
            return
        self.app.push_screen(RefusalScreen("the last refusal (Esc closes)", self.refusal))

    def action_mode(self) -> None:
        current = self.state.mode if self.state else ""
        link = self.link
        screen = ModeScreen(
            self.ifname,
            current,
            self.state is not None,
            can_offload=link.can_offload if link else True,
            no_ethernet=bool(link and no_ethernet(link)),
            stale=self.stale,
            table="" if self.state is not None else self.backend.new_table(self.ifname),
        )
        self.app.push_screen(screen, self._mode_chosen)

    def _mode_chosen(self, choice: str | None) -> None:
        if choice == "detach":
            self.action_detach()
        elif choice:
            self.action_set_mode(choice)

    def action_set_mode(self, mode: str) -> None:
        self.writes.run(lambda: self.backend.attach(self.ifname, mode))

    def action_detach(self) -> None:
        if not self._need_balancer():
            return
        question = (
            f"Detach the balancer from {self.ifname}? Traffic is no longer balanced and its "
            "maps and counters are removed. Undo cannot bring them back."
        )

        def answered(yes: bool | None) -> None:
            if yes:
                self.writes.run(lambda: self.backend.detach(self.ifname))

        self.app.push_screen(ConfirmScreen("Detach", question), answered)

    def action_load(self) -> None:
        if not self._need_balancer():
            return
        key = self._target_service()
        start = self.csv_path or self.settings.start_dir
        if key is not None:  # an IPv6 service opens at the lab's IPv6 file
            start = family_file(start, ":" in key.vip)
        spec = service_spec(key) if key else ""
        seen = edits.frozen(self.seen.lists())  # what the file replaces
        screen = LoadScreen(self.ifname, start, spec, self._own().problem)
        self.app.push_screen(screen, lambda request: self._load_chosen(seen, request))

    def _load_chosen(self, seen: edits.Lists, request: LoadRequest | None) -> None:
        if request is None:
            return
        self.csv_path = self.loaded_from = request.path
        self.apply(edits.load(seen, request.services, request.dests))

    def action_add(self) -> None:
        if not self._need_balancer():
            return
        key = self._target_service()
        self._add_form(EditorRequest.adding(self.ifname, key, self.seen.lists(), self._own()))

    def _own(self) -> OwnAddresses:
        """The balancer's own addresses, as the form checks the IP typed."""
        link = self.link
        sources = [(self.state.config.saddr, "-s")] if self.state else []
        if self.state and self.state.source6:
            sources.append((self.state.source6, "--source6"))
        addrs = (*link.ipv4, *link.ipv6) if link else ()
        return OwnAddresses(self.ifname, addrs, [(a, f) for a, f in sources if a != "0.0.0.0"])

    def _neighbour_mac(self, ip: str, ask: bool) -> str | None:
        """The editor's lookup (in its worker thread): this interface's."""
        return self.backend.neighbour_mac(ip, self.ifname, ask)

    def _add_form(self, request: EditorRequest) -> None:
        screen = EditorScreen(request, self._neighbour_mac)
        self.app.push_screen(screen, lambda result: self._added(request, result))

    def _added(self, request: EditorRequest, result: EditorResult | None) -> None:
        if result is not None:
            intent = edits.add(edits.frozen(result.lists), result.services, result.dest)
            self._apply_form(intent, lambda why: self._add_form(self._again(request, result, why)))

    def _again(self, request: EditorRequest, result: EditorResult, why: str) -> EditorRequest:
        return request.again(result, why, self.seen.lists())

    def action_edit(self) -> None:
        picked = self._highlighted()
        if picked is None:
            return
        key, be = picked
        self._edit_form(key, EditorRequest.editing(key, be, self.seen.lists(), self._own()))

    def _edit_form(self, key: ServiceKey, request: EditorRequest) -> None:
        screen = EditorScreen(request, self._neighbour_mac)
        self.app.push_screen(screen, lambda result: self._edited(key, request, result))

    def _edited(self, key: ServiceKey, request: EditorRequest, result: EditorResult | None) -> None:
        if result is not None:
            # Against the lists the form last showed: it follows other writers.
            intent = edits.edit(edits.frozen(result.lists), key, request.ip, result.dest)

            def again(why: str) -> None:
                self._edit_form(key, self._again(request, result, why))

            self._apply_form(intent, again)

    def action_delete(self) -> None:
        picked = self._highlighted()
        if picked is None:
            return
        key, be = picked
        question = f"Remove {be.ip} ({be.mac}) from {key}? u undoes it."
        if len(edits.members(self.state, key)) == 1:
            question += " It is the service's last backend: its traffic will be dropped."
        seen = edits.frozen(self.seen.lists())  # what the question shows

        def answered(yes: bool | None) -> None:
            if yes:
                self.apply(edits.delete(seen, key, be.ip))

        self.app.push_screen(ConfirmScreen("Delete backend", question), answered)

    def action_drain(self) -> None:
        picked = self._highlighted()
        if picked is not None:
            self.apply(edits.drain(self.seen, *picked))

    def action_undo(self) -> None:
        if not self.undo_stack:
            self._warn("nothing to undo")
            return
        # Undo puts back what the change touched, unless another writer has changed it since.
        self.apply(self.undo_stack[-1].undo(), undo=True)

    def action_save(self) -> None:
        key = self._target_service()
        if key is None:
            self._warn("no service to save: load or add backends first")
            return
        count = len(edits.members(self.state, key))
        folder = self.csv_path.parent if self.csv_path else self.settings.start_dir
        default = save_default(folder, self.ifname, key, self.loaded_from)
        ifname = self.ifname

        def save(path: Path) -> str:
            heading = save_heading(key, ifname, datetime.now(UTC))
            # What the kernel holds when saving, not the last poll's copy.
            done = save_csv(path, edits.members(self.backend.state(ifname), key), heading)
            return self.saved_to(path, done)

        def chosen(path: Path | None) -> None:
            if path is not None:
                self.writes.run(lambda: save(path))

        self.app.push_screen(SaveScreen(str(key), count, default), chosen)

    # -- what the dashboard defines ----------------------------------------------

    if TYPE_CHECKING:

        def poll_now(self) -> None: ...

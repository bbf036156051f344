"""The console's backend on the real kernel: `RealBackend`, through Balancer
and Netlink (see console_backend.py for what it promises)."""

from __future__ import annotations

import os
import shutil
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager

from l4lb_tui import abi, backend_edits, cleanup, config_apply, events, flowsize
from l4lb_tui.backend_edits import EditError
from l4lb_tui.balancer import Balancer, BalancerError
from l4lb_tui.bpftool import BpfError, Bpftool
from l4lb_tui.console_backend import (
    Change,
    ConsoleError,
    LinkRow,
    Sample,
    StaleError,
    attachment_notes,
    new_table_line,
    no_balancer_note,
)
from l4lb_tui.console_daemon import DaemonWatch
from l4lb_tui.decoded_backends import DecodeCache
from l4lb_tui.destinations import DestinationError
from l4lb_tui.events import Event
from l4lb_tui.locate import current_netns, with_balancer
from l4lb_tui.model import State
from l4lb_tui.netlink import LinkInfo, Netlink, NetlinkError
from l4lb_tui.privilege import privilege_problem

READONLY = "read-only console (--readonly): nothing was changed"


@contextmanager
def operator_errors() -> Iterator[None]:
    """The layers' own exceptions become ConsoleError with the same words."""
    try:
        yield
    except backend_edits.SetChanged as exc:
        raise StaleError(exc) from None
    except (BalancerError, BpfError, NetlinkError, DestinationError, EditError) as exc:
        raise ConsoleError(str(exc)) from None
    except OSError as exc:
        raise ConsoleError(f"{exc.filename or 'system'}: {exc.strerror}") from None


class RealBackend:
    """The console's access to the kernel, through Balancer and Netlink."""

    def __init__(
        self,
        bpftool: Bpftool | None = None,
        netlink: Netlink | None = None,
        readonly: bool = False,
        daemon: DaemonWatch | None = None,
    ) -> None:
        self.bpftool = bpftool or Bpftool()
        self.netlink = netlink or Netlink()
        # Read-only: every write refuses here, before any lock is asked for.
        self.readonly = readonly
        self.daemon = daemon or DaemonWatch()
        # One reading Balancer per interface, kept between polls: it remembers
        # that the map layouts were checked, which a fresh one redoes every
        # second.
        self._readers: dict[str, Balancer] = {}
        self._reader_progs: dict[str, int] = {}
        self._readers_lock = threading.Lock()
        # One decode cache for every Balancer made here, the readers and the
        # writers: an edit right after a poll reads the same bytes.
        self._decoded = DecodeCache()

    def _balancer(self, ifname: str) -> Balancer:
        """The balancer of `ifname`; where the reader of `ifname` found it,
        if there is one: the interface may have been renamed since the last
        poll, and a Balancer follows it by index, as the poll does."""
        with self._readers_lock:
            reader = self._readers.get(ifname)
        with operator_errors():
            where = reader.where if reader is not None else None
            return Balancer(ifname, self.bpftool, self.netlink, where=where, decoded=self._decoded)

    def _reader(self, ifname: str) -> tuple[Balancer, LinkInfo]:
        """The reading Balancer of `ifname` and its link now.  A reader
        follows its interface by index: after a rename, the link it answers
        with has the new name, and the reader is kept under that name."""
        with self._readers_lock:
            bal = self._readers.get(ifname)
        if bal is None:
            bal = self._balancer(ifname)
            with self._readers_lock:
                self._readers[ifname] = bal
        try:
            link = bal.link()
        except BalancerError as exc:
            self._forget_reader(ifname)
            raise ConsoleError(f"{ifname}: {exc} — it may have been deleted") from None
        if link.ifname != ifname:
            with self._readers_lock:
                self._readers.pop(ifname, None)
                self._readers[link.ifname] = bal
                prog = self._reader_progs.pop(ifname, None)
                if prog is not None:
                    self._reader_progs[link.ifname] = prog
        return bal, link

    def _read_state(self, ifname: str, bal: Balancer) -> State:
        state = bal.state()
        with self._readers_lock:
            if self._reader_progs.setdefault(ifname, state.prog_id) != state.prog_id:
                # Another program took its place (detached and attached again,
                # maybe by another version): check its layout afresh.
                self._readers.pop(ifname, None)
                self._reader_progs[ifname] = state.prog_id
        return state

    def _forget_reader(self, ifname: str) -> None:
        with self._readers_lock:
            self._readers.pop(ifname, None)
            self._reader_progs.pop(ifname, None)

    def _may_write(self, what: str) -> None:
        if self.readonly:
            raise ConsoleError(f"{what}: {READONLY}")
        self._need_root(what)

    def _need_root(self, what: str) -> None:
        problem = privilege_problem(what, "restart the console with sudo")
        if problem:
            raise ConsoleError(problem)

    def environment_problems(self) -> list[str]:
        problems = []
        if os.geteuid() != 0:
            problems.append("not root: interfaces are listed, but the balancer needs sudo")
        if shutil.which(self.bpftool.binary) is None:
            problems.append(
                f"{self.bpftool.binary} not found: install it with 'apt-get install bpftool'"
            )
        return problems

    def links(self) -> list[LinkRow]:
        with operator_errors():
            found = self.netlink.links()
            ours = with_balancer(found, current_netns(self.netlink))
        return [LinkRow(link, link.ifindex in ours) for link in found]

    def sample(self, ifname: str) -> Sample:
        """One poll of `ifname`, or of the name it was renamed to: the
        sample's `ifname` is the interface's name now."""
        bal, link = self._reader(ifname)
        ifname = link.ifname
        if not bal.is_loaded() and link.xdp_prog_id:
            bal, link = self._look_again(ifname, link)
            ifname = link.ifname
        if not bal.is_loaded():
            self._forget_reader(ifname)
            notes = [no_balancer_note(link)]
            if link.xdp_prog_id:
                notes.append(
                    f"{ifname} runs another XDP program (id {link.xdp_prog_id}, "
                    f"{link.xdp_mode} mode)"
                )
            daemon = self.daemon.view(ifname, bal, None)
            return Sample(ifname, link, None, None, tuple(notes), daemon)
        self._need_root("reading the balancer's maps")
        with operator_errors():
            state = self._read_state(ifname, bal)
            counters = bal.counters()
        daemon = self.daemon.view(ifname, bal, state)
        return Sample(ifname, link, state, counters, attachment_notes(state, link), daemon)

    def _look_again(self, ifname: str, link: LinkInfo) -> tuple[Balancer, LinkInfo]:
        """A program runs on the link but the reader finds no pins: look
        afresh before calling it someone else's.  A poll racing a load or a
        mode switch must not show the balancer's own program as foreign."""
        with self._readers_lock:
            known = self._reader_progs.get(ifname)
        self._forget_reader(ifname)
        bal, link = self._reader(ifname)
        if not bal.is_loaded() and known is not None and link.xdp_prog_id == known:
            with self._readers_lock:
                self._reader_progs[ifname] = known  # still ours on the next poll
            raise ConsoleError(
                f"{ifname}: the balancer (program {known}) is being changed; reading it again"
            )
        return bal, link

    def state(self, ifname: str) -> State | None:
        """The balancer's lists as the kernel holds them now (None: no balancer)."""
        bal, link = self._reader(ifname)
        ifname = link.ifname
        if not bal.is_loaded():
            self._forget_reader(ifname)
            return None
        self._need_root("reading the balancer's maps")
        with operator_errors():
            return self._read_state(ifname, bal)

    def _new_flows(self, ifname: str) -> tuple[int, int, str]:
        return self.daemon.flows_for(ifname) or (
            flowsize.DEFAULT_FLOWS,
            flowsize.DEFAULT_FLOWS6,
            "",
        )

    def new_table(self, ifname: str) -> str:
        return new_table_line(*self._new_flows(ifname))

    def attach(self, ifname: str, mode: str) -> str:
        self._may_write("attaching")
        said: list[str] = []
        with operator_errors():
            bal = self._balancer(ifname)
            # A new balancer: the size a daemon's config gives this link, else
            # the default; a loaded one keeps its table.
            flows, flows6, _ = self._new_flows(ifname)
            if bal.is_loaded():
                done = bal.attach(mode, say=said.append)
            else:
                done = bal.attach(mode, flows=flows, say=said.append, flows6=flows6)
        self.journal(done, ifname)
        return "; ".join([done, *said])

    def detach(self, ifname: str) -> str:
        self._may_write("detaching")
        done = self._detach(ifname)
        self.journal(done, ifname)
        return done

    def _detach(self, ifname: str) -> str:
        with operator_errors():
            # Also when the interface is gone: its pins are found by the name
            # they record.  Renamed since the last poll: by its name now.
            with self._readers_lock:
                reader = self._readers.get(ifname)
            if reader is not None and reader.is_loaded():
                ifname = reader.netlink.name_of(reader.where.ident.ifindex) or ifname
            return cleanup.detach(ifname, netlink=self.netlink, bpftool=self.bpftool)

    def edit(self, ifname: str, changes: Mapping[abi.ServiceKey, Change]) -> backend_edits.Done:
        """Read, change and write in one step, under the interface's lock."""
        self._may_write("changing backends")
        with operator_errors():
            return self._balancer(ifname).edit(changes)

    def neighbour_mac(self, ip: str, ifname: str = "", ask: bool = False) -> str | None:
        """The table's MAC for `ip`; `ask`: `ifname`'s, asking the network
        for it (1 s) when missing, as `backend add` does."""
        with operator_errors():
            if ask and ifname:
                return self._balancer(ifname).neighbour_mac(ip)
            return self.netlink.neighbour_mac(ip)

    # -- the event log and the config, which every writer shares -------------

    def journal(self, what: str, interface: str, service: str = "") -> None:
        events.note("console", what, interface=interface, service=service)

    def events(self, last: int = 1000) -> list[Event]:
        return events.read(last=last)

    def export_config(self) -> str:
        """The running balancers as `l4lb export` prints them."""
        self._need_root("reading the balancers")
        with operator_errors():
            return config_apply.export_running()[0]

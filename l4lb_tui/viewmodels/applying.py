"""Carrying out an operator's change through the façade, in the write worker."""

from __future__ import annotations

from l4lb_tui.console_backend import ConsoleBackend, ConsoleError, StaleError
from l4lb_tui.viewmodels.edits import Applied, Intent


class Refused(ConsoleError):
    """A change refused with a message made for the operator; `stale` when
    another writer had changed what it was made against (nothing written)."""

    def __init__(self, message: str, stale: bool) -> None:
        super().__init__(message)
        self.stale = stale


def carry_out(backend: ConsoleBackend, ifname: str, intent: Intent) -> tuple[str, Applied]:
    """Read, change and write in one step under the interface's lock (the
    balancer's edit); the message and the record for undo."""
    try:
        done = backend.edit(ifname, dict(intent.changes))
    except StaleError as exc:
        raise Refused(intent.refusal(exc.changed), stale=True) from None
    except ConsoleError as exc:
        raise Refused(f"{intent.summary}: {exc}", stale=False) from None
    message, record = intent.applied(done)
    # Into the event log every writer shares: a second console, the CLI's
    # and the daemon's readers see who changed what.
    line = intent.logged(done, message)
    backend.journal(line, ifname, ", ".join(str(key) for key, _ in intent.changes))
    return message, record

"""What remove mode took out, kept across a daemon restart: the backends
the health checker removed, by check name, as they were when removed, in
RUN_DIR/health-removed.json.

Without it a restarted daemon took such a backend for one an operator had
removed (or, applying the config, added the dead backend back); with it the
checker knows it as its own and restores it on recovery.  The file is
replaced whole (a rename), and one that cannot be read counts as empty:
the checker then relearns what is dead by probing, as on a first start.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Mapping
from pathlib import Path

from l4lb_tui.destinations import Destination
from l4lb_tui.paths import RUN_DIR

REMOVED_FILE = Path(os.environ.get("L4LB_HEALTH_REMOVED", str(RUN_DIR / "health-removed.json")))

Removed = dict[str, dict[str, Destination]]  # check name -> address -> as it was


def save(removed: Mapping[str, Mapping[str, Destination]], path: Path | None = None) -> None:
    """Replace the file with `removed` (no file when nothing is removed); a
    file that cannot be written never stops the daemon."""
    target = path or REMOVED_FILE
    doc = {
        name: {ip: [d.mac, d.weight, d.drained] for ip, d in sorted(dests.items())}
        for name, dests in sorted(removed.items())
        if dests
    }
    with contextlib.suppress(OSError):
        if not doc:
            target.unlink(missing_ok=True)
            return
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(doc, indent=1) + "\n")
        os.replace(tmp, target)


def load(path: Path | None = None) -> Removed:
    """What the file holds ({} when there is none or it is not usable)."""
    try:
        doc = json.loads((path or REMOVED_FILE).read_text())
        return {
            str(name): {
                str(ip): Destination(str(ip), str(mac), int(weight), bool(drained))
                for ip, (mac, weight, drained) in dests.items()
            }
            for name, dests in doc.items()
        }
    except (OSError, ValueError, TypeError, AttributeError):
        return {}

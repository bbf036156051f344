"""The `[ssh]` table of a config, and a [[node]]'s `host` (pure): how
`apply` and `diff` reach the nodes on other machines.  Problems come back as
(key, message) for config_file to place.

    [ssh]
    command = "/opt/l4lb/.venv/bin/l4lb"  # or ["sudo", "-n", "l4lb"]; default "l4lb"
    config = "/etc/l4lb/ssh_config"       # ssh -F
    options = ["-o", "User=root"]         # more of ssh's own arguments
    connect_timeout = 10                  # seconds (ssh's ConnectTimeout)
    timeout = 300                         # seconds for one node's apply, whole
"""

from __future__ import annotations

import ipaddress
import re
from typing import Any

from l4lb_tui.config_model import SshSpec

KEYS = {"command", "options", "config", "connect_timeout", "timeout"}
Problems = list[tuple[str, str]]

# A login name and a host name or ssh_config alias: never starting with "-",
# which ssh would take for an option.
_USER = re.compile(r"[A-Za-z_][A-Za-z0-9._-]*\Z")
_LABEL = re.compile(r"[A-Za-z0-9_]([A-Za-z0-9_-]*[A-Za-z0-9_])?\Z")
_HOST_MAX = 253


def ssh_host(text: str) -> str:
    """`[user@]host` as ssh takes it: a host name (or an alias of the ssh
    config), an IPv4 or IPv6 address (no brackets, no port: see `port`)."""
    user, at, host = text.rpartition("@")
    if at and not _USER.match(user):
        raise ValueError(f"{text!r}: {user!r} is not a login name")
    try:
        ipaddress.ip_address(host)
        return text
    except ValueError:
        pass
    labels = host.split(".")
    if not host or len(host) > _HOST_MAX or not all(_LABEL.match(label) for label in labels):
        raise ValueError(
            f"{text!r} is not a host: a name, an IPv4 or IPv6 address, optionally user@ before it"
            " (the port is its own key)"
        )
    return text


def same_host(host: str) -> str:
    """What two host nodes share when they are one machine: the host, in
    any case, whoever logs in."""
    return host.rpartition("@")[2].lower()


def _words(value: object, key: str, problems: Problems, one_word_ok: bool) -> tuple[str, ...]:
    if one_word_ok and isinstance(value, str):
        value = [value]
    if (
        not isinstance(value, list)
        or not all(isinstance(w, str) and w and "\0" not in w for w in value)
        or (one_word_ok and not value)
    ):
        what = "a string or an array of strings" if one_word_ok else "an array of strings"
        problems.append((f"ssh.{key}", f"must be {what}, none of them empty"))
        return ()
    return tuple(value)


def _seconds(t: dict[str, Any], key: str, high: float, whole: bool, problems: Problems) -> Any:
    value = t[key]
    kinds = int if whole else int | float
    if isinstance(value, bool) or not isinstance(value, kinds) or not 1 <= value <= high:
        what = "a whole number" if whole else "a number"
        problems.append((f"ssh.{key}", f"must be {what} of seconds from 1 to {high:g}"))
        return None
    return value


def parse_ssh(t: dict[str, Any]) -> tuple[SshSpec, Problems]:
    problems: Problems = []
    default = SshSpec()
    command = _words(t["command"], "command", problems, True) if "command" in t else ()
    options = _words(t.get("options", []), "options", problems, False)
    config = t.get("config")
    if config is not None and (not isinstance(config, str) or not config):
        problems.append(("ssh.config", "must name ssh's config file (ssh -F)"))
        config = None
    connect = (
        _seconds(t, "connect_timeout", 300, True, problems) if "connect_timeout" in t else None
    )
    timeout = _seconds(t, "timeout", 86400, False, problems) if "timeout" in t else None
    spec = SshSpec(
        command=command or default.command,
        options=options,
        config=config,
        connect_timeout=connect or default.connect_timeout,
        timeout=float(timeout or default.timeout),
    )
    return spec, problems

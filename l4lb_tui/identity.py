"""Which balancer is which: a network namespace and an interface index.

Pure logic.  An interface name is what the operator types, but it is neither
unique (every namespace may have its own `v0`) nor stable (`ip link set v0
name v0r`).  A balancer is therefore known by the namespace's cookie, which
the kernel never hands to another namespace while it runs, and the link's
index, which a rename keeps; its pins live in a directory named after both.
Pins do not survive a reboot, so neither has to.

The name and the namespace's name the balancer was last seen under are kept
beside the pins, in a one-entry map (`Record`): they are how an operator
names a balancer whose interface or namespace is gone.
"""

from __future__ import annotations

import re
import shlex
import struct
from dataclasses import dataclass, field
from pathlib import Path

# Kernel interface names never contain ':' (dev_valid_name refuses it), so an
# identity directory can never be mistaken for an older l4lb's directory,
# which was named after the interface.
_DIRNAME = re.compile(r"ns([0-9]{1,20}):if([0-9]{1,10})")
# The old layout's dots became '~' (bpffs refuses dots in names).
_LEGACY = re.compile(r"[A-Za-z0-9_~@-]{1,15}")
# Beside the balancers, under the same root; never a balancer.
STAGING_NAME = "~staging"

# struct ident_record { char ifname[16]; u32 ifindex; u16 version; u16 flags;
#                       u64 netns_cookie; char netns[64]; char was[16]; }  (no C side)
_RECORD = struct.Struct("<16sIHHQ64s16s")
_HOST = 1  # flags: the host's namespace
RECORD_VERSION = 1
RECORD_SIZE = _RECORD.size
# The record's netns field holds a name's bytes and its NUL; `ip netns add`
# takes up to 255, and a longer one would be cut short in the record.
RECORD_NETNS_MAX = 63


def netns_name_problem(name: str) -> str | None:
    """Why the pins could not record a balancer made in the namespace named
    `name` (None: they can)."""
    size = len(_raw(name))
    if size <= RECORD_NETNS_MAX:
        return None
    return (
        f"the network namespace name {name!r} is {size} bytes, longer than the "
        f"{RECORD_NETNS_MAX} a balancer's pins record: give the namespace a shorter "
        "name to attach in it"
    )


@dataclass(frozen=True, slots=True)
class Netns:
    """A network namespace as a command met it."""

    cookie: int
    name: str = ""  # its name under /run/netns ("" when it has none)
    host: bool = False  # the namespace of PID 1
    # A process found in it by a survey (0: none known), for an unnamed
    # namespace's nsenter hint; not part of what the namespace is.
    pid: int = field(default=0, compare=False)

    @property
    def place(self) -> str:
        """How messages name it."""
        if self.name:
            return f"network namespace {self.name}"
        if self.host:
            return "the host's network namespace"
        return f"the unnamed network namespace with cookie {self.cookie}"

    def command(self, line: str) -> str:
        """`line` (an `l4lb ...` command) as typed to run it in this
        namespace: with its --netns when it has a name, quoted for a shell."""
        if not self.name or self.host:
            return line
        return line.replace("l4lb ", f"l4lb --netns {shlex.quote(self.name)} ", 1)


@dataclass(frozen=True, slots=True, order=True)
class BalancerId:
    netns_cookie: int
    ifindex: int

    @property
    def dirname(self) -> str:
        """Its pin directory's name, and its lock's."""
        return f"ns{self.netns_cookie}:if{self.ifindex}"


def parse_dirname(name: str) -> BalancerId | None:
    """The identity a pin directory is named after (None: not such a name)."""
    m = _DIRNAME.fullmatch(name)
    return BalancerId(int(m.group(1)), int(m.group(2))) if m else None


def legacy_dirname(ifname: str) -> str:
    """Where an older l4lb pinned the balancer of `ifname` (one per name)."""
    return ifname.replace(".", "~")


def legacy_ifname(dirname: str) -> str | None:
    """The interface an older l4lb's pin directory was made for (None: the
    name is not of that layout)."""
    if dirname == STAGING_NAME or not _LEGACY.fullmatch(dirname):
        return None
    return dirname.replace("~", ".")


@dataclass(frozen=True, slots=True)
class Record:
    """What the pins say about their balancer's interface."""

    ifname: str
    ifindex: int
    netns_cookie: int
    netns: str = ""
    host: bool = False
    was: str = ""  # the name before the last rename a writer saw

    @classmethod
    def of(cls, ident: BalancerId, ifname: str, netns: Netns, was: str = "") -> Record:
        return cls(ifname, ident.ifindex, ident.netns_cookie, netns.name, netns.host, was)

    def answers_to(self, ifname: str) -> bool:
        """Whether an operator may mean this balancer by `ifname`."""
        return ifname in (self.ifname, self.was)

    @property
    def ident(self) -> BalancerId:
        return BalancerId(self.netns_cookie, self.ifindex)

    def pack(self) -> bytes:
        # struct would cut a long name short without a word, and a cut name
        # names another namespace or none: attach refuses such a name; one
        # written anyway (pins an older l4lb made, adopted) records none,
        # and the namespace is known by its cookie.
        netns = self.netns if netns_name_problem(self.netns) is None else ""
        return _RECORD.pack(
            _raw(self.ifname),
            self.ifindex,
            RECORD_VERSION,
            _HOST if self.host else 0,
            self.netns_cookie,
            _raw(netns),
            _raw(self.was),
        )

    @classmethod
    def unpack(cls, raw: bytes) -> Record | None:
        """None for bytes that are not a record of this version."""
        if len(raw) < RECORD_SIZE:
            return None
        name, index, version, flags, cookie, netns, was = _RECORD.unpack_from(raw)
        if version != RECORD_VERSION:
            return None
        return cls(_text(name), index, cookie, _text(netns), bool(flags & _HOST), _text(was))

    @property
    def netns_seen(self) -> Netns:
        """The namespace as it was when the record was written."""
        return Netns(self.netns_cookie, self.netns, self.host)


# A name is bytes to the kernel (any but a few, see validation.ifname); one
# that is not UTF-8 comes and goes as Python's argv does.
def _raw(text: str) -> bytes:
    return text.encode(errors="surrogateescape")


def _text(raw: bytes) -> str:
    return raw.split(b"\0", 1)[0].decode(errors="surrogateescape")


@dataclass(frozen=True, slots=True)
class Pinned:
    """One balancer's pin directory as found on bpffs."""

    path: Path
    ident: BalancerId | None  # None: an older l4lb's directory, named after its interface
    record: Record | None  # None: not written (an older l4lb's, or half-made)
    prog_id: int | None  # None: no program pinned (half-made)
    # Whether the link it was made for is still where it was (pinning.LINK_PIN):
    # False once it was deleted or moved away; None: not noted (older pins).
    holds_link: bool | None = None

    @property
    def ifname(self) -> str:
        """The interface name it was last seen under."""
        if self.record is not None:
            return self.record.ifname
        return legacy_ifname(self.path.name) or self.path.name

    @property
    def legacy(self) -> bool:
        return self.ident is None

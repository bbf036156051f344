"""What every `l4lb` command shares on the command line: its one-line error
and the root it needs, its warnings, a parser whose own errors are one line
and how a command is added to it, the typed options (checked by `validation`
before a command runs, so a refused input changes nothing: the services
`--vip` names, a ring size against the backends), and output to a reader
that may go away (`l4lb ... | head`)."""

from __future__ import annotations

import argparse
import os
import select
import signal
import sys
from collections.abc import Callable, Sequence
from typing import Any, NoReturn

from l4lb_tui import __version__, abi, flowsize, validation
from l4lb_tui.destinations import Destination
from l4lb_tui.privilege import privilege_problem
from l4lb_tui.ring_fill import DEFAULT_RING_SIZE, FillMode
from l4lb_tui.services import merge_services

EXIT_ERROR = 2
# What a shell reports for a command killed by SIGPIPE, as `yes | head` is.
EXIT_BROKEN_PIPE = 128 + signal.SIGPIPE
# The output could not be written (a full disk, a closed stdout): unlike 2,
# the command may have made its change before it came to print it.
EXIT_OUTPUT_LOST = 3
MAX_WAIT = 86400.0


Command = Callable[[argparse.Namespace], int]
AddCommand = Callable[[str, Command, str], argparse.ArgumentParser]


class CliError(Exception):
    pass


def need_root(what: str) -> None:
    problem = privilege_problem(what, "run it with sudo")
    if problem:
        raise CliError(problem)


def warn(text: str) -> None:
    print(f"warning: {text}", file=sys.stderr, flush=True)


class SayBefore:
    """Prints a line said before a change (an attach's memory), and keeps a
    lost output for after it: a stdout that cannot be written must not stop
    the change half way (the command then exits EXIT_OUTPUT_LOST as after
    any change whose output was lost)."""

    def __init__(self) -> None:
        self.lost: OutputLost | None = None

    def __call__(self, line: str) -> None:
        try:
            print(line, flush=True)
        except OutputLost as exc:
            self.lost = self.lost or exc

    def done(self) -> None:
        if self.lost is not None:
            raise self.lost


def command_adder(sub: argparse._SubParsersAction[Any]) -> AddCommand:
    """Adds a command to the `l4lb` parser: its name, function and one line
    of help (which is its description too)."""

    def add(name: str, func: Command, text: str) -> argparse.ArgumentParser:
        p: argparse.ArgumentParser = sub.add_parser(name, help=text, description=text)
        p.set_defaults(func=func)
        return p

    return add


def service_keys(specs: Sequence[str]) -> list[abi.ServiceKey]:
    """The services the --vip options name, each once (a note for a repeat)."""
    try:
        keys, notices = merge_services(specs)
    except ValueError as exc:
        raise CliError(str(exc)) from None
    for notice in notices:
        print(f"l4lb: note: {notice}", file=sys.stderr)
    return keys


def check_ring(size: int | None, fill: str | None, dests: Sequence[Destination]) -> None:
    """A ring size given on the command line must serve every backend that
    takes traffic.  Without --fill, only `check` assumes Maglev (a new
    service's fill); `map` leaves the prime test to the service's own fill."""
    if size is None:
        return
    serving = sum(1 for d in dests if d.serving_weight)
    problem = validation.ring_problem(size, fill == FillMode.MAGLEV.value, serving)
    if problem:
        raise CliError(problem)


class _StoreOnce(argparse._StoreAction):
    """An option that takes one value refuses a second: with argparse's own
    store, `-f a.csv -f b.csv` would load b.csv alone without a word (and
    `--vip` may be given again, so an operator may expect `-f` to add up)."""

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: str | Sequence[Any] | None,
        option_string: str | None = None,
    ) -> None:
        given: set[str] = namespace.__dict__.setdefault("_l4lb_given", set())
        if option_string is not None and self.dest in given:
            names = "/".join(self.option_strings)
            parser.error(f"{names} is given more than once: give it once")
        given.add(self.dest)
        super().__call__(parser, namespace, values, option_string)


class OneLineParser(argparse.ArgumentParser):
    """argparse, whose own errors are one line like every other error
    (argparse prints its usage first, several lines of it), and whose
    one-value options refuse a second value."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.register("action", None, _StoreOnce)
        self.register("action", "store", _StoreOnce)

    def error(self, message: str) -> NoReturn:
        command = self.prog.removeprefix("l4lb").strip()
        where = f"{command}: " if command else ""
        self.exit(EXIT_ERROR, f"l4lb: error: {where}{message} (see '{self.prog} --help')\n")


def global_options(parser: argparse.ArgumentParser) -> None:
    # `apply` to a host node compares it with the remote's before changing
    # anything: a ring is byte-identical only from the same l4lb.
    parser.add_argument("--version", action="version", version=f"l4lb {__version__}")
    parser.add_argument(
        "--wait",
        type=validation.seconds_argument("wait", 0, MAX_WAIT),
        default=0.0,
        metavar="SECONDS",
        help="if another l4lb is changing the interface, wait this long for it",
    )
    parser.add_argument(
        "--netns",
        type=validation.argument(validation.netns_name),
        metavar="NAME",
        help="run inside this network namespace (keeps the host's bpffs, unlike ip netns exec)",
    )


def load_options(p: argparse.ArgumentParser) -> None:
    """What `map` and `check` both take, so that `check` judges the same load."""
    p.add_argument(
        "--vip",
        action="append",
        default=[],
        metavar="ADDR[:PORT][/tcp|udp]",
        help="service to balance (repeatable); without it, all TCP/UDP is balanced",
    )
    p.add_argument(
        "--fill",
        choices=[m.value for m in FillMode],
        help=(
            "slot fill: maglev (consistent hashing) or the seed's roundrobin; "
            "default: the service's current fill, maglev for a new service"
        ),
    )
    p.add_argument(
        "--ring-size",
        type=validation.argument(validation.ring_size),
        help=(
            "slots per service ring, at least its serving backends; a prime for maglev "
            f"(default: the size the service kept from its last load, {DEFAULT_RING_SIZE} "
            "for a new service)"
        ),
    )


def flows_option(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--flows",
        type=validation.argument(flowsize.parse_flows),
        metavar="N",
        help="flow table size for a new load: a power of two from "
        f"{flowsize.human(1 << flowsize.MIN_LOG2)} to {flowsize.human(1 << flowsize.MAX_LOG2)} "
        f"(e.g. 4M; default {flowsize.human(flowsize.DEFAULT_FLOWS)}); its memory is "
        "printed before it is allocated",
    )
    p.add_argument(
        "--flows6",
        type=validation.argument(flowsize.parse_flows6),
        metavar="N",
        help="IPv6 flow table size for a new load, as --flows (64 bytes a flow; default "
        f"{flowsize.human(flowsize.DEFAULT_FLOWS6)})",
    )


def interface_option(p: argparse.ArgumentParser, required: bool = True) -> None:
    p.add_argument(
        "-i", "--interface", type=validation.argument(validation.ifname), required=required
    )


class OutputLost(Exception):
    """A write to stdout failed for another reason than a reader gone."""


class _GuardedStdout:
    """stdout whose failed writes raise OutputLost, so the command line says
    so in one line; a closed stdout (`>&-`) is one too, where print() would
    drop the output without a word."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner

    def _guard(self, call: Callable[[], Any]) -> Any:
        if self._inner is None:
            raise OutputLost("standard output is closed")
        try:
            return call()
        except BrokenPipeError:
            raise
        except (OSError, ValueError) as exc:
            raise OutputLost(getattr(exc, "strerror", None) or str(exc)) from None

    def write(self, text: str) -> int:
        return int(self._guard(lambda: self._inner.write(text)))

    def flush(self) -> None:
        self._guard(lambda: self._inner.flush())

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


def quiet_broken_pipe(run: Callable[[], int], changes: bool = True) -> int:
    """Run a command whose reader may leave before its output ends.

    That is not an error of ours and there is nothing more to say: Python
    would print a traceback, and another when it flushes stdout on exit.
    Any other failed write is said in one line (EXIT_OUTPUT_LOST); for a
    command that `changes` a balancer, that its change was made all the same.
    """
    inner = sys.stdout
    sys.stdout = _GuardedStdout(inner)
    try:
        code = run()
        # Flushed here, where a reader that has gone can still be handled.
        sys.stdout.flush()
    except BrokenPipeError:
        _drop_output()
        return EXIT_BROKEN_PIPE
    except OutputLost as exc:
        _drop_output()
        said = f"l4lb: error: cannot write the output ({exc})"
        if changes:
            said = (
                f"l4lb: error: cannot write the output ({exc}); any change the command "
                "made was made (see 'l4lb stats' or the event log)"
            )
        print(said, file=sys.stderr)
        return EXIT_OUTPUT_LOST
    finally:
        sys.stdout = inner
    return code


def _drop_output() -> None:
    """Point fd 1 at /dev/null, so that Python's own flush at exit finds
    somewhere to write what is left in the buffer."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 1)
    finally:
        os.close(devnull)


def unless_reader_gone() -> None:
    """BrokenPipeError once nobody reads this process's stdout any more (the
    reader of its pipe exited, its terminal hung up): a long command that
    prints only at its end need not run on, and ends as a write to that
    pipe would have ended it (see quiet_broken_pipe)."""
    try:
        fd = sys.stdout.fileno()
    except (OSError, ValueError):
        return
    poller = select.poll()
    poller.register(fd, 0)  # errors and hang-ups are reported whatever is asked
    if any(events & (select.POLLERR | select.POLLHUP) for _, events in poller.poll(0)):
        raise BrokenPipeError(f"nobody reads fd {fd} any more")

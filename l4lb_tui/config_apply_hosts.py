"""`l4lb apply` and `diff` on a [[node]] that is another host: that node's
config, written back as TOML, on the stdin of its own `l4lb apply -f -`
(or `diff`) run over SSH; its answer read back as the lines a local apply
gives, so a host node is reported as a namespace node is.  Before either,
its `l4lb --version` must be ours.  Every failure is a BalancerError naming
why: could not reach it, refused by it, or refused here."""

from __future__ import annotations

from collections.abc import Callable

from l4lb_tui import __version__
from l4lb_tui.balancer import BalancerError
from l4lb_tui.config_model import Config, NodeTarget, SshSpec
from l4lb_tui.config_render import render
from l4lb_tui.remote import answers, ssh

Report = Callable[[str], None]
STDIN = ["-f", "-"]
# `--version` answers at once; the connection's own timeout comes first.
VERSION_TIMEOUT = 30.0


def _call(
    spec: SshSpec,
    node: NodeTarget,
    remote: list[str],
    stdin: str = "",
    timeout: float | None = None,
    out: Report | None = None,
    err: Report | None = None,
) -> ssh.Answer:
    try:
        return ssh.call(spec, node.name, node.port, remote, stdin, timeout, out, err)
    except ssh.SshError as exc:
        raise BalancerError(str(exc)) from None


def _same_version(spec: SshSpec, node: NodeTarget) -> None:
    answer = _call(spec, node, ["--version"], timeout=spec.connect_timeout + VERSION_TIMEOUT)
    problem = answers.version_problem(answer, __version__)
    if problem:
        raise BalancerError(f"refused, nothing was changed there: {problem}")


def apply_host(
    node: NodeTarget, config: Config, spec: SshSpec, warn: Report | None, done: Report | None
) -> list[str]:
    """Apply `config` (the node's own, config_nodes.for_node) on host `node`;
    what it changed, a line each, also said to `done` as the node says it
    (and its warnings to `warn`): a failure part-way leaves the operator
    knowing what changed there, as on a namespace node."""
    _same_version(spec, node)

    def changed(line: str) -> None:
        if done is not None and line.strip() and not line.startswith("nothing to change"):
            done(line)

    def warned(line: str) -> None:
        said = answers.warning(line)
        if warn is not None and said is not None:
            warn(said)

    answer = _call(spec, node, ["apply", *STDIN], render(config), out=changed, err=warned)
    reply = answers.read_reply(answer)
    if reply.error:
        raise BalancerError(reply.error)
    return reply.lines


def diff_host(node: NodeTarget, config: Config, spec: SshSpec) -> tuple[list[str], list[str]]:
    """What apply would change on host `node`, and why it would refuse it."""
    _same_version(spec, node)
    reply = answers.read_reply(_call(spec, node, ["diff", *STDIN], render(config)), ok=(0,))
    if reply.error.startswith(answers.REFUSED):
        return reply.lines, [reply.error.removeprefix(answers.REFUSED)]
    if reply.error:
        raise BalancerError(reply.error)
    return reply.lines, []

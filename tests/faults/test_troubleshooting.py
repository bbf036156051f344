"""The README's Troubleshooting table quotes messages the product really
prints: each quote is checked against the string literals of l4lb_tui (and
the set-up script and Makefile), so a reworded message cannot leave the
README behind."""

from __future__ import annotations

import ast
import re

from tests.faults.faults_support import ROOT

# The README's stand-ins for what a message names (see the section's intro).
PLACEHOLDER = re.compile(r"\.\.\.|\b(?:DEV|N|FILE|PID|NAME)\b")
# What an operator meets most; the table must keep quoting these.
KEY_MESSAGES = (
    "needs root (CAP_BPF and CAP_NET_ADMIN)",
    "apt-get install bpftool",
    "cannot be built",
    "is not built",
    "bpffs is not mounted",
    "no balancer on",
    "does not exist",
    "already runs XDP program id",
    "the kernel refused offload on",
    "is in use by",
    "line N:",
    "was loaded by another version of l4lb",
)


def quoted_messages() -> list[str]:
    text = (ROOT / "README.md").read_text()
    section = text.split("\n## Troubleshooting\n", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"^\| `([^`]+)`", section, flags=re.MULTILINE)


def _rendered(node: ast.JoinedStr) -> str:
    """An f-string's text, a NUL where a value goes."""
    return "".join(
        v.value if isinstance(v, ast.Constant) and isinstance(v.value, str) else "\0"
        for v in node.values
    )


def _docstrings(tree: ast.Module) -> set[int]:
    """The ids of a module's docstrings: prose about a message is not one."""
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            first = node.body[0] if node.body else None
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                found.add(id(first.value))
    return found


def product_strings() -> list[str]:
    """Every string literal of the package but its docstrings (implicit
    concatenation joined, as the parser joins it), and the shell and make
    sources whole."""
    found = [(ROOT / "bpf/Makefile").read_text(), (ROOT / "scripts/setup.sh").read_text()]
    for path in sorted((ROOT / "l4lb_tui").rglob("*.py")):
        tree = ast.parse(path.read_text(), str(path))
        docs = _docstrings(tree)
        for node in ast.walk(tree):
            if id(node) in docs:
                continue
            if isinstance(node, ast.JoinedStr):
                found.append(_rendered(node))
            elif isinstance(node, ast.Constant) and isinstance(node.value, str):
                found.append(node.value)
    return found


def test_every_quoted_message_is_in_the_code() -> None:
    strings = product_strings()
    quotes = quoted_messages()
    assert len(quotes) >= 15, quotes
    missing = []
    for quote in quotes:
        pieces = [p.strip() for p in PLACEHOLDER.split(quote) if len(p.strip()) >= 3]
        assert pieces, f"{quote!r} quotes nothing but placeholders"
        if not any(all(p in s for p in pieces) for s in strings):
            missing.append(quote)
    assert not missing, f"README quotes messages the code no longer has: {missing}"


def test_the_key_messages_are_quoted() -> None:
    table = "\n".join(quoted_messages())
    assert not [m for m in KEY_MESSAGES if m not in table]

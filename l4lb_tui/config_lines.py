"""Where each key of a TOML file is written, for messages that name a line
(pure; tomllib parses values but forgets positions).

Keys are named as the parsed document reaches them: `balancer[0].interface`,
`balancer[0].service[1].backends[2].ip`, `balancer[0].service[1].health`.
A key the scan cannot place (unusual spacing, keys in quotes) falls back to
the line of the nearest enclosing table it can.
"""

from __future__ import annotations

import re

_ARRAY_TABLE = re.compile(r"\s*\[\[\s*([A-Za-z0-9_.\s-]+?)\s*\]\]\s*(?:#.*)?$")
_TABLE = re.compile(r"\s*\[\s*([A-Za-z0-9_.\s-]+?)\s*\]\s*(?:#.*)?$")
_KEY = re.compile(r"\s*([A-Za-z0-9_-]+)\s*=\s*(.*)$")
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'[^\']*\'')


def _code(line: str) -> str:
    """The line with strings blanked and the comment cut."""
    blanked = _STRING.sub(lambda m: '""' if m.group(0)[0] == '"' else "''", line)
    return blanked.split("#", 1)[0]


class _Scan:
    def __init__(self) -> None:
        self.lines: dict[str, int] = {}
        self.counts: dict[str, int] = {}  # array-of-tables path -> items so far
        self.current = ""
        self.open_array: tuple[str, int] | None = None  # key path, bracket depth
        self.items = 0

    def _resolve(self, dotted: str) -> str:
        """A header's path, each array-of-tables part at its latest item."""
        path = ""
        for part in (p.strip() for p in dotted.split(".")):
            path = f"{path}.{part}" if path else part
            if path in self.counts:
                path = f"{path}[{self.counts[path] - 1}]"
        return path

    def header(self, dotted: str, number: int, array: bool) -> None:
        if array:
            parent, _, last = dotted.rpartition(".")
            path = self._resolve(parent) if parent else ""
            path = f"{path}.{last.strip()}" if path else last.strip()
            self.counts[path] = self.counts.get(path, 0) + 1
            path = f"{path}[{self.counts[path] - 1}]"
        else:
            path = self._resolve(dotted)
        self.current = path
        self.lines.setdefault(path, number)

    def key(self, name: str, rest: str, number: int) -> None:
        path = f"{self.current}.{name}" if self.current else name
        self.lines.setdefault(path, number)
        code = _code(rest)
        if code.lstrip().startswith("["):
            self.open_array, self.items = (path, 0), 0
            self.array_line(code.lstrip()[1:], number, depth=1)

    def array_line(self, code: str, number: int, depth: int | None = None) -> None:
        """Items of a multi-line array: each inline table `{` at the array's
        own depth starts item n, on this line."""
        assert self.open_array is not None
        path, level = self.open_array
        level = depth if depth is not None else level
        for char in code:
            if char in "[{":
                if char == "{" and level == 1:
                    self.lines.setdefault(f"{path}[{self.items}]", number)
                    self.items += 1
                level += 1
            elif char in "]}":
                level -= 1
                if level == 0:
                    self.open_array = None
                    return
        self.open_array = (path, level)


def key_lines(text: str) -> dict[str, int]:
    """The line (from 1) of every table, key and inline-table item found."""
    scan = _Scan()
    for number, line in enumerate(text.splitlines(), start=1):
        if scan.open_array is not None:
            scan.array_line(_code(line), number)
            continue
        if m := _ARRAY_TABLE.match(line):
            scan.header(m.group(1), number, array=True)
        elif m := _TABLE.match(line):
            scan.header(m.group(1), number, array=False)
        elif m := _KEY.match(line):
            scan.key(m.group(1), m.group(2), number)
    return scan.lines


def line_of(lines: dict[str, int], path: str) -> int:
    """The line of `path`, else of its nearest enclosing part; 0 if none."""
    while path:
        if path in lines:
            return lines[path]
        cut = max(path.rfind("."), path.rfind("["))
        path = path[:cut] if cut > 0 else ""
    return 0

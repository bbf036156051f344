"""The one exception the lab raises."""

from __future__ import annotations


class LabError(Exception):
    """A lab step failed; the message is the failing tool's own words.

    `tool` names the program or subsystem that failed (``ip``, ``ethtool``,
    ``netlink``...), so the operator can tell a missing package from a
    refused request; None when the lab itself refuses (bad input).
    """

    def __init__(self, message: str, *, tool: str | None = None) -> None:
        super().__init__(message)
        self.tool = tool

    def __str__(self) -> str:
        message = str(self.args[0])
        return f"{self.tool}: {message}" if self.tool else message

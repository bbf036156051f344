"""How the output says a count: "1 change", "2 changes" (pure)."""

from __future__ import annotations


def counted(count: int, noun: str, grouped: bool = False) -> str:
    """`count` and the noun, singular for exactly one; `grouped`: with
    thousands separators (the console's "1,024 backends")."""
    number = f"{count:,}" if grouped else str(count)
    return f"{number} {noun}" if count == 1 else f"{number} {noun}s"

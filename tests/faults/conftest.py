"""Fixtures of the fault tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest


@pytest.fixture
def wired() -> Iterator[tuple[str, str, str]]:
    """The CLI tests' LB and sender namespaces: (lb netns, lb interface, sender netns)."""
    from tests.dataplane.test_cli_kernel import wired as make

    yield from make.__wrapped__()  # type: ignore[attr-defined]

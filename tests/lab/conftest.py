"""Shared lab fixtures: one real lab for the whole session, torn down even on failure."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from lab_support import require_root, unique_prefix

from l4lb_tui.lab import Lab


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "kernel: needs root, BPF and network namespaces")


@pytest.fixture(scope="session")
def lab() -> Iterator[Lab]:
    require_root()
    built = Lab(prefix=unique_prefix(), backends=3)
    try:
        built.up()
        yield built
    finally:
        built.down()

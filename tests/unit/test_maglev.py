"""Maglev's numbers on their own: balance, disruption, weights, determinism."""

from __future__ import annotations

import hashlib
from collections import Counter

import pytest

from l4lb_tui.ring_fill import DEFAULT_RING_SIZE, _hashes, maglev

SIZE = DEFAULT_RING_SIZE


def names(n: int) -> list[str]:
    return [f"10.1.{i // 250}.{i % 250 + 1}" for i in range(n)]


def table(ns: list[str], weights: list[int] | None = None) -> list[str]:
    idx = list(range(len(ns)))
    t = maglev(idx, ns, weights or [1] * len(ns), SIZE)
    return [ns[i] for i in t]


@pytest.mark.parametrize("n", [3, 32, 128])
def test_balance_within_a_few_percent(n: int) -> None:
    counts = Counter(table(names(n)))
    ideal = SIZE / n
    assert len(counts) == n
    assert max(counts.values()) / ideal < 1.06
    assert min(counts.values()) / ideal > 0.94


@pytest.mark.parametrize("n", [8, 32, 100])
def test_removing_one_moves_little_else(n: int) -> None:
    ns = names(n)
    before = table(ns)
    gone = ns[n // 2]
    after = table([x for x in ns if x != gone])
    moved_others = sum(1 for b, a in zip(before, after, strict=True) if b != gone and b != a)
    others = sum(1 for b in before if b != gone)
    assert all(a != gone for a in after)
    assert moved_others / others <= 0.01 + 1 / n * 0.5, moved_others / others
    print(f"\nremove 1 of {n}: {moved_others / others:.2%} of other slots moved")


@pytest.mark.parametrize("n", [8, 32])
def test_adding_one_takes_about_its_share(n: int) -> None:
    ns = names(n + 1)
    before = table(ns[:n])
    after = table(ns)
    moved = sum(1 for b, a in zip(before, after, strict=True) if b != a)
    new_share = sum(1 for a in after if a == ns[n]) / SIZE
    assert abs(new_share - 1 / (n + 1)) < 0.2 / (n + 1)
    assert moved / SIZE <= 1 / (n + 1) + 0.01


def test_weights_set_shares() -> None:
    ns = names(3)
    counts = Counter(table(ns, [1, 2, 5]))
    shares = [counts[x] / SIZE for x in ns]
    for share, want in zip(shares, [1 / 8, 2 / 8, 5 / 8], strict=True):
        assert abs(share - want) < 0.02


def test_weight_zero_gets_nothing() -> None:
    ns = names(4)
    assert ns[1] not in table(ns, [1, 0, 1, 1])


def test_deterministic_everywhere() -> None:
    """Same input, same table: a digest pinned here holds on any machine."""
    t = maglev(list(range(5)), names(5), [1, 1, 1, 1, 1], 251)
    assert t == maglev(list(range(5)), names(5), [1, 1, 1, 1, 1], 251)
    digest = hashlib.sha256(bytes(t)).hexdigest()[:16]
    assert digest == DIGEST, digest


def test_prime_required() -> None:
    with pytest.raises(ValueError, match="prime"):
        maglev([0], ["a"], [1], 16384)


DIGEST = "9690ac7d35deb7ac"


def test_hashes_are_keyed_blake2b() -> None:
    """The memoised, copied-state hashes are plain keyed blake2b digests."""
    for name in ("10.0.0.1", "172.16.15.255", "x"):
        want = tuple(
            int.from_bytes(hashlib.blake2b(name.encode(), digest_size=8, key=salt).digest(), "big")
            for salt in (b"l4lb-offset", b"l4lb-skip")
        )
        assert _hashes(name) == want
        assert _hashes(name) == want  # memoised


def test_weighted_fill_is_pinned() -> None:
    """Unequal weights take the credit path: pin its table too."""
    t = maglev(list(range(6)), names(6), [1, 3, 0, 2, 1, 5], 251)
    assert hashlib.sha256(bytes(t)).hexdigest()[:16] == WEIGHTED_DIGEST


def test_large_pool_fills_every_slot() -> None:
    n = 4096
    t = maglev(list(range(n)), names(n), [1] * n, SIZE)
    assert len(t) == SIZE and min(t) >= 0
    assert len(set(t)) == n


WEIGHTED_DIGEST = "9987fa1792295235"

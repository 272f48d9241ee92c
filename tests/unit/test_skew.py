"""Clock skew's pure rules (SPEC 16): how it is measured and when it is reported."""

from __future__ import annotations

import itertools

from hypothesis import given
from hypothesis import strategies as st

from cashserver.skew import (
    SkewMeasurement,
    SkewSource,
    from_handshake,
    from_receipts,
    is_skewed,
    newly_skewed,
    whole_seconds,
)

NOW = 1_780_000_000_000


def test_a_handshake_measures_ahead_and_behind_in_whole_seconds() -> None:
    ahead = from_handshake(NOW + 600_400, NOW)
    behind = from_handshake(NOW - 300_600, NOW)
    assert ahead == SkewMeasurement(600, SkewSource.HANDSHAKE)
    assert behind == SkewMeasurement(-301, SkewSource.HANDSHAKE)
    assert from_handshake(None, NOW) is None  # an older register measures nothing


def test_receipts_measure_only_a_clock_ahead_beyond_the_limit() -> None:
    hour_ahead = [NOW - 5_000, NOW + 3_600_000, NOW + 10]
    assert from_receipts(hour_ahead, NOW, 120) == SkewMeasurement(3600, SkewSource.RECEIPTS)
    assert from_receipts([NOW + 120_000], NOW, 120) is None  # at the limit: not beyond
    assert from_receipts([NOW + 120_001], NOW, 120) == SkewMeasurement(120, SkewSource.RECEIPTS)
    assert from_receipts([NOW - 86_400_000], NOW, 120) is None  # old sales say nothing
    assert from_receipts([], NOW, 120) is None


def test_skewed_is_beyond_the_limit_either_way() -> None:
    assert not is_skewed(None, 120)
    assert not is_skewed(120, 120) and not is_skewed(-120, 120)
    assert is_skewed(121, 120) and is_skewed(-121, 120)


def test_reported_once_per_excursion() -> None:
    history = [None, 5, 600, 610, -400, 30, -300, None]
    reported = [
        after for before, after in itertools.pairwise(history) if newly_skewed(before, after, 120)
    ]
    assert reported == [600, -300]


@given(st.integers(-(2**62), 2**62))
def test_whole_seconds_rounds_half_away_from_zero(ms: int) -> None:
    seconds = whole_seconds(ms)
    assert abs(ms - seconds * 1000) <= 500
    assert whole_seconds(-ms) == -seconds

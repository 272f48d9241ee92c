"""The schedule's arithmetic (SPEC 10): backoff after errors, jitter, the window asked."""

from __future__ import annotations

import random

from cashserver.config import parse_config
from cashserver.domain import TimeRange
from cashserver.pull.schedule import backoff_intervals, jittered, window
from cashserver.store.reading import RegisterInfo


def test_after_the_kth_error_in_a_row_the_wait_is_min_2_to_the_k_intervals() -> None:
    assert [backoff_intervals(k) for k in range(6)] == [1, 2, 4, 8, 8, 8]


def test_jitter_stays_within_ten_percent() -> None:
    rng = random.Random(1)
    waits = [jittered(100.0, rng) for _ in range(2000)]
    assert 90.0 <= min(waits) < 91.0 and 109.0 < max(waits) <= 110.0


def test_the_window_starts_at_the_last_sale_less_the_overlap() -> None:
    config = parse_config({"pull": {"overlap_s": 7200, "first_window_s": 86400}})
    info = RegisterInfo("S1", "R1", None, "", 0, None, last_sale_at=10_000_000)
    assert window(info, config, 20_000_000) == TimeRange(10_000_000 - 7_200_000, 20_000_000)
    fresh = RegisterInfo("S1", "R2", None, "", 0, None)
    assert window(fresh, config, 200_000_000) == TimeRange(200_000_000 - 86_400_000, 200_000_000)

"""The forwarder's wait after a failed try (SPEC 15): min(2^k, retry_max_s) +-10 %."""

from __future__ import annotations

import random

import pytest

from cashserver.forward.forwarder import retry_delay


@pytest.mark.parametrize(("failures", "base"), [(1, 2.0), (2, 4.0), (5, 32.0), (9, 300.0)])
def test_the_wait_doubles_up_to_the_limit_with_ten_percent_jitter(
    failures: int, base: float
) -> None:
    rng = random.Random(7)
    waits = [retry_delay(failures, 300.0, rng) for _ in range(500)]
    assert all(0.9 * base <= w <= 1.1 * base for w in waits)
    assert max(waits) - min(waits) > 0.1 * base  # jittered, not constant

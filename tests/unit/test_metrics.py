"""The metrics module: the histogram's buckets, the recent-uploads window, and what
the watchdog tells systemd."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from cashserver import metrics
from cashserver.metrics import RecentCount, exposition
from cashserver.watchdog import LOADER_STALL_S, Watchdog


def values() -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(exposition().decode())
        for s in family.samples
    }


def test_the_load_histogram_has_buckets_from_1_ms_to_10_s() -> None:
    metrics.count_load(0.0005, stored=3, duplicate=1)
    buckets = {
        dict(labels)["le"]
        for name, labels in values()
        if name == "cashserver_load_duration_seconds_bucket"
    }
    assert {"0.001", "10.0", "+Inf"} <= buckets and "0.0001" not in buckets


def test_recent_count_forgets_after_the_window() -> None:
    now = [1000.0]
    count = RecentCount(window_s=60, clock=lambda: now[0])
    count.add()
    count.add(2)
    now[0] += 30
    count.add()
    assert count.total() == 4
    now[0] += 31
    assert count.total() == 1
    now[0] += 60
    assert count.total() == 0


def test_the_watchdog_pings_only_while_the_loader_turns() -> None:
    sent: list[str] = []
    stalled = [0.5]
    dog = Watchdog(sent.append, lambda: stalled[0], lambda: 7, ping=True, recent_uploads=lambda: 3)
    dog.tick(1)
    assert sent == ["STATUS=spool queue 7 file(s), 3 upload(s) in the last minute", "WATCHDOG=1"]
    sent.clear()
    stalled[0] = LOADER_STALL_S + 1
    for tick in range(2, 5):
        dog.tick(tick)
    assert "WATCHDOG=1" not in sent
    stalled[0] = float("inf")  # the loader's thread is gone
    dog.tick(5)
    assert "WATCHDOG=1" not in sent
    stalled[0] = 0.1
    dog.tick(6)
    assert sent[-1] == "WATCHDOG=1"


def test_without_a_watchdog_only_the_status_goes() -> None:
    sent: list[str] = []
    dog = Watchdog(sent.append, lambda: 0.0, lambda: 0, ping=False, recent_uploads=lambda: 0)
    for tick in range(1, 11):
        dog.tick(tick)
    assert sent and all(s.startswith("STATUS=") for s in sent) and len(sent) == 2

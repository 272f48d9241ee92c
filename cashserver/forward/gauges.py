"""The upstream gauges of SPEC 15, from what the forwarder last read (no query per scrape).

Registered in the process's default registry while the forwarder runs, so they are
absent when forwarding is off. ``cashserver_upstream_forwards_total`` is a counter
in :mod:`cashserver.metrics`, counted where each upload ends.
"""

from __future__ import annotations

from collections.abc import Iterable

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from cashserver.clock import now_ms
from cashserver.forward.forwarder import Forwarder


class UpstreamCollector(Collector):
    def __init__(self, forwarder: Forwarder) -> None:
        self.forwarder = forwarder

    def collect(self) -> Iterable[GaugeMetricFamily]:
        backlog = self.forwarder.backlog_seen
        age = 0.0 if backlog.oldest_ms is None else max(0.0, (now_ms() - backlog.oldest_ms) / 1000)
        up = 0 if self.forwarder.answered is False else 1
        for name, documentation, value in (
            (
                "cashserver_upstream_backlog_shifts",
                "Shifts with a revision the central server has not acknowledged",
                float(backlog.shifts),
            ),
            (
                "cashserver_upstream_backlog_receipts",
                "Their receipts the central server has not acknowledged",
                float(backlog.receipts),
            ),
            (
                "cashserver_upstream_oldest_unforwarded_age_seconds",
                "Age of the oldest unacknowledged revision (0 when nothing waits)",
                age,
            ),
            ("cashserver_upstream_up", "1 when the central server answered the last try", up),
        ):
            yield GaugeMetricFamily(name, documentation, value=value)

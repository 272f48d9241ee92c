"""The daemon's Prometheus series (SPEC 12), counted where things happen.

prometheus-client in its single-process mode: the counters live in this process's
default registry, next to the ``process_*`` and ``python_*`` series it adds by
itself. Labels are few and bounded (protocol, status, result, state, folder),
never a store or register code. Gauges that describe state rather than events
(spool files per folder, registers per loading state) are read when scraped, by
:class:`StateCollector`, so they cannot drift from the truth.
"""

from __future__ import annotations

import platform
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from importlib.metadata import PackageNotFoundError, version

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Histogram, Info, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector


def _version() -> str:
    try:
        return version("cashserver")
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "unknown"


UPLOADS = Counter(
    "cashserver_uploads",
    "Uploads answered, by how they came in and what they were answered",
    ["protocol", "status"],
)
RECEIPTS_STORED = Counter("cashserver_receipts_stored", "Receipts inserted by the loader")
RECEIPTS_DUPLICATE = Counter(
    "cashserver_receipts_duplicate", "Receipts skipped by the loader as already stored"
)
LOAD_DURATION = Histogram(
    "cashserver_load_duration_seconds",
    "Time of one loader transaction (a batch of sales files)",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
EXPORTS = Counter("cashserver_exports", "Shift exports, by result", ["result"])
PULLS = Counter("cashserver_pulls", "Pulls of registers finished, by state", ["state"])
UPSTREAM_FORWARDS = Counter(
    "cashserver_upstream_forwards",
    "Shift uploads to the central server, by result (forwarded, failed, rejected)",
    ["result"],
)
BUILD = Info("cashserver_build", "The running cashserver")
BUILD.info({"version": _version(), "python": platform.python_version()})

RECENT_WINDOW_S = 60


class RecentCount:
    """How many things happened in the last :data:`RECENT_WINDOW_S` seconds (for the
    systemd STATUS line): per-second buckets, so a burst costs no memory."""

    def __init__(
        self, window_s: int = RECENT_WINDOW_S, clock: Callable[[], float] = time.monotonic
    ):
        self.window_s = window_s
        self.clock = clock
        self._lock = threading.Lock()
        self._buckets: deque[list[int]] = deque()

    def add(self, n: int = 1) -> None:
        second = int(self.clock())
        with self._lock:
            if self._buckets and self._buckets[-1][0] == second:
                self._buckets[-1][1] += n
            else:
                self._buckets.append([second, n])
            self._prune(second)

    def total(self) -> int:
        with self._lock:
            self._prune(int(self.clock()))
            return sum(count for _, count in self._buckets)

    def _prune(self, second: int) -> None:
        while self._buckets and self._buckets[0][0] <= second - self.window_s:
            self._buckets.popleft()


RECENT_UPLOADS = RecentCount()


_upload_sink: Callable[[str, str], None] | None = None


def forward_uploads(sink: Callable[[str, str], None] | None) -> None:
    """Also hand every counted upload to ``sink``: the front process sends them to the
    writer process, whose admin HTTP listener serves ``/metrics``."""
    global _upload_sink
    _upload_sink = sink


def count_upload(protocol: str, status: str) -> None:
    UPLOADS.labels(protocol=protocol, status=status).inc()
    RECENT_UPLOADS.add()
    sink = _upload_sink
    if sink is not None:
        sink(protocol, status)


def count_load(seconds: float, stored: int, duplicate: int) -> None:
    LOAD_DURATION.observe(seconds)
    if stored:
        RECEIPTS_STORED.inc(stored)
    if duplicate:
        RECEIPTS_DUPLICATE.inc(duplicate)


def count_export(result: str) -> None:
    EXPORTS.labels(result=result).inc()


def count_forward(result: str) -> None:
    UPSTREAM_FORWARDS.labels(result=result).inc()


def count_pull(state: str) -> None:
    PULLS.labels(state=state.lower()).inc()


class StateCollector(Collector):
    """``cashserver_spool_files{folder}`` and ``cashserver_registers{state}``, read at scrape.

    ``spool_files`` and ``registers`` return the current numbers; a source that fails
    (the database is down) leaves its series out of that scrape instead of failing it.
    """

    def __init__(
        self,
        spool_files: Callable[[], Mapping[str, int]],
        registers: Callable[[], Mapping[str, int]],
    ) -> None:
        self.spool_files = spool_files
        self.registers = registers

    def collect(self) -> Iterable[GaugeMetricFamily]:
        sources = (
            (
                "cashserver_spool_files",
                "Sales files in each spool folder",
                "folder",
                self.spool_files,
            ),
            (
                "cashserver_registers",
                "Registers by loading state (none: never pulled)",
                "state",
                self.registers,
            ),
        )
        for name, documentation, label, read in sources:
            try:
                values = read()
            except Exception:  # a scrape must not fail because one source is down
                continue
            family = GaugeMetricFamily(name, documentation, labels=[label])
            for key, value in sorted(values.items()):
                family.add_metric([key], value)
            yield family


class ScalarCollector(Collector):
    """Gauges without labels, each read when scraped from a function that gives its
    value; one that fails or has no value yet (None) is left out of that scrape."""

    def __init__(self, gauges: Iterable[tuple[str, str, Callable[[], float | None]]]) -> None:
        self.gauges = list(gauges)

    def collect(self) -> Iterable[GaugeMetricFamily]:
        for name, documentation, read in self.gauges:
            try:
                value = read()
            except Exception:  # a scrape must not fail because one source is down
                continue
            if value is not None:
                yield GaugeMetricFamily(name, documentation, value=value)


# -- the exposition ------------------------------------------------------------------


def exposition(*extra: CollectorRegistry) -> bytes:
    """The text exposition of this process's registry, then of ``extra`` (registries
    whose series have other names, such as the scrape-time gauges)."""
    return generate_latest(REGISTRY) + b"".join(generate_latest(r) for r in extra)

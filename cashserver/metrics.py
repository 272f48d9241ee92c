"""The daemon's Prometheus series (SPEC 12), counted where things happen.

prometheus-client in its single-process mode: the counters live in this process's
default registry, next to the ``process_*`` and ``python_*`` series it adds by
itself. Labels are few and bounded (protocol, status, result, state, folder),
never a store or register code. Gauges that describe state rather than events
(spool files per folder, registers per loading state, the readiness checks, the
certificates' expiry) are read when scraped, by :class:`StateCollector`, so they
cannot drift from the truth (SPEC 12 and 16).
"""

from __future__ import annotations

import platform
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from importlib.metadata import PackageNotFoundError, version

from prometheus_client import (
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    Info,
    generate_latest,
)
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
LAST_UPLOAD = Gauge(
    "cashserver_last_upload_timestamp_seconds",
    "When a register's upload was last answered (any answer); at start, the latest load"
    " the database records, or the start itself on an empty database",
)
BUILD = Info("cashserver_build", "The running cashserver")
BUILD.info({"version": _version(), "python": platform.python_version()})

# Every known label value exists from the start at 0, so that the first failure is an
# increase a rule sees (a series born at 1 has no increase) and the dashboard has its lines.
for _result in ("written", "unchanged", "failed"):
    EXPORTS.labels(result=_result)
for _state in ("ready", "ready_with_error", "error"):
    PULLS.labels(state=_state)
for _result in ("forwarded", "failed", "rejected"):
    UPSTREAM_FORWARDS.labels(result=_result)

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
    LAST_UPLOAD.set(time.time())
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


def start_upload_clock(latest_load_s: float | None) -> None:
    """Set the last-upload time at start: the latest load the database holds (a restart
    must not reset the quiet time an alert measures), or now on an empty database."""
    LAST_UPLOAD.set(latest_load_s if latest_load_s is not None else time.time())


def count_export(result: str) -> None:
    EXPORTS.labels(result=result).inc()


def count_forward(result: str) -> None:
    UPSTREAM_FORWARDS.labels(result=result).inc()


def count_pull(state: str) -> None:
    PULLS.labels(state=state.lower()).inc()


SpoolReading = tuple[Mapping[str, int], float]
"""Files in each spool folder, and the age in seconds of the oldest file in ``incoming/``
(0 when it is empty)."""


class StateCollector(Collector):
    """The gauges read at scrape, each from its own source.

    - ``cashserver_spool_files{folder}`` and ``cashserver_spool_oldest_incoming_age_seconds``
      from ``spool`` (one pass over the folders);
    - ``cashserver_registers{state}`` from ``registers``;
    - ``cashserver_ready{check}`` (1/0) from ``ready``: the readiness checks' latest
      results, refreshed on a timer (a locked database must not hold up a scrape);
    - ``cashserver_tls_cert_expiry_timestamp_seconds{listener}``: fixed at start.

    A source that fails (the database is down) leaves its series out of that scrape
    instead of failing it.
    """

    def __init__(
        self,
        spool: Callable[[], SpoolReading],
        registers: Callable[[], Mapping[str, int]],
        ready: Callable[[], Mapping[str, bool]] = dict,
        certificates: Mapping[str, float] | None = None,
    ) -> None:
        self.spool = spool
        self.registers = registers
        self.ready = ready
        self.certificates = dict(certificates or {})

    def collect(self) -> Iterable[GaugeMetricFamily]:
        try:
            files, oldest_s = self.spool()
        except Exception:  # a scrape must not fail because one source is down
            pass
        else:
            yield _labelled(
                "cashserver_spool_files", "Sales files in each spool folder", "folder", files
            )
            yield GaugeMetricFamily(
                "cashserver_spool_oldest_incoming_age_seconds",
                "Age of the oldest sales file waiting in incoming/ (0 when none waits)",
                value=oldest_s,
            )
        try:
            by_state = self.registers()
        except Exception:
            pass
        else:
            yield _labelled(
                "cashserver_registers",
                "Registers by loading state (none: never pulled)",
                "state",
                by_state,
            )
        ready = {check: int(ok) for check, ok in self.ready().items()}
        if ready:
            yield _labelled(
                "cashserver_ready",
                "1 when the readiness check passes (the checks of /readyz), else 0",
                "check",
                ready,
            )
        if self.certificates:
            yield _labelled(
                "cashserver_tls_cert_expiry_timestamp_seconds",
                "When the certificate of a listener, or the upstream client certificate, expires",
                "listener",
                self.certificates,
            )


def _labelled(
    name: str, documentation: str, label: str, values: Mapping[str, float]
) -> GaugeMetricFamily:
    family = GaugeMetricFamily(name, documentation, labels=[label])
    for key, value in sorted(values.items()):
        family.add_metric([key], value)
    return family


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

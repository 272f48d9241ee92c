"""Writing exchange files into the outbox, and recording what was exported (SPEC section 9).

:meth:`Exporter.export_shift` reads a stored shift with its revision, renders it in
every format of ``exchange.formats``, writes each file atomically to
``outbox/<format>/<store>/<register>/shift-<workshift_id>.<ext>`` (a file whose
bytes are already there is left alone), then records the revision it read and a
hash of the bytes with :meth:`Exports.mark_exported`. Recording the revision
that was *read* is what makes a change racing the export safe: the shift's
revision has moved on by then, so it stays "not exported" until the next export.

A failure to write (disk full, no permission, a file where a folder should be)
is logged as ``export.failed`` and leaves the shift not exported; the files
already written stay, and the next export (the backlog job) tries again.
Exports are serialised within a process by a lock and between processes (the
daemon and a ``cashserver export`` run beside it) by ``flock`` on a file in the
outbox, so files and the recorded revision always move together.

Between daemons (SPEC section 14, a shared outbox) the lease ``("export",
workshift_id)`` decides who exports a shift: a daemon that finds it taken skips
the shift (the holder exports it; should the holder die, the lease expires and
the next backlog run here takes it), and the backlog and the worker skip a shift
whose current revision another daemon recorded meanwhile. The lease is renewed
(its fence checked) before each file is written, and the revision is recorded
in one transaction with a last fence check, so a daemon that stalled past its
lease neither records over the new holder nor goes on writing files.

:class:`ExportWorker` is the daemon's side: the loader's hook hands it the
closed shifts that a batch stored or changed, and its thread exports them after
a short quiet period, away from the loader's thread; it also runs the backlog
at start and whenever the scheduler asks, which is how failed exports are retried.
"""

from __future__ import annotations

import fcntl
import functools
import hashlib
import os
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from cashserver.config import Config
from cashserver.domain import Shift, UploadStatus
from cashserver.durable import write_atomically
from cashserver.exchange import EXTENSIONS, RENDERERS
from cashserver.log import get_logger
from cashserver.metrics import count_export
from cashserver.store.exports import Exports
from cashserver.store.leases import Lease, Leases
from cashserver.store.reading import Reader
from cashserver.store.repository import LoadOutcome

log = get_logger(__name__)

LOCK_NAME = ".export.lock"
"""The file in the outbox that ``flock`` serialises exports on, across processes."""
DEBOUNCE_S = 0.5
"""The worker exports once no new shift has come for this long..."""
MAX_DELAY_S = 3.0
"""...or once the oldest waiting shift has waited this long, whichever comes first."""
BACKLOG_INTERVAL_S = 60.0
"""How often the daemon retries the backlog (failed and missed exports)."""
RETRY_FIRST_S = 30.0
RETRY_MAX_S = 960.0
"""A shift that failed is left out of the worker's backlog runs for 30 s, then 60 s, ...
up to 16 min, so a broken outbox does not log every shift every minute; a new load
of the shift, a restart and ``cashserver export`` try it at once."""


class ExportStatus(StrEnum):
    WRITTEN = "written"
    """At least one file was (re)written."""
    UNCHANGED = "unchanged"
    """Every file already held exactly these bytes."""
    FAILED = "failed"
    """A file could not be written, or there is no such shift: not exported."""
    SKIPPED = "skipped"
    """Another daemon is exporting the shift, or has exported its current revision."""


@dataclass(frozen=True, slots=True)
class Outcome:
    """What exporting one shift did."""

    workshift_id: int
    status: ExportStatus
    revision: int | None = None
    """The revision that was read (and recorded, unless the export failed)."""
    written: tuple[str, ...] = ()
    """The formats whose files were (re)written."""
    error: str = ""


@dataclass(frozen=True, slots=True)
class Summary:
    """The outcomes of exporting several shifts, in the order they were exported."""

    outcomes: tuple[Outcome, ...] = ()

    def count(self, status: ExportStatus) -> int:
        return sum(1 for outcome in self.outcomes if outcome.status is status)

    @property
    def written(self) -> int:
        return self.count(ExportStatus.WRITTEN)

    @property
    def unchanged(self) -> int:
        return self.count(ExportStatus.UNCHANGED)

    @property
    def failed(self) -> int:
        return self.count(ExportStatus.FAILED)

    @property
    def skipped(self) -> int:
        return self.count(ExportStatus.SKIPPED)

    def document(self) -> dict[str, object]:
        """The summary as ``cashserver export --json`` and ``/api/export`` print it."""
        return {
            "written": self.written,
            "unchanged": self.unchanged,
            "failed": self.failed,
            "skipped": self.skipped,
            "shifts": [
                {
                    "workshift_id": o.workshift_id,
                    "result": str(o.status),
                    "revision": o.revision,
                    "written": list(o.written),
                    "error": o.error or None,
                }
                for o in self.outcomes
            ],
        }


def exchange_path(outbox: Path, fmt: str, shift: Shift, workshift_id: int) -> Path:
    """Where a shift's file of format ``fmt`` goes (store and register codes are path-safe)."""
    name = f"shift-{workshift_id}.{EXTENSIONS[fmt]}"
    return outbox / fmt / shift.store_code / shift.register_code / name


def _holds(path: Path, data: bytes) -> bool:
    """Whether the file at ``path`` holds exactly ``data``."""
    try:
        if path.stat().st_size != len(data):
            return False
        return path.read_bytes() == data
    except FileNotFoundError:
        return False


def _describe(exc: BaseException) -> str:
    if isinstance(exc, OSError | SQLAlchemyError):
        return str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return f"{type(exc).__name__}: {exc}"


@contextmanager
def _outbox_lock(outbox: Path) -> Iterator[None]:
    """Hold the outbox's export lock (blocking); raises OSError if the outbox is unusable."""
    outbox.mkdir(parents=True, exist_ok=True)
    fd = os.open(outbox / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock


class Exporter:
    """Writes a shift's exchange files and records the export; safe to share between threads."""

    def __init__(self, engine: Engine, config: Config, leases: Leases | None = None) -> None:
        self.config = config
        cluster = config.cluster
        self.leases = leases or Leases(engine, cluster.node_name, cluster.lease_ttl_s)
        self.formats = tuple(config.exchange.formats)
        self.outbox = config.outbox_dir
        self.reader = Reader(engine, config)
        self.exports = Exports(engine)
        self._lock = threading.Lock()

    def backlog(self) -> list[int]:
        """Closed shifts whose current revision has not been exported, oldest first.

        With no formats configured there are no exchange files, so nothing to do.
        """
        return self.reader.export_backlog() if self.formats else []

    def export_backlog(self) -> Summary:
        """Export every closed shift whose current revision has not been exported.

        Raises SQLAlchemyError if the backlog cannot be read; failures of single
        shifts are in the summary.
        """
        return self.export_shifts(self.backlog(), only_stale=True)

    def export_shifts(self, workshift_ids: Sequence[int], only_stale: bool = False) -> Summary:
        """Export the named shifts, open or closed, one after another."""
        return Summary(tuple(self.export_shift(ws, only_stale) for ws in workshift_ids))

    def export_shift(self, workshift_id: int, only_stale: bool = False) -> Outcome:
        """Write the shift's files (open or closed) and record the export.

        ``only_stale``: skip the shift if its current revision is recorded as
        exported, and if another daemon holds its lease; otherwise wait for the
        lease (up to twice its time to live). Never raises for a file system or
        database fault: that is a FAILED outcome, logged as ``export.failed``.
        """
        with self._lock:
            try:
                with _outbox_lock(self.outbox):
                    lease = self._lease(workshift_id, wait=not only_stale)
                    if lease is None:
                        outcome = Outcome(workshift_id, ExportStatus.SKIPPED)
                    else:
                        try:
                            outcome = self._export(workshift_id, lease, only_stale)
                        finally:
                            self.leases.release(lease)
            except (OSError, SQLAlchemyError) as exc:
                outcome = self._failed(workshift_id, None, None, _describe(exc))
        count_export(str(outcome.status))
        return outcome

    def _lease(self, workshift_id: int, wait: bool) -> Lease | None:
        deadline = time.monotonic() + (2 * self.leases.ttl_ms / 1000 if wait else 0.0)
        while (lease := self.leases.try_acquire("export", str(workshift_id))) is None:
            if time.monotonic() >= deadline:
                return None
            time.sleep(0.2)  # the holder is exporting it; its lease ends soon either way
        return lease

    def _export(self, workshift_id: int, lease: Lease, only_stale: bool) -> Outcome:
        found = self.reader.report(workshift_id)
        if found is None:
            return self._failed(workshift_id, None, None, "no such shift")
        report, revision = found
        recorded = self.exports.recorded(workshift_id)
        if only_stale and recorded is not None and recorded[0] == revision:
            return Outcome(workshift_id, ExportStatus.SKIPPED, revision)
        digest = hashlib.sha256()
        written: list[str] = []
        errors: list[str] = []
        for fmt in self.formats:
            path = exchange_path(self.outbox, fmt, report.shift, workshift_id)
            try:
                data = RENDERERS[fmt](report, self.config)
                digest.update(f"{fmt}\n{len(data)}\n".encode())
                digest.update(data)
                if not _holds(path, data):
                    if not self.leases.renew(lease):
                        return self._failed(workshift_id, revision, fmt, "export lease lost")
                    path.parent.mkdir(parents=True, exist_ok=True)
                    write_atomically(path, data)
                    written.append(fmt)
            except Exception as exc:  # OSError, or a renderer's fault: this shift only
                error = _describe(exc)
                errors.append(f"{fmt}: {error}")
                self._failed(workshift_id, revision, fmt, error)
        if errors:
            return Outcome(
                workshift_id, ExportStatus.FAILED, revision, tuple(written), "; ".join(errors)
            )
        content_hash = digest.hexdigest()
        if recorded != (revision, ",".join(self.formats), content_hash):
            confirm = functools.partial(self.leases.confirm, lease=lease)
            if not self.exports.mark_exported(
                workshift_id, revision, self.formats, content_hash, confirm
            ):
                return self._failed(workshift_id, revision, None, "export lease lost")
        status = ExportStatus.WRITTEN if written else ExportStatus.UNCHANGED
        log.info(
            "shift.exported",
            workshift_id=workshift_id,
            revision=revision,
            formats=list(self.formats),
            result=str(status),
            written=written,
        )
        return Outcome(workshift_id, status, revision, tuple(written))

    @staticmethod
    def _failed(workshift_id: int, revision: int | None, fmt: str | None, error: str) -> Outcome:
        log.warning("export.failed", workshift_id=workshift_id, format=fmt, error=error)
        return Outcome(workshift_id, ExportStatus.FAILED, revision, error=error)


class ExportWorker:
    """The daemon's exporting thread, fed by the loader and by the scheduler.

    :meth:`shifts_loaded` (the loader's hook) only notes the closed shifts a batch
    stored or changed and returns; the thread exports them once no new one has
    come for :data:`DEBOUNCE_S` (or the oldest has waited :data:`MAX_DELAY_S`), so
    a shift uploaded in several batches is written once, and many shifts in one go.
    :meth:`request_backlog` (at start, then every :data:`BACKLOG_INTERVAL_S` from
    the scheduler) makes it export every closed shift not yet exported, but for
    shifts that failed lately (see :data:`RETRY_MAX_S`).
    """

    def __init__(
        self,
        exporter: Exporter,
        debounce_s: float = DEBOUNCE_S,
        max_delay_s: float = MAX_DELAY_S,
        retry_first_s: float = RETRY_FIRST_S,
    ) -> None:
        self.exporter = exporter
        self.debounce_s = debounce_s
        self.max_delay_s = max_delay_s
        self.retry_first_s = retry_first_s
        self._failures: dict[int, tuple[int, float]] = {}
        """Shifts whose last export failed: (failures in a row, monotonic time to retry)."""
        self._cond = threading.Condition()
        self._pending: dict[int, None] = {}  # an ordered set of workshift ids
        self._first_at = 0.0
        self._last_at = 0.0
        self._backlog = False
        self._stop_by: float | None = None
        self._busy = False
        self._thread: threading.Thread | None = None

    # -- the producers' side ---------------------------------------------------------

    def shifts_loaded(self, outcomes: Sequence[LoadOutcome]) -> None:
        """Queue the closed shifts that a loaded batch stored or changed; never blocks."""
        if not self.exporter.formats:
            return
        ids = [
            o.workshift_id
            for o in outcomes
            if o.status is UploadStatus.LOADED and o.changed and o.closed
        ]
        if not ids:
            return
        now = time.monotonic()
        with self._cond:
            if not self._pending:
                self._first_at = now
            self._last_at = now
            self._pending.update(dict.fromkeys(ids))
            self._cond.notify_all()

    def _requeue(self, workshift_id: int) -> None:
        with self._cond:
            if not self._pending:
                self._first_at = self._last_at = time.monotonic()
            self._pending[workshift_id] = None

    def request_backlog(self) -> None:
        """Have the thread export every closed shift not yet exported, soon."""
        with self._cond:
            self._backlog = True
            self._cond.notify_all()

    # -- lifecycle ---------------------------------------------------------------------

    def start(self) -> None:
        """Start the thread; its first work is the backlog left by the last run."""
        self.request_backlog()
        self._thread = threading.Thread(target=self._run, name="exporter", daemon=True)
        self._thread.start()

    def stop(self, grace_s: float) -> None:
        """Export what is queued (not the backlog) within ``grace_s``, then end the thread.

        What is left over is still not exported, so the next start's backlog takes it.
        """
        with self._cond:
            self._stop_by = time.monotonic() + grace_s
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(grace_s + 5.0)
            self._thread = None

    def idle(self, timeout_s: float) -> bool:
        """Wait until nothing is queued or being exported; False if ``timeout_s`` passed."""
        deadline = time.monotonic() + timeout_s
        with self._cond:
            while self._pending or self._backlog or self._busy:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._cond.wait(remaining)
        return True

    # -- the thread ----------------------------------------------------------------------

    def _out_of_time(self) -> bool:
        return self._stop_by is not None and time.monotonic() >= self._stop_by

    def _take(self) -> tuple[list[int], bool] | None:
        """The next shifts to export and whether to add the backlog; None to end."""
        with self._cond:
            while True:
                if self._stop_by is not None:
                    if self._out_of_time() or not self._pending:
                        return None
                    return self._take_pending(backlog=False)
                if self._backlog:
                    return self._take_pending(backlog=True)
                if not self._pending:
                    self._cond.wait()
                    continue
                due = min(self._last_at + self.debounce_s, self._first_at + self.max_delay_s)
                wait_s = due - time.monotonic()
                if wait_s <= 0:
                    return self._take_pending(backlog=False)
                self._cond.wait(wait_s)

    def _take_pending(self, backlog: bool) -> tuple[list[int], bool]:
        ids = list(self._pending)
        self._pending.clear()
        self._backlog = False
        self._busy = True
        return ids, backlog

    def _run(self) -> None:
        while (work := self._take()) is not None:
            ids, backlog = work
            try:
                self._export(ids, backlog)
            except Exception:  # the worker must outlive any one failure; the backlog retries
                log.exception("export.worker_failed", shifts=len(ids), backlog=backlog)
            finally:
                with self._cond:
                    self._busy = False
                    self._cond.notify_all()

    def _export(self, ids: list[int], backlog: bool) -> None:
        """Export the queued shifts (until the stop deadline), then the backlog (until a stop)."""
        for workshift_id in ids:
            if self._out_of_time():
                return
            self._export_one(workshift_id)
        if not backlog:
            return
        try:
            stale = self.exporter.backlog()
        except SQLAlchemyError as exc:  # the database is down: the next run tries again
            log.warning("export.backlog_unavailable", error=_describe(exc))
            return
        # Forget failures of shifts exported meanwhile (by ``cashserver export``).
        still = set(stale)
        self._failures = {ws: f for ws, f in self._failures.items() if ws in still}
        now = time.monotonic()
        for workshift_id in stale:
            if self._stop_by is not None:
                return
            if self._failures.get(workshift_id, (0, now))[1] <= now:
                self._export_one(workshift_id)

    def _export_one(self, workshift_id: int) -> None:
        outcome = self.exporter.export_shift(workshift_id, only_stale=True)
        if outcome.status is ExportStatus.SKIPPED and outcome.revision is None:
            # Another daemon holds the shift's lease, maybe exporting an older revision
            # than the one just loaded here: look again after the quiet period.
            self._requeue(workshift_id)
        elif outcome.status is ExportStatus.FAILED:
            count = self._failures.get(workshift_id, (0, 0.0))[0] + 1
            delay = min(RETRY_MAX_S, self.retry_first_s * 2 ** (count - 1))
            self._failures[workshift_id] = (count, time.monotonic() + delay)
        else:
            self._failures.pop(workshift_id, None)

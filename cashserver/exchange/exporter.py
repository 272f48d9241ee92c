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

:class:`~cashserver.exchange.worker.ExportWorker` is the daemon's side.
"""

from __future__ import annotations

import fcntl
import functools
import hashlib
import os
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from cashserver.config import Config
from cashserver.domain import Shift
from cashserver.durable import write_atomically
from cashserver.exchange import EXTENSIONS, RENDERERS
from cashserver.log import get_logger
from cashserver.metrics import count_export
from cashserver.store.exports import Exports
from cashserver.store.leases import Lease, Leases
from cashserver.store.reading import Reader

log = get_logger(__name__)

LOCK_NAME = ".export.lock"
"""The file in the outbox that ``flock`` serialises exports on, across processes."""


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


def describe_error(exc: BaseException) -> str:
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
                outcome = self._failed(workshift_id, None, None, describe_error(exc))
        count_export(str(outcome.status))
        return outcome

    def _lease(self, workshift_id: int, wait: bool) -> Lease | None:
        # The holder is exporting it; its lease ends within a time to live either way.
        timeout_s = 2 * self.leases.ttl_ms / 1000 if wait else 0.0
        return self.leases.acquire_within("export", str(workshift_id), timeout_s)

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
                error = describe_error(exc)
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

"""Who loads what ``cashserver pull`` fetches: the running daemon, or the command itself.

``serve`` holds ``flock`` on ``data_dir/serve.lock`` for as long as it runs (the
kernel drops it when the daemon dies). ``cashserver pull`` tries the same lock:

- free: no daemon runs on this data folder. The command holds the lock, runs
  a loader of its own on the spool (the single writer for the while) and
  reports the loader's verdicts; a daemon started meanwhile waits for it.
- held: a daemon runs. The command hands its work to the daemon through the
  spool, the one door every upload takes: each pulled shift is written to
  ``incoming/`` (the commit point) and the daemon's loader loads it. The command
  waits for each file to leave ``incoming/`` and reports it; its receipt counts
  are those of a check of the uids against the store just before handing over.

Why hand over instead of loading beside the daemon: the daemon's loader takes
every file in ``incoming/``, so a second loader on the same spool would race it
for the files; and there stays one writer, whatever the backend.
"""

from __future__ import annotations

import fcntl
import os
import time
from pathlib import Path

import orjson

from cashserver.domain import Upload, UploadResult, UploadStatus
from cashserver.log import get_logger
from cashserver.spool import REASON_SUFFIX, Spool
from cashserver.store.reading import Reader

log = get_logger(__name__)

LOCK_NAME = "serve.lock"
POLL_S = 0.05


class ServeLock:
    """The lock a running daemon (or a ``cashserver pull`` loading by itself) holds on its
    data folder; the file names the holder (``serve PID`` or ``pull PID``)."""

    def __init__(self, data_dir: Path) -> None:
        self.path = data_dir / LOCK_NAME
        self._fd: int | None = None

    def _open(self) -> int:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        return os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)

    def _mark(self, fd: int, holder: str) -> None:
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{holder} {os.getpid()}\n".encode(), 0)
        self._fd = fd

    def try_acquire(self, holder: str = "pull") -> bool:
        """Take the lock if nobody holds it; True when taken."""
        fd = self._open()
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        self._mark(fd, holder)
        return True

    def holder(self) -> str:
        try:
            return self.path.read_text().strip()
        except OSError:
            return ""

    def acquire_for_serve(self) -> None:
        """Take the lock for ``serve``: wait while a ``cashserver pull`` holds it; raises
        ``RuntimeError`` if another daemon runs on this data folder."""
        if self.try_acquire("serve"):
            return
        holder = self.holder()
        if holder.startswith("serve"):
            raise RuntimeError(f"another cashserver serve runs on {self.path.parent} ({holder})")
        log.info("daemon.waiting_for_pull", lock=str(self.path), holder=holder)
        fd = self._open()
        fcntl.flock(fd, fcntl.LOCK_EX)
        self._mark(fd, "serve")

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


class _Handed:
    def __init__(self, spool: Spool, path: Path, received: int, known: int) -> None:
        self.spool = spool
        self.path = path
        self.received = received
        self.known = known

    def wait(self, timeout: float) -> UploadResult:
        deadline = time.monotonic() + timeout
        while self.path.exists():
            if time.monotonic() >= deadline:
                return UploadResult(0, UploadStatus.QUEUED, self.received)
            time.sleep(POLL_S)
        name = self.path.name
        if (self.spool.folder("processed") / name).exists():
            stored = self.received - self.known
            return UploadResult(0, UploadStatus.LOADED, self.received, stored, self.known)
        for folder in ("error", "broken"):
            reason_file = self.spool.folder(folder) / f"{name}{REASON_SUFFIX}"
            if reason_file.exists():
                reason = orjson.loads(reason_file.read_bytes()).get("reason", folder)
                return UploadResult(0, UploadStatus.REJECTED, self.received, message=reason)
        # Gone without a trace here (archived already, say): it was taken by the daemon.
        return UploadResult(0, UploadStatus.QUEUED, self.received)


class HandoffSink:
    """Hands pulled shifts to a running daemon through ``incoming/``."""

    def __init__(self, spool: Spool, reader: Reader) -> None:
        self.spool = spool
        self.reader = reader

    def submit(self, upload: Upload, source: str) -> _Handed:
        uids = list(dict.fromkeys(r.uid.lower() for r in upload.receipts))
        known = len(self.reader.stored_uids(uids)) + len(upload.receipts) - len(uids)
        path = self.spool.put(upload, source)
        return _Handed(self.spool, path, len(upload.receipts), known)

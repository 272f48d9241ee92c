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

import time
from pathlib import Path

import orjson

from cashserver.domain import Upload, UploadResult, UploadStatus
from cashserver.spool import REASON_SUFFIX, Spool
from cashserver.store.reading import Reader

POLL_S = 0.05


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

"""The lock on a data folder that says who writes its spool and database.

``serve`` holds ``flock`` on ``data_dir/serve.lock`` for as long as it runs (the
kernel drops it when the daemon dies); ``cashserver pull`` and the command-line
commands that write take the same lock, or hand their work to the daemon that
holds it (see :mod:`cashserver.pull.handoff`). The file names the holder
(``serve PID`` or ``pull PID``).
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from cashserver.log import get_logger

log = get_logger(__name__)

LOCK_NAME = "serve.lock"


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

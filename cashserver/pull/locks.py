"""One pull of a register at a time, across threads and processes on this machine.

A pull holds ``flock`` on ``data_dir/locks/pull/<store>/<register>.lock``: the
scheduler's pulls, the console's and ``cashserver pull`` (a process of its
own) exclude each other, and the kernel lets go of a lock when its holder dies,
so a killed pull never leaves a register stuck. ``flock`` locks belong to an open
file, so two threads of one process exclude each other too.
"""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

POLL_S = 0.1


class PullLocks:
    def __init__(self, data_dir: Path) -> None:
        self.root = data_dir / "locks" / "pull"

    @contextmanager
    def hold(self, store_code: str, register_code: str, wait_s: float) -> Iterator[bool]:
        """Hold the register's lock; yields False if another pull held it for ``wait_s``."""
        folder = self.root / store_code
        folder.mkdir(parents=True, exist_ok=True)
        fd = os.open(folder / f"{register_code}.lock", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            deadline = time.monotonic() + wait_s
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() >= deadline:
                        yield False
                        return
                    time.sleep(POLL_S)
            yield True
        finally:
            os.close(fd)  # closing the file lets go of the lock

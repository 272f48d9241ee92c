"""Faults the end-to-end tests make real: another program holding SQLite's write lock."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

LOCKER = """
import sqlite3, sys, time
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
conn.execute("BEGIN EXCLUSIVE")
started = time.monotonic()
print("locked", flush=True)
sys.stdin.readline()  # the test is done with the locked database
time.sleep(max(0.0, float(sys.argv[2]) - (time.monotonic() - started)))
conn.execute("COMMIT")
"""


@contextmanager
def sqlite_locked(path: Path, at_least_s: float) -> Iterator[None]:
    """Another program holds the database's write lock, for ``at_least_s`` or longer."""
    locker = subprocess.Popen(
        [sys.executable, "-c", LOCKER, str(path), str(at_least_s)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert locker.stdout is not None and locker.stdout.readline().strip() == "locked"
        yield
        assert locker.stdin is not None
        locker.stdin.write("done\n")
        locker.stdin.flush()
        assert locker.wait(60) == 0
    finally:
        if locker.poll() is None:
            locker.kill()
            locker.wait()

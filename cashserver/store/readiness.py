"""The checks behind ``/readyz``: does the database answer, can the spool be written.

Each check returns None when fine, else one line saying what is wrong. They are
bounded in time: a database that hangs makes ``/readyz`` say so within
:data:`PROBE_TIMEOUT_S` instead of hanging the probe.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Callable
from concurrent.futures import Future
from pathlib import Path

from sqlalchemy import Engine, text

PROBE_TIMEOUT_S = 2.0
PROBE_NAME = ".tmp-readyz-probe"


def _sqlite_probe(path: str, timeout_s: float) -> None:
    # The loader writes: a database that answers reads but stays locked for writes
    # (another program holding the write lock) is not ready. BEGIN IMMEDIATE takes
    # the write lock and gives it back at once; a loader transaction in progress is
    # waited for up to the timeout, so a busy daemon is not reported as unready.
    conn = sqlite3.connect(path, timeout=timeout_s, isolation_level=None)
    try:
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("ROLLBACK")
    finally:
        conn.close()


def _run_bounded(target: Callable[[], None], timeout_s: float) -> str | None:
    """Run ``target()`` on a thread; its error text, "timed out", or None."""
    future: Future[None] = Future()

    def run() -> None:
        try:
            target()
            future.set_result(None)
        except Exception as exc:
            future.set_exception(exc)

    threading.Thread(target=run, name="readyz-probe", daemon=True).start()
    try:
        future.result(timeout_s)
    except TimeoutError:
        return f"no answer within {timeout_s:g} s"
    except Exception as exc:
        return str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return None


def probe_database(engine: Engine, timeout_s: float = PROBE_TIMEOUT_S) -> str | None:
    if engine.dialect.name == "sqlite":
        database = engine.url.database or ""
        if database and database != ":memory:":
            if not Path(database).exists():
                return f"database file {database} is missing"
            return _run_bounded(lambda: _sqlite_probe(database, timeout_s * 0.75), timeout_s)

    def select_one() -> None:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))

    return _run_bounded(select_one, timeout_s)


def probe_spool(incoming: Path) -> str | None:
    """Create and remove a file in ``incoming/`` (dot-named: the loader never takes it)."""
    path = incoming / f"{PROBE_NAME}-{os.getpid()}-{threading.get_ident()}"
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.write(fd, b"ok")
        finally:
            os.close(fd)
        path.unlink()
    except OSError as exc:
        return f"{incoming} is not writable: {exc.strerror}"
    return None

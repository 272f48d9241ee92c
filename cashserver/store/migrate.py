"""The daemon's migration at start, run in a short-lived forked child.

Alembic, with mako and pygments, is about 10 MB resident once imported, and an
imported module is never given back: a daemon that migrated in its own process
would carry it for as long as it runs, for a few milliseconds of work at start.
:func:`upgrade_forked` runs :func:`~cashserver.store.engine.upgrade` in a child
forked for it: the child imports alembic, migrates and exits; the daemon never
imports alembic. A failure in the child comes back as :class:`MigrationFailed`
with the child's error text, which the caller reports as it did before.

A fork is safe only while the process has no other thread (a lock held by
another thread would stay held in the child for ever), so with threads running,
or where there is no fork, the migration runs in this process as before.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import sys
import threading
from typing import NoReturn

from sqlalchemy import Engine

from cashserver.store.engine import upgrade

PR_SET_PDEATHSIG = 1


class MigrationFailed(RuntimeError):
    """The migration in the child failed; the message is the child's error text."""


def upgrade_forked(engine: Engine) -> None:
    """Apply every migration up to head, in a forked child where that is safe."""
    if not hasattr(os, "fork") or threading.active_count() > 1:
        upgrade(engine)
        return
    sys.stdout.flush()
    sys.stderr.flush()
    parent = os.getpid()
    readable, writable = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(readable)
        _migrate_and_exit(engine, writable, parent)
    os.close(writable)
    with os.fdopen(readable, "rb") as pipe:
        error = pipe.read().decode(errors="replace")
    _, status = os.waitpid(pid, 0)
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        raise MigrationFailed(error or f"the migration process exited with {code}")


def _migrate_and_exit(engine: Engine, writable: int, parent: int) -> NoReturn:
    code = 1
    try:
        _die_with_parent(parent)
        # Connections the parent's pool may hold stay the parent's: open our own.
        engine.dispose(close=False)
        upgrade(engine)
        engine.dispose()
        code = 0
    except BaseException as exc:
        with os.fdopen(writable, "wb") as pipe:
            pipe.write((str(exc) or type(exc).__name__).encode())
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def _die_with_parent(parent: int) -> None:
    """A migration whose process was killed stops too (Linux; elsewhere it finishes):
    it must not keep the writer's channel to the front open."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent:  # it went before the request
        os._exit(1)

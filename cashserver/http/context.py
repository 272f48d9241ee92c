"""What the admin HTTP app is given by the daemon: configuration, the database, checks.

Pages and API routes (``cashserver/http/*.py``) get one :class:`HttpContext` and
read through it; they never reach into the daemon. A feature that needs more
from the daemon adds a field here, filled in by ``cashserver.daemon``.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from cashserver.config import Config
from cashserver.store.reading import RegisterInfo

SESSION_KEY_FILE = "http-session.key"

PullRunner = Callable[[Sequence[RegisterInfo], date, date], Sequence[Mapping[str, Any]]]
"""Pull these registers for the local dates [from, to): one ``pull --json`` row each."""
INTERNAL_PURPOSE = b"cashserver settings read"


def no_problems() -> dict[str, str]:
    return {}


@dataclass
class HttpContext:
    config: Config
    engine: Engine
    session_secret: str
    """Signs the session cookies (and derives :attr:`internal_token`)."""
    readiness: Callable[[], dict[str, str]] = field(default=no_problems)
    """What is not ready, by name (``database``, ``spool``, ``grpc``...): empty = ready."""
    store_days_incomplete: Callable[[], int | None] = field(default=lambda: None)
    """The daemon's latest count for ``cashserver_store_days_incomplete`` (made on a
    timer, :mod:`cashserver.jobs.completeness`); None: not counted here or not yet."""
    pull: PullRunner | None = None
    """Pulls registers now for the console's pull form (:mod:`cashserver.http.pull_form`);
    None where no loader runs to take the pulled sales."""

    @property
    def internal_token(self) -> str:
        return internal_token(self.session_secret)


def internal_token(session_secret: str) -> str:
    """The bearer token with which this daemon (and ``cashserver trim-dicts`` on the
    same data folder) reads ``/api/settings`` without the console login."""
    return hmac.new(session_secret.encode(), INTERNAL_PURPOSE, hashlib.sha256).hexdigest()


def session_secret(data_dir: Path, create: bool = True) -> str | None:
    """The secret in ``data_dir/http-session.key``, made (mode 0600) when missing.

    It lives in the data folder, not the configuration, so that sessions survive a
    restart and only the daemon's own user can read it. With ``create=False`` a
    missing file gives None (the CLI never makes one).
    """
    path = data_dir / SESSION_KEY_FILE
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        if not create:
            return None
    data_dir.mkdir(parents=True, exist_ok=True)
    secret = secrets.token_hex(32)
    temp = path.with_name(f".tmp-{path.name}")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(secret + "\n")
        handle.flush()
        os.fsync(handle.fileno())
    try:
        os.link(temp, path)  # never replaces a secret another process made meanwhile
    except FileExistsError:
        pass
    finally:
        temp.unlink(missing_ok=True)
    return path.read_text().strip()

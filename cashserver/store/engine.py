"""Opening the database: one engine per process, tuned per backend, and migrations.

SQLite runs in WAL mode with ``synchronous=FULL`` (a committed load survives a
power cut, because the loader moves its sales file out of ``incoming/`` right
after the commit) and takes the write lock at BEGIN for write transactions
(``BEGIN IMMEDIATE``), so two writers queue instead of failing on lock upgrade.
PostgreSQL runs through psycopg 3. Every session names its daemon
(``application_name`` = ``[cluster] node_name``, so ``pg_stat_activity`` shows
which node holds what), gives up a stuck transaction after a minute
(``idle_in_transaction_session_timeout``: a hung node must not keep a register
locked) and uses TCP keepalives (a vanished server or network is noticed in
about a minute, not after the kernel's two hours). The loader's transactions
add ``lock_timeout`` and ``statement_timeout`` (:func:`loader_transaction`):
waiting behind another node's load is normal, waiting half a minute is not, and
the loader retries a timed-out batch as a transient error.

Pool sizes, per process: the loader holds one connection while it loads, the
exporter one, the lease keeper and the scheduler's jobs one each for a moment,
and the listeners, the pull workers and the console read through the rest. Five
stay open (``pool_size``) and up to ten more open under a burst
(``max_overflow``), so a node uses at most 15 of the server's
``max_connections`` (100 by default: about five nodes, see the README). No
session state is relied on across transactions (no advisory locks, no SET
outside a transaction; the loader's temporary staging table, see
:mod:`cashserver.store.bulk`, is created again by any load that does not find
it), so recycling connections (``pool_recycle``) or PgBouncer in transaction mode
changes nothing.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url

if TYPE_CHECKING:
    from alembic.config import Config as AlembicConfig

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"
SQLITE_BUSY_TIMEOUT_S = 30.0
PG_POOL_SIZE = 5
PG_MAX_OVERFLOW = 10
PG_POOL_RECYCLE_S = 1800
"""Connections older than this are replaced: a balancer or firewall in between
may drop connections idle for long without telling either side."""
PG_CONNECT_TIMEOUT_S = 10
PG_IDLE_IN_TRANSACTION_TIMEOUT_MS = 60_000
LOADER_LOCK_TIMEOUT_MS = 30_000
"""How long a load waits for a register row another node's loader holds."""
LOADER_CACHE_KIB = 65536
"""SQLite's page cache on a loading connection: the uid index takes random inserts,
keep it in memory."""
READER_CACHE_KIB = 2000
"""SQLite's own default, for the daemon's other connections (the exporter, the jobs,
the console, the front's directory): they read what the OS's page cache holds
anyway, and a loader-sized cache on each pooled connection grew the writer
process by the pages they happened to read (tens of MB under load)."""
LOADER_STATEMENT_TIMEOUT_MS = 120_000
"""One statement of a load (an executemany of a few thousand rows takes
milliseconds); beyond this something is wrong and the batch is retried."""


def normalize_url(url: str) -> str:
    """Let ``postgresql://`` mean psycopg 3, the driver this project ships."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed.render_as_string(hide_password=False)


def _sqlite_setup(engine: Engine, cache_kib: int, synchronous: str) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy's begin event, not pysqlite, decide how a transaction starts.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA synchronous={synchronous}")
        # Foreign keys are declared (PostgreSQL enforces them) but not checked by SQLite:
        # the loader is the only writer and inserts parents first, and the checks cost
        # a quarter of the insert time.
        cursor.execute("PRAGMA foreign_keys=OFF")
        cursor.execute(f"PRAGMA cache_size=-{int(cache_kib)}")
        cursor.execute(f"PRAGMA busy_timeout={int(SQLITE_BUSY_TIMEOUT_S * 1000)}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        mode = connection.get_execution_options().get("sqlite_begin", "DEFERRED")
        connection.exec_driver_sql(f"BEGIN {mode}")


def open_engine(
    url: str,
    application_name: str = "cashserver",
    sqlite_cache_kib: int = LOADER_CACHE_KIB,
    sqlite_synchronous: str = "FULL",
) -> Engine:
    """An engine for ``url``; an SQLite file's folder is created if missing.

    On PostgreSQL ``application_name`` names the sessions (the daemon's node name).
    ``sqlite_cache_kib`` is each SQLite connection's page cache: the loader's size
    unless the engine only reads (:data:`READER_CACHE_KIB`). ``sqlite_synchronous``:
    ``FULL`` (a commit is on the disk when it returns) but for the loader's engine,
    see :func:`open_loader_engine`.
    """
    url = normalize_url(url)
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_S, "check_same_thread": False}
        )
        _sqlite_setup(engine, sqlite_cache_kib, sqlite_synchronous)
        return engine
    connect_args: dict[str, Any] = {
        "application_name": application_name[:63],  # PostgreSQL's NAMEDATALEN - 1
        "connect_timeout": PG_CONNECT_TIMEOUT_S,
        "keepalives": 1,
        "keepalives_idle": 30,
        "keepalives_interval": 10,
        "keepalives_count": 3,
        "options": f"-c idle_in_transaction_session_timeout={PG_IDLE_IN_TRANSACTION_TIMEOUT_MS}",
    }
    return create_engine(
        url,
        pool_pre_ping=True,
        pool_size=PG_POOL_SIZE,
        max_overflow=PG_MAX_OVERFLOW,
        pool_recycle=PG_POOL_RECYCLE_S,
        connect_args=connect_args,
    )


def open_loader_engine(url: str, application_name: str, shared: Engine) -> Engine:
    """The engine the loader writes through: on SQLite its own, whose one connection
    keeps the loader's big page cache (the other connections keep small ones); on
    PostgreSQL ``shared`` itself (one pool per process, the server caches).

    On SQLite its commits are ``synchronous=NORMAL``: written to the write-ahead log
    but not synced, so a register's verdict does not wait for the disk. What a power
    cut could take back is still in ``incoming/``, which the loader empties only
    after :func:`sync_commits` (see ``writer/loader.py``); a crash of the process
    loses nothing either way (the operating system holds what was written).
    """
    if shared.dialect.name != "sqlite":
        return shared
    return open_engine(url, application_name, sqlite_synchronous="NORMAL")


def sync_commits(engine: Engine) -> bool:
    """Make every transaction ``engine`` committed so far survive a power cut; False if
    there was nothing to do because its commits are synced as they are made
    (PostgreSQL, SQLite's ``synchronous=FULL``, an in-memory database).

    On an SQLite engine with ``synchronous=NORMAL`` that is one fsync of the
    write-ahead log: every commit not yet checkpointed is in it, and a checkpoint
    syncs the log before it copies it and the database file after. No log file means
    everything was checkpointed (the last connection to close removes it).
    Raises OSError when the fsync fails.
    """
    wal = _unsynced_log(engine)
    if wal is None:
        return False
    try:
        fd = os.open(wal, os.O_RDONLY)
    except FileNotFoundError:
        return True
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    return True


@lru_cache(maxsize=16)
def _unsynced_log(engine: Engine) -> Path | None:
    """The write-ahead log ``engine``'s commits leave unsynced, if they do."""
    if engine.dialect.name != "sqlite":
        return None
    database = engine.url.database
    if not database or database == ":memory:":
        return None
    with engine.connect() as conn:
        level = int(conn.exec_driver_sql("PRAGMA synchronous").scalar_one())
    return None if level >= SQLITE_SYNCHRONOUS_FULL else Path(f"{database}-wal")


SQLITE_SYNCHRONOUS_FULL = 2
"""``PRAGMA synchronous``'s number for FULL (EXTRA is 3; NORMAL 1, OFF 0)."""


@contextmanager
def write_transaction(engine: Engine) -> Iterator[Connection]:
    """A transaction that will write: on SQLite it holds the write lock from the start."""
    with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            conn = conn.execution_options(sqlite_begin="IMMEDIATE")
        with conn.begin():
            yield conn


@contextmanager
def loader_transaction(engine: Engine, pg_setup: str = "") -> Iterator[Connection]:
    """The loader's write transaction: on PostgreSQL with lock and statement timeouts.

    ``SET LOCAL`` ends with the transaction, so the pooled connection carries no
    session state afterwards. ``pg_setup``: more statements (no parameters) to run
    first on PostgreSQL, sent with the settings in one round trip.
    """
    with write_transaction(engine) as conn:
        if engine.dialect.name == "postgresql":
            conn.exec_driver_sql(
                f"SET LOCAL lock_timeout = {LOADER_LOCK_TIMEOUT_MS};"
                f" SET LOCAL statement_timeout = {LOADER_STATEMENT_TIMEOUT_MS}; {pg_setup}"
            )
        yield conn


def alembic_config(engine: Engine | None = None) -> AlembicConfig:
    # alembic (with mako and pygments, ~11 MB resident) is imported only here: the
    # front process and most commands open the database but never migrate it.
    from alembic.config import Config as AlembicConfig

    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    if engine is not None:
        cfg.attributes["engine"] = engine
    return cfg


def upgrade(engine: Engine) -> None:
    """Apply every migration up to head (idempotent)."""
    from alembic import command

    command.upgrade(alembic_config(engine), "head")

"""The registers directory (and the stores it names): the only writer of both tables.

:class:`Registers` is the directory's own door: ``registers add``, the daemon's
batched sightings (last seen, software version), and the reads that keep a
daemon's in-memory copy current (:meth:`Registers.fingerprint`,
:meth:`Registers.load_all`). :func:`lock_register` is the loader's door, inside
its load transaction: it creates a register the first time one of its shifts loads.

Every change of a register's own fields adds one to its ``revision``; sightings
do not (they change every second and no daemon needs them in memory).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Engine, bindparam, func, literal, select, update
from sqlalchemy.dialects import postgresql, sqlite

from cashserver.clock import now_ms
from cashserver.store.engine import write_transaction
from cashserver.store.schema import registers, stores

RegisterKey = tuple[str, str]
"""``(store_code, register_code)``."""


@dataclass(frozen=True, slots=True)
class RegisterEntry:
    """What a daemon keeps in memory of one register of the directory."""

    store_code: str
    register_code: str
    protocol_version: int | None


@dataclass(frozen=True, slots=True)
class Sighting:
    """A register called (Handshake or upload) at ``at_ms``."""

    at_ms: int
    software_version: str | None = None
    """From its last Handshake; None when it only uploaded."""


Fingerprint = tuple[int, int, int]
"""Row count, highest register id, sum of revisions: changes whenever the directory does."""


def _insert_ignore(conn: Connection, table: Any, values: dict[str, Any]) -> bool:
    """Insert the row unless its key is taken; True when it was inserted.

    Told by RETURNING, not by the row count, which psycopg reports as none for this
    statement (``registers add`` on PostgreSQL said "updated" for a new register).
    """
    dialect_insert = sqlite.insert if conn.dialect.name == "sqlite" else postgresql.insert
    statement = dialect_insert(table).values(**values).on_conflict_do_nothing()
    return conn.execute(statement.returning(literal(1))).first() is not None


def create_register(
    conn: Connection, store_code: str, register_code: str, protocol: int | None
) -> bool:
    """Add the store and the register if they are not there; True when the register is new."""
    created_at = now_ms()
    _insert_ignore(conn, stores, {"store_code": store_code, "created_at": created_at})
    values = {
        "store_code": store_code,
        "register_code": register_code,
        "protocol_version": protocol,
        "created_at": created_at,
    }
    return _insert_ignore(conn, registers, values)


def lock_register(conn: Connection, store_code: str, register_code: str) -> int:
    """The register's id, creating store and register if new; locks the row on PostgreSQL."""
    query = (
        select(registers.c.register_id)
        .where(registers.c.store_code == store_code)
        .where(registers.c.register_code == register_code)
        .with_for_update()
    )
    register_id = conn.execute(query).scalar()
    if register_id is None:
        create_register(conn, store_code, register_code, None)
        register_id = conn.execute(query).scalar_one()
    return int(register_id)


class Registers:
    """The registers directory on ``engine``."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def add(self, store_code: str, register_code: str, protocol: int | None) -> bool:
        """Add a register (or set its protocol if it exists); True when it is new."""
        with write_transaction(self.engine) as conn:
            created = create_register(conn, store_code, register_code, protocol)
            if not created and protocol is not None:
                conn.execute(
                    update(registers)
                    .where(registers.c.store_code == store_code)
                    .where(registers.c.register_code == register_code)
                    .values(protocol_version=protocol, revision=registers.c.revision + 1)
                )
        return created

    def fingerprint(self) -> Fingerprint:
        """A value that differs whenever a register was added, removed or changed."""
        query = select(
            func.count(),
            func.coalesce(func.max(registers.c.register_id), 0),
            func.coalesce(func.sum(registers.c.revision), 0),
        ).select_from(registers)
        with self.engine.connect() as conn:
            count, top, revisions = conn.execute(query).one()
        return int(count), int(top), int(revisions)

    def load_all(self) -> dict[RegisterKey, RegisterEntry]:
        """The whole directory, as a daemon keeps it in memory."""
        query = select(
            registers.c.store_code, registers.c.register_code, registers.c.protocol_version
        )
        with self.engine.connect() as conn:
            return {
                (row.store_code, row.register_code): RegisterEntry(
                    row.store_code, row.register_code, row.protocol_version
                )
                for row in conn.execute(query)
            }

    def record_sightings(self, seen: Mapping[RegisterKey, Sighting]) -> list[RegisterKey]:
        """Write when registers were last seen, in one transaction; returns those added.

        A register not in the directory yet is added first (a register admitted in
        memory that has only shaken hands so far).
        """
        if not seen:
            return []
        stamp = update(registers).where(
            registers.c.store_code == bindparam("s"),
            registers.c.register_code == bindparam("r"),
        )
        with_version = [
            {"s": s, "r": r, "at": v.at_ms, "version": v.software_version[:64]}
            for (s, r), v in seen.items()
            if v.software_version is not None
        ]
        without_version = [
            {"s": s, "r": r, "at": v.at_ms}
            for (s, r), v in seen.items()
            if v.software_version is None
        ]
        with write_transaction(self.engine) as conn:
            known = {
                (row.store_code, row.register_code)
                for row in conn.execute(
                    select(registers.c.store_code, registers.c.register_code).where(
                        registers.c.store_code.in_(sorted({s for s, _ in seen}))
                    )
                )
            }
            created = [
                key for key in sorted(seen.keys() - known) if create_register(conn, *key, None)
            ]
            if with_version:
                conn.execute(
                    stamp.values(
                        last_seen_at=bindparam("at"), software_version=bindparam("version")
                    ),
                    with_version,
                )
            if without_version:
                conn.execute(stamp.values(last_seen_at=bindparam("at")), without_version)
        return created

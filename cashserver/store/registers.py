"""The registers directory (and the stores it names): the only writer of both tables.

:class:`Registers` is the directory's own door (``registers add``, the daemon's
last-seen updates); :func:`lock_register` is the loader's, inside its load
transaction, creating a register the first time one of its shifts loads.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, Engine, select, update
from sqlalchemy.dialects import postgresql, sqlite

from cashserver.clock import now_ms
from cashserver.store.engine import write_transaction
from cashserver.store.schema import registers, stores


def _insert_ignore(conn: Connection, table: Any, values: dict[str, Any]) -> int:
    dialect_insert = sqlite.insert if conn.dialect.name == "sqlite" else postgresql.insert
    result = conn.execute(dialect_insert(table).values(**values).on_conflict_do_nothing())
    return int(result.rowcount or 0)


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
    return _insert_ignore(conn, registers, values) > 0


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

    def find(self, store_code: str, register_code: str) -> tuple[bool, int | None]:
        """Whether the register is known, and its own protocol version if it has one."""
        query = (
            select(registers.c.protocol_version)
            .where(registers.c.store_code == store_code)
            .where(registers.c.register_code == register_code)
        )
        with self.engine.connect() as conn:
            row = conn.execute(query).first()
        return (False, None) if row is None else (True, row.protocol_version)

    def add(self, store_code: str, register_code: str, protocol: int | None) -> bool:
        """Add a register (or set its protocol if it exists); True when it is new."""
        with write_transaction(self.engine) as conn:
            created = create_register(conn, store_code, register_code, protocol)
            if not created and protocol is not None:
                conn.execute(
                    update(registers)
                    .where(registers.c.store_code == store_code)
                    .where(registers.c.register_code == register_code)
                    .values(protocol_version=protocol)
                )
        return created

    def seen(self, store_code: str, register_code: str, software_version: str) -> None:
        """Record that the register called now, with this software version."""
        with write_transaction(self.engine) as conn:
            conn.execute(
                update(registers)
                .where(registers.c.store_code == store_code)
                .where(registers.c.register_code == register_code)
                .values(last_seen_at=now_ms(), software_version=software_version[:64])
            )

"""The registers directory (and the stores it names): the only writer of both tables.

:class:`Registers` is the directory's own door (``registers add``, the daemon's
last-seen updates); :func:`lock_register` is the loader's, inside its load
transaction, creating a register the first time one of its shifts loads.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import Connection, Engine, case, select, update
from sqlalchemy.dialects import postgresql, sqlite

from cashserver.clock import now_ms
from cashserver.store.engine import write_transaction
from cashserver.store.schema import registers, stores


def _insert_ignore(conn: Connection, table: Any, values: dict[str, Any]) -> int:
    """Insert the row unless its key exists; 1 if it was inserted, else 0.

    Counted through RETURNING: with an auto-incremented key psycopg reports no
    row count for the insert (SQLAlchemy returns the new key), so ``rowcount``
    said 0 on PostgreSQL for a new register.
    """
    dialect_insert = sqlite.insert if conn.dialect.name == "sqlite" else postgresql.insert
    key = next(iter(table.primary_key.columns))
    statement = dialect_insert(table).values(**values).on_conflict_do_nothing().returning(key)
    return len(conn.execute(statement).all())


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


DIRECTORY_FIELDS = (
    "address",
    "protocol_version",
    "pull_interval_s",
    "timezone",
    "department",
    "tls_ca",
    "tls_cert",
    "tls_key",
)
"""The columns ``registers add`` and ``registers set`` write (SPEC 10)."""


def _checked(fields: Mapping[str, Any]) -> dict[str, Any]:
    unknown = set(fields) - set(DIRECTORY_FIELDS)
    if unknown:
        raise ValueError(f"not directory fields: {sorted(unknown)}")
    return dict(fields)


def note_loaded(conn: Connection, register_id: int, now: int, last_sale_at: int | None) -> None:
    """Inside a load's transaction: the register loaded a shift now (pushed or pulled,
    even when every receipt was a duplicate), and its latest stored sale is at least
    ``last_sale_at``. A removed register that loads again is back in the directory."""
    values: dict[str, Any] = {"last_load_at": now, "removed_at": None}
    if last_sale_at is not None:
        column = registers.c.last_sale_at
        values["last_sale_at"] = case(
            (column.is_(None) | (column < last_sale_at), last_sale_at), else_=column
        )
    conn.execute(update(registers).where(registers.c.register_id == register_id).values(**values))


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
            .where(registers.c.removed_at.is_(None))
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

    def add_entry(self, store_code: str, register_code: str, fields: Mapping[str, Any]) -> bool:
        """``registers add``: a new register with these directory fields; False if it exists.

        A removed register is added again, with only the given fields set.
        """
        with write_transaction(self.engine) as conn:
            created = create_register(conn, store_code, register_code, None)
            where = (registers.c.store_code == store_code) & (
                registers.c.register_code == register_code
            )
            if not created:
                revived = conn.execute(
                    update(registers)
                    .where(where)
                    .where(registers.c.removed_at.is_not(None))
                    .values(removed_at=None, **dict.fromkeys(DIRECTORY_FIELDS))
                ).rowcount
                if not revived:
                    return False
            if fields:
                conn.execute(update(registers).where(where).values(**_checked(fields)))
        return True

    def update_entry(self, store_code: str, register_code: str, changes: Mapping[str, Any]) -> bool:
        """``registers set``: change the given fields (None clears one); False if unknown."""
        values = _checked(changes) or {"removed_at": None}  # nothing to change: just look
        with write_transaction(self.engine) as conn:
            count = conn.execute(
                update(registers)
                .where(registers.c.store_code == store_code)
                .where(registers.c.register_code == register_code)
                .where(registers.c.removed_at.is_(None))
                .values(**values)
            ).rowcount
        return bool(count)

    def remove_entry(self, store_code: str, register_code: str) -> bool:
        """``registers remove``: the register leaves the directory; its shifts stay.

        Its row stays too (the shifts point at it), marked removed; a push that
        loads from it again brings it back (SPEC 10: registers that push join).
        """
        with write_transaction(self.engine) as conn:
            count = conn.execute(
                update(registers)
                .where(registers.c.store_code == store_code)
                .where(registers.c.register_code == register_code)
                .where(registers.c.removed_at.is_(None))
                .values(removed_at=now_ms())
            ).rowcount
        return bool(count)

    def set_state(
        self, store_code: str, register_code: str, state: str, message: str, at_ms: int
    ) -> None:
        """Record a register's loading state (DURING, READY, READY_WITH_ERROR, ERROR)."""
        with write_transaction(self.engine) as conn:
            conn.execute(
                update(registers)
                .where(registers.c.store_code == store_code)
                .where(registers.c.register_code == register_code)
                .values(state=state, state_message=message, state_at=at_ms)
            )

    def seen(self, store_code: str, register_code: str, software_version: str) -> None:
        """Record that the register called now, with this software version."""
        with write_transaction(self.engine) as conn:
            conn.execute(
                update(registers)
                .where(registers.c.store_code == store_code)
                .where(registers.c.register_code == register_code)
                .values(last_seen_at=now_ms(), software_version=software_version[:64])
            )

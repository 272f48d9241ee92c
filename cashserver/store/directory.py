"""The registers directory, export state and the events table: the store's small writes."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, case, select, update

from cashserver.store.engine import write_transaction
from cashserver.store.schema import events, exports, registers

if TYPE_CHECKING:
    from cashserver.store.repository import Repository


def now_ms() -> int:
    return time.time_ns() // 1_000_000


class Directory:
    """The registers directory, export state and the events table: small writes."""

    def __init__(self, repository: Repository) -> None:
        self.repository = repository
        self.engine = repository.engine

    def find_register(self, store_code: str, register_code: str) -> tuple[bool, int | None]:
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

    def add_register(self, store_code: str, register_code: str, protocol: int | None) -> bool:
        """Add a register (or set its protocol if it exists); True when it is new."""
        with write_transaction(self.engine) as conn:
            created = self.repository._create_register(conn, store_code, register_code, protocol)
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
            created = self.repository._create_register(conn, store_code, register_code, None)
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

    def register_seen(self, store_code: str, register_code: str, software_version: str) -> None:
        with write_transaction(self.engine) as conn:
            conn.execute(
                update(registers)
                .where(registers.c.store_code == store_code)
                .where(registers.c.register_code == register_code)
                .values(last_seen_at=now_ms(), software_version=software_version[:64])
            )

    def mark_exported(
        self, workshift_id: int, revision: int, formats: Sequence[str], content_hash: str
    ) -> None:
        values = {
            "workshift_id": workshift_id,
            "revision": revision,
            "formats": ",".join(formats),
            "content_hash": content_hash,
            "exported_at": now_ms(),
        }
        with write_transaction(self.engine) as conn:
            conn.execute(exports.delete().where(exports.c.workshift_id == workshift_id))
            conn.execute(exports.insert().values(**values))

    def write_events(self, pending: Sequence[tuple[int, str, str]]) -> None:
        if not pending:
            return
        rows = [{"time": t, "event": e, "fields": f} for t, e, f in pending]
        with write_transaction(self.engine) as conn:
            conn.execute(events.insert(), rows)

    def trim_events(self, before_ms: int) -> int:
        with write_transaction(self.engine) as conn:
            return int(conn.execute(events.delete().where(events.c.time < before_ms)).rowcount)


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

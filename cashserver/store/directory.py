"""The registers directory, export state and the events table: the store's small writes."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select, update

from cashserver.store.engine import write_transaction
from cashserver.store.repository import Repository, now_ms
from cashserver.store.schema import events, exports, registers


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

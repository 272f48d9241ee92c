"""Export state: which revision of a shift its exchange files hold. The only writer."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from sqlalchemy import ColumnElement, Connection, Engine, select

from cashserver.clock import now_ms
from cashserver.store.engine import write_transaction
from cashserver.store.schema import exports, shifts


def export_stale() -> ColumnElement[bool]:
    """A shift whose exchange files do not hold its current revision (never exported,
    or changed since): the condition, over ``shifts`` outer-joined with ``exports``."""
    return (exports.c.revision.is_(None)) | (exports.c.revision != shifts.c.revision)


class Exports:
    """The export records on ``engine``."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def recorded(self, workshift_id: int) -> tuple[int, str, str] | None:
        """The export state stored for the shift: (revision, formats, content hash)."""
        query = select(exports.c.revision, exports.c.formats, exports.c.content_hash).where(
            exports.c.workshift_id == workshift_id
        )
        with self.engine.connect() as conn:
            row = conn.execute(query).first()
        return None if row is None else (int(row[0]), str(row[1]), str(row[2]))

    def mark_exported(
        self,
        workshift_id: int,
        revision: int,
        formats: Sequence[str],
        content_hash: str,
        confirm: Callable[[Connection], bool] | None = None,
    ) -> bool:
        """Record that ``revision`` of the shift is in its files, in these formats.

        ``confirm`` runs first in the same transaction (the exporter's lease check);
        when it says False nothing is recorded and False is returned.
        """
        values = {
            "workshift_id": workshift_id,
            "revision": revision,
            "formats": ",".join(formats),
            "content_hash": content_hash,
            "exported_at": now_ms(),
        }
        with write_transaction(self.engine) as conn:
            if confirm is not None and not confirm(conn):
                return False
            conn.execute(exports.delete().where(exports.c.workshift_id == workshift_id))
            conn.execute(exports.insert().values(**values))
        return True

"""The events table (the journal of :mod:`cashserver.log`): the only writer."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Engine

from cashserver.store.engine import write_transaction
from cashserver.store.schema import events


class Events:
    """The event log on ``engine``: batches in, old events out."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def write(self, pending: Sequence[tuple[int, str, str]]) -> None:
        """Store ``(time, event, fields as JSON)`` rows in one transaction."""
        if not pending:
            return
        rows = [{"time": t, "event": e, "fields": f} for t, e, f in pending]
        with write_transaction(self.engine) as conn:
            conn.execute(events.insert(), rows)

    def trim(self, before_ms: int) -> int:
        """Delete events older than ``before_ms``; returns how many."""
        with write_transaction(self.engine) as conn:
            return int(conn.execute(events.delete().where(events.c.time < before_ms)).rowcount)

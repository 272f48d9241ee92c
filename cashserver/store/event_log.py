"""The event log read for the console: filtered by name and time, newest first, paged."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import Engine, func, select

from cashserver.store.schema import events


@dataclass(frozen=True, slots=True)
class EventFilter:
    event: str = ""
    """An event name (``pull.finished``), or a prefix ending in a dot (``pull.``)."""
    since_ms: int | None = None
    until_ms: int | None = None
    """Half-open: events before this instant."""


def _where(query: Any, flt: EventFilter) -> Any:
    if flt.event.endswith("."):
        query = query.where(events.c.event.startswith(flt.event, autoescape=True))
    elif flt.event:
        query = query.where(events.c.event == flt.event)
    if flt.since_ms is not None:
        query = query.where(events.c.time >= flt.since_ms)
    if flt.until_ms is not None:
        query = query.where(events.c.time < flt.until_ms)
    return query


def event_page(
    engine: Engine, flt: EventFilter, limit: int, offset: int = 0
) -> tuple[list[dict[str, Any]], int]:
    """Up to ``limit`` events newest first, from ``offset``; and how many match in all."""
    query = _where(select(events), flt).order_by(events.c.time.desc(), events.c.event_id.desc())
    with engine.connect() as conn:
        total = int(
            conn.execute(_where(select(func.count()).select_from(events), flt)).scalar_one()
        )
        rows = [
            {"time": r.time, "event": r.event, **orjson.loads(r.fields)}
            for r in conn.execute(query.limit(limit).offset(offset))
        ]
    return rows, total

"""What the console's Overview reads from the database, each in one cheap query.

- :func:`sales_quarters`: a store's receipts and revenue per UTC quarter hour, summed
  in SQL from the totals the loader keeps (:mod:`cashserver.store.totals`) over the
  ``(store_code, quarter)`` index: 30 days of a store are at most 2,880 rows, however
  many receipts and shifts they hold.
- :func:`not_exported`: the closed shifts whose current revision is not exported
  (what ``cashserver export`` would write), each with its last ``export.failed``
  event when that came after the shift's last change: a failed export is a shift of
  the backlog whose latest export attempt failed. The exporter retries a failing
  shift at least every 16 minutes (:mod:`cashserver.exchange.exporter`), so only
  the last :data:`FAILURE_WINDOW_MS` of events are read, through the time index.
- :func:`day_shifts`: the shifts of a store's days and their states, for the store-days
  that are not complete.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

import orjson
from sqlalchemy import Engine, Select, func, select

from cashserver.clock import now_ms
from cashserver.store.exports import export_stale
from cashserver.store.schema import (
    events,
    exports,
    registers,
    shift_quarter_totals,
    shifts,
)
from cashserver.store.shift_states import ShiftState, shift_states

FAILURE_WINDOW_MS = 24 * 3_600_000
"""How far back an ``export.failed`` event counts (the exporter retries within 17 min)."""


@dataclass(frozen=True, slots=True)
class QuarterSales:
    quarter: int
    """UTC quarter hour: ``closed_at // 900000``."""
    receipts: int
    revenue: int
    """Sales less returns, cash and noncash, in kopecks (SPEC 7's revenue)."""


@dataclass(frozen=True, slots=True)
class ExportFailure:
    at: int
    """When it failed (ms)."""
    error: str
    format: str | None


@dataclass(frozen=True, slots=True)
class BacklogShift:
    workshift_id: int
    store_code: str
    register_code: str
    shift_number: int
    closed_at: int
    updated_at: int
    revision: int
    failure: ExportFailure | None


def sales_query(store_code: str, since_quarter: int) -> Select[Any]:
    t = shift_quarter_totals.c
    revenue = func.sum(t.sales_cash + t.sales_noncash - t.returns_cash - t.returns_noncash)
    return (
        select(t.quarter, func.sum(t.receipts_count), revenue)
        .where(t.store_code == store_code, t.quarter >= since_quarter)
        .group_by(t.quarter)
        .order_by(t.quarter)
    )


def sales_quarters(engine: Engine, store_code: str, since_quarter: int) -> list[QuarterSales]:
    """The store's receipts and revenue per quarter hour from ``since_quarter`` on."""
    with engine.connect() as conn:
        rows = conn.execute(sales_query(store_code, since_quarter)).all()
        return [QuarterSales(int(row[0]), int(row[1]), int(row[2])) for row in rows]


def day_shifts(
    engine: Engine, store_code: str, days: Sequence[tuple[date, int, int]]
) -> dict[date, tuple[set[int], dict[int, ShiftState]]]:
    """For each ``(day, first quarter, end quarter)``: the store's shifts with a receipt
    that day, and the state of each (open, SPEC 7 status). The store-day report computes
    the same (SPEC 11's ``open_shifts``, ``problem_shifts``) along with its sums; this
    reads only which shifts, one ``DISTINCT`` over the ``(store_code, quarter)`` index a day."""
    t = shift_quarter_totals.c
    found: dict[date, set[int]] = {}
    with engine.connect() as conn:
        for day, first, end in days:
            query = (
                select(t.workshift_id)
                .distinct()
                .where(t.store_code == store_code, t.quarter >= first, t.quarter < end)
            )
            found[day] = {int(ws) for ws in conn.execute(query).scalars()}
        states = shift_states(conn, {ws for ids in found.values() for ws in ids})
    return {day: (ids, states) for day, ids in found.items()}


def not_exported(engine: Engine, now: int | None = None) -> list[BacklogShift]:
    """Closed shifts whose current revision is not exported, oldest first, with their
    last export failure since their last change (within :data:`FAILURE_WINDOW_MS`)."""
    query = (
        select(
            shifts.c.workshift_id,
            registers.c.store_code,
            registers.c.register_code,
            shifts.c.shift_number,
            shifts.c.closed_at,
            shifts.c.updated_at,
            shifts.c.revision,
        )
        .join(registers, registers.c.register_id == shifts.c.register_id)
        .outerjoin(exports, exports.c.workshift_id == shifts.c.workshift_id)
        .where(shifts.c.closed_at.is_not(None))
        .where(export_stale())
        .order_by(shifts.c.workshift_id)
    )
    with engine.connect() as conn:
        rows = conn.execute(query).all()
        if not rows:
            return []
        since = max(min(r.updated_at for r in rows), (now or now_ms()) - FAILURE_WINDOW_MS)
        failures: dict[int, ExportFailure] = {}
        for at, fields in conn.execute(
            select(events.c.time, events.c.fields)
            .where(events.c.time >= since, events.c.event == "export.failed")
            .order_by(events.c.time, events.c.event_id)
        ):
            data = orjson.loads(fields)
            workshift_id = data.get("workshift_id")
            if isinstance(workshift_id, int):
                failures[workshift_id] = ExportFailure(
                    int(at), str(data.get("error") or ""), data.get("format")
                )
    result = []
    for row in rows:
        failure = failures.get(row.workshift_id)
        if failure is not None and failure.at < row.updated_at:
            failure = None  # it changed after that failure: waiting, not failed
        result.append(BacklogShift(*row, failure=failure))
    return result

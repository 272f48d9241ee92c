"""What makes a store-day whole (SPEC 11): each shift's open/closed state and SPEC 7 status.

Read from the shift headers and the totals the loader keeps
(:mod:`cashserver.store.totals`), never from receipts, so the store-day report can
ask for every shift of a month at the cost of one indexed row each. The local days
a shift has receipts on come from the quarter-hour totals:
:func:`shifts_on_date` is the query behind ``shifts --sales-date``.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, and_, bindparam, or_, select

from cashserver.domain import ShiftCounters
from cashserver.reconcile import ShiftStatus, Totals, shift_status
from cashserver.store.schema import (
    COUNTER_COLUMNS,
    TOTAL_COLUMNS,
    shift_quarter_totals,
    shift_totals,
    shifts,
    stores,
)
from cashserver.store.totals import ID_CHUNK, QUARTER_MS


@dataclass(frozen=True, slots=True)
class ShiftState:
    """Whether a shift is still open, and its SPEC 7 status."""

    open: bool
    status: ShiftStatus

    @property
    def problem(self) -> bool:
        return self.status is not ShiftStatus.OK


def local_midnight_ms(day: date, zone: ZoneInfo) -> int:
    return int(datetime.combine(day, time(0), tzinfo=zone).timestamp() * 1000)


def ceil_quarter(ms: int) -> int:
    """The first quarter hour starting at or after ``ms``."""
    return -(-ms // QUARTER_MS)


def day_quarters(day: date, zone: ZoneInfo) -> tuple[int, int]:
    """The half-open range of quarter hours that make ``day`` in ``zone``.

    Local midnights fall on quarter hours in every zone in use, so this is exact.
    """
    start = ceil_quarter(local_midnight_ms(day, zone))
    return start, ceil_quarter(local_midnight_ms(day + timedelta(days=1), zone))


# Built once: building the statement costs more than running it for a month's shifts.
_STATES = (
    select(
        shifts.c.workshift_id,
        shifts.c.closed_at,
        shifts.c.has_counters,
        *(shifts.c[f"c_{name}"] for name in COUNTER_COLUMNS),
        *(shift_totals.c[name] for name in TOTAL_COLUMNS),
        shift_totals.c.numbers_in_range,
    )
    .outerjoin(shift_totals, shift_totals.c.workshift_id == shifts.c.workshift_id)
    .where(shifts.c.workshift_id.in_(bindparam("ids", expanding=True)))
)
_COUNTERS_AT = 3
_TOTALS_AT = _COUNTERS_AT + len(COUNTER_COLUMNS)
_PRESENT_AT = _TOTALS_AT + len(TOTAL_COLUMNS)


def _state_of(row: Sequence[Any]) -> ShiftState:
    # Positional: COUNTER_COLUMNS and TOTAL_COLUMNS are in the fields' order of
    # ShiftCounters and Totals (a unit test holds them so).
    counters = ShiftCounters(*row[_COUNTERS_AT:_TOTALS_AT]) if row[2] else None
    if row[_PRESENT_AT] is None:  # no receipt stored yet: no totals row
        totals = Totals()
        present = 0
    else:
        totals = Totals(*row[_TOTALS_AT:_PRESENT_AT])
        present = row[_PRESENT_AT]
    return ShiftState(open=row[1] is None, status=shift_status(counters, totals, present))


def shift_states(conn: Connection, ids: Iterable[int]) -> dict[int, ShiftState]:
    """The state of each stored shift of ``ids`` (missing ids are left out)."""
    wanted = sorted(set(ids))
    found: dict[int, ShiftState] = {}
    for start in range(0, len(wanted), ID_CHUNK):
        for row in conn.execute(_STATES, {"ids": wanted[start : start + ID_CHUNK]}).all():
            found[row[0]] = _state_of(row)
    return found


def shifts_on_date(
    conn: Connection,
    day: date,
    zone_of: Callable[[str], ZoneInfo],
    store_code: str | None = None,
) -> Any:
    """A subquery of the workshift_ids with a receipt on local date ``day`` of their store.

    ``zone_of`` gives a store's time zone; stores sharing a zone share one range of
    quarter hours, so the condition has one term per zone in use, each served by the
    (store_code, quarter) index.
    """
    if store_code is not None:
        codes = [store_code]
    else:
        codes = [str(c) for c in conn.execute(select(stores.c.store_code)).scalars()]
    by_zone: defaultdict[ZoneInfo, list[str]] = defaultdict(list)
    for code in codes:
        by_zone[zone_of(code)].append(code)
    t = shift_quarter_totals.c
    terms = []
    for zone, members in by_zone.items():
        first, end = day_quarters(day, zone)
        terms.append(and_(t.store_code.in_(members), t.quarter >= first, t.quarter < end))
    query = select(t.workshift_id).distinct()
    return query.where(or_(*terms) if terms else t.workshift_id.is_(None))

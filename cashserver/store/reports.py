"""Reports (SPEC 11): the store-day reconciliation and a shift's department report.

Store days are summed from the quarter-hour totals the loader keeps
(:mod:`cashserver.store.totals`), so a month of a store reads a few thousand small
rows, never its receipts; the store's time zone of the configuration in force
decides which quarter hours make a local day. A day is ``complete`` when none of
its shifts is open or has a SPEC 7 status other than ``ok``; those states come from
the shift headers and totals of just the shifts of the days asked for
(:mod:`cashserver.store.shift_states`). The department report reads the one
shift's lines: a shift is small, and its lines are what the report is about.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, Engine, select

from cashserver.clock import DAY_MS, local_midnight_ms
from cashserver.config import Config
from cashserver.domain import ReceiptKind
from cashserver.store.schema import (
    TOTAL_COLUMNS,
    lines,
    receipts,
    registers,
    shift_quarter_totals,
    shifts,
    stores,
)
from cashserver.store.shift_states import (
    ShiftState,
    ceil_quarter,
    shift_states,
)
from cashserver.store.totals import QUARTER_MS

STORE_DAY_COLUMNS = (
    ("store_code", "store"),
    ("date", "date (store time)"),
    ("registers_count", "registers"),
    ("shifts_count", "shifts"),
    ("receipts_count", "receipts"),
    ("sales_cash", "sales cash"),
    ("sales_noncash", "sales noncash"),
    ("returns_cash", "returns cash"),
    ("returns_noncash", "returns noncash"),
    ("revenue_cash", "revenue cash"),
    ("revenue_noncash", "revenue noncash"),
    ("cash_in", "cash in"),
    ("cash_out", "cash out"),
    ("drawer", "drawer"),
    ("complete", "complete"),
    ("open_shifts", "open shifts"),
    ("problem_shifts", "problem shifts"),
)
"""A store-day row's keys, in order, with their headings in a table."""
STORE_DAY_KEYS = tuple(key for key, _ in STORE_DAY_COLUMNS)
DEPARTMENT_KEYS = (
    "department",
    "receipts_count",
    "quantity_sold",
    "quantity_returned",
    "sales",
    "returns",
    "revenue",
)
LOAD_MODES = ("line", "register")


@dataclass(slots=True)
class _Day:
    sums: list[int] = field(default_factory=lambda: [0] * len(TOTAL_COLUMNS))
    shifts: set[int] = field(default_factory=set)
    registers: set[int] = field(default_factory=set)


def _store_day_row(
    store_code: str, day: date, acc: _Day, states: dict[int, ShiftState]
) -> dict[str, Any]:
    row: dict[str, Any] = {"store_code": store_code, "date": day.isoformat()}
    values = dict(zip(TOTAL_COLUMNS, acc.sums, strict=True))
    row["registers_count"] = len(acc.registers)
    row["shifts_count"] = len(acc.shifts)
    row.update(values)
    row["revenue_cash"] = values["sales_cash"] - values["returns_cash"]
    row["revenue_noncash"] = values["sales_noncash"] - values["returns_noncash"]
    row["drawer"] = row["revenue_cash"] + values["cash_in"] - values["cash_out"]
    # A shift whose header is gone (trimmed between the two reads) counts as neither.
    day_states = [states[ws] for ws in acc.shifts if ws in states]
    row["open_shifts"] = sum(1 for state in day_states if state.open)
    row["problem_shifts"] = sum(1 for state in day_states if state.problem)
    row["complete"] = row["open_shifts"] == 0 and row["problem_shifts"] == 0
    return {key: row[key] for key in STORE_DAY_KEYS}


class _Days:
    """Maps quarter hours, in increasing order, to local dates of one time zone."""

    def __init__(self, zone: ZoneInfo) -> None:
        self.zone = zone
        self.day = date.min
        self.end = -1  # first quarter past ``day``

    def of(self, quarter: int) -> date:
        if quarter >= self.end:  # quarters come in increasing order
            moment = datetime.fromtimestamp(quarter * QUARTER_MS / 1000, self.zone)
            self.day = moment.date()
            next_midnight = local_midnight_ms(self.day + timedelta(days=1), self.zone)
            self.end = ceil_quarter(next_midnight)
        return self.day


class Reports:
    def __init__(self, engine: Engine, config: Config) -> None:
        self.engine = engine
        self.config = config

    def store_codes(self) -> list[str]:
        with self.engine.connect() as conn:
            return [
                str(c)
                for c in conn.execute(
                    select(stores.c.store_code).order_by(stores.c.store_code)
                ).scalars()
            ]

    def store_days(
        self,
        store_code: str | None = None,
        date_from: date | None = None,
        date_to: date | None = None,
    ) -> list[dict[str, Any]]:
        """SPEC 11 store-day rows, ordered by store and date; dates local and half-open."""
        codes = [store_code] if store_code else self.store_codes()
        result: list[dict[str, Any]] = []
        with self.engine.connect() as conn:
            for code in codes:
                result.extend(self._one_store(conn, code, date_from, date_to))
        return result

    def _one_store(
        self, conn: Connection, code: str, date_from: date | None, date_to: date | None
    ) -> Iterator[dict[str, Any]]:
        zone = self.config.store_timezone(code)
        t = shift_quarter_totals.c
        query = select(t.quarter, t.workshift_id, t.register_id, *(t[c] for c in TOTAL_COLUMNS))
        query = query.where(t.store_code == code).order_by(t.quarter)
        # Local midnights fall on quarter hours in every zone in use, so these are exact.
        if date_from is not None:
            query = query.where(t.quarter >= ceil_quarter(local_midnight_ms(date_from, zone)))
        if date_to is not None:
            query = query.where(t.quarter < ceil_quarter(local_midnight_ms(date_to, zone)))
        days: defaultdict[date, _Day] = defaultdict(_Day)
        mapper = _Days(zone)
        width = len(TOTAL_COLUMNS)
        # One fetch of every row: fetching row by row costs more than the sums.
        for row in conn.execute(query).all():
            acc = days[mapper.of(row[0])]
            acc.shifts.add(row[1])
            acc.registers.add(row[2])
            sums = acc.sums
            for i in range(width):
                sums[i] += row[3 + i]
        # Completeness: each shift of these days once, by its key (one row a shift).
        states = shift_states(conn, {ws for acc in days.values() for ws in acc.shifts})
        for day in sorted(days):
            yield _store_day_row(code, day, days[day], states)

    def incomplete_days(self, now_ms: int, days: int) -> int:
        """SPEC 16's count: store-days of the last ``days`` local dates of each store
        that ended at least 24 hours before ``now_ms`` and are not complete."""
        ended_by = now_ms - DAY_MS
        count = 0
        with self.engine.connect() as conn:
            for code in self.store_codes():
                zone = self.config.store_timezone(code)
                today = datetime.fromtimestamp(now_ms / 1000, zone).date()
                for row in self._one_store(conn, code, today - timedelta(days=days), today):
                    day = date.fromisoformat(row["date"])
                    ended_at = local_midnight_ms(day + timedelta(days=1), zone)
                    if not row["complete"] and ended_at <= ended_by:
                        count += 1
        return count

    def departments(self, workshift_id: int) -> dict[str, Any] | None:
        """The SPEC 11 department report of a shift, or None if there is no such shift."""
        mode = self.config.reports.load_mode
        with self.engine.connect() as conn:
            register_id = conn.execute(
                select(shifts.c.register_id).where(shifts.c.workshift_id == workshift_id)
            ).scalar()
            if register_id is None:
                return None
            fixed = _register_department(conn, register_id) if mode == "register" else None
            query = (
                select(receipts.c.receipt_id, receipts.c.kind, lines.c.department)
                .add_columns(lines.c.quantity, lines.c.amount)
                .join(lines, lines.c.receipt_id == receipts.c.receipt_id)
                .where(receipts.c.workshift_id == workshift_id)
                .where(receipts.c.kind.in_([int(ReceiptKind.SALE), int(ReceiptKind.RETURN)]))
            )
            per: defaultdict[str, list[int]] = defaultdict(lambda: [0, 0, 0, 0])
            seen: defaultdict[str, set[int]] = defaultdict(set)
            every: set[int] = set()
            for receipt_id, kind, department, quantity, amount in conn.execute(query):
                name = fixed if fixed is not None else department
                acc = per[name]
                sold = kind == int(ReceiptKind.SALE)
                acc[0 if sold else 1] += quantity
                acc[2 if sold else 3] += amount
                seen[name].add(receipt_id)
                every.add(receipt_id)
        rows = [_department_row(name, len(seen[name]), per[name]) for name in sorted(per)]
        total_sums = [sum(acc[i] for acc in per.values()) for i in range(4)]
        total = _department_row("", len(every), total_sums)
        del total["department"]
        return {
            "workshift_id": workshift_id,
            "load_mode": mode,
            "departments": rows,
            "total": total,
        }


def _department_row(name: str, receipts_count: int, acc: list[int]) -> dict[str, Any]:
    return {
        "department": name,
        "receipts_count": receipts_count,
        "quantity_sold": acc[0],
        "quantity_returned": acc[1],
        "sales": acc[2],
        "returns": acc[3],
        "revenue": acc[2] - acc[3],
    }


def _register_department(conn: Connection, register_id: int) -> str:
    """The register's ``department`` in the directory; "" when it has none."""
    value = conn.execute(
        select(registers.c.department).where(registers.c.register_id == register_id)
    ).scalar()
    return str(value or "")

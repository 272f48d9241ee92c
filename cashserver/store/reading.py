"""The store's read side: reconciliation rows, whole shifts, registers and events.

Sums are computed in SQL from stored receipts (grouped per shift, kind and
payment method) and turned into rows by the same functions that reconcile one
shift in memory, so the CLI, the exchange files and the tests agree by design.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date
from typing import Any

import orjson
from sqlalchemy import Connection, Engine, func, select

from cashserver.clock import DAY_MS, iso_utc, local_midnight_ms
from cashserver.config import Config
from cashserver.domain import (
    PaymentMethod,
    ReceiptKind,
    Shift,
    ShiftCounters,
)
from cashserver.reconcile import (
    ShiftReport,
    make_report,
    reconciliation_row,
    shift_status,
    totals_from_sums,
)
from cashserver.store.exports import export_stale
from cashserver.store.receipt_reads import read_receipts as read_receipts
from cashserver.store.receipt_reads import read_shift_receipts
from cashserver.store.schema import (
    COUNTER_COLUMNS,
    events,
    exports,
    forwards,
    receipts,
    registers,
    shift_totals,
    shifts,
)
from cashserver.store.shift_states import shifts_on_date

ID_CHUNK = 500


@dataclass(frozen=True, slots=True)
class ShiftFilter:
    store_code: str | None = None
    register_code: str | None = None
    date_from: date | None = None
    date_to: date | None = None
    """Half-open: shifts whose local date is before this one."""
    not_exported: bool = False
    sales_date: date | None = None
    """Shifts with a receipt on this local date of their store (a store-day's shifts)."""
    not_forwarded: bool = False
    """Only shifts whose current revision the central server has not acknowledged."""


@dataclass(frozen=True, slots=True)
class RegisterInfo:
    """A register of the directory, its values as stored (None: never set)."""

    store_code: str
    register_code: str
    protocol_version: int | None
    software_version: str
    created_at: int
    last_seen_at: int | None
    address: str | None = None
    pull_interval_s: int | None = None
    timezone: str | None = None
    department: str | None = None
    tls_ca: str | None = None
    tls_cert: str | None = None
    tls_key: str | None = None
    state: str | None = None
    state_message: str | None = None
    state_at: int | None = None
    last_load_at: int | None = None
    last_sale_at: int | None = None
    clock_skew_s: int | None = None
    """The register's clock minus the server's, as last measured (SPEC 16)."""


REGISTER_KEYS = (
    "store_code",
    "register_code",
    "address",
    "protocol_version",
    "pull_interval_s",
    "timezone",
    "department",
    "state",
    "state_message",
    "state_at",
    "last_load_at",
    "last_sale_at",
    "software_version",
    "last_seen_at",
    "clock_skew_s",
)
"""The keys of a register's document (``registers list --json``, the API), in order."""
REGISTER_TIME_KEYS = ("state_at", "last_load_at", "last_sale_at", "last_seen_at")


def register_document(info: RegisterInfo) -> dict[str, Any]:
    """A register as ``registers list --json`` and the API show it (SPEC 10): values as
    stored, times ISO 8601 UTC."""
    row = {key: getattr(info, key) for key in REGISTER_KEYS}
    for key in REGISTER_TIME_KEYS:
        row[key] = iso_utc(row[key])
    return row


def _shift_from_row(row: Any) -> Shift:
    counters = (
        ShiftCounters(**{name: getattr(row, f"c_{name}") for name in COUNTER_COLUMNS})
        if row.has_counters
        else None
    )
    return Shift(
        store_code=row.store_code,
        register_code=row.register_code,
        shift_number=row.shift_number,
        opened_at=row.opened_at,
        closed_at=row.closed_at,
        counters=counters,
    )


def _shift_select() -> Any:
    return (
        select(
            shifts,
            registers.c.store_code,
            registers.c.register_code,
            exports.c.revision.label("exported_revision"),
            forwards.c.acked_revision.label("forwarded_revision"),
        )
        .join(registers, registers.c.register_id == shifts.c.register_id)
        .outerjoin(exports, exports.c.workshift_id == shifts.c.workshift_id)
        .outerjoin(forwards, forwards.c.workshift_id == shifts.c.workshift_id)
    )


class Reader:
    def __init__(self, engine: Engine, config: Config) -> None:
        self.engine = engine
        self.config = config

    def shift_rows(self, flt: ShiftFilter = ShiftFilter()) -> list[dict[str, Any]]:
        """SPEC 7 rows, ordered by workshift_id."""
        query = _shift_select().order_by(shifts.c.workshift_id)
        if flt.store_code:
            query = query.where(registers.c.store_code == flt.store_code)
        if flt.register_code:
            query = query.where(registers.c.register_code == flt.register_code)
        if flt.not_exported:
            query = query.where(export_stale())
        if flt.not_forwarded:
            query = query.where(func.coalesce(forwards.c.acked_revision, 0) < shifts.c.revision)
        day_time = func.coalesce(shifts.c.opened_at, shifts.c.first_receipt_at)
        # Widen by a day each side in SQL; the exact local-date test is per store below.
        if flt.date_from:
            query = query.where(day_time >= local_midnight_ms(flt.date_from, UTC) - DAY_MS)
        if flt.date_to:
            query = query.where(day_time < local_midnight_ms(flt.date_to, UTC) + DAY_MS)
        with self.engine.connect() as conn:
            if flt.sales_date:
                zone_of = self.config.store_timezone
                on_date = shifts_on_date(conn, flt.sales_date, zone_of, flt.store_code)
                query = query.where(shifts.c.workshift_id.in_(on_date))
            rows = [r for r in conn.execute(query) if self._in_dates(r, flt)]
            totals = self._totals(conn, [r.workshift_id for r in rows])
        result = []
        for row in rows:
            shift = _shift_from_row(row)
            count, sums, present = totals.get(row.workshift_id, (0, {}, 0))
            shift_totals = totals_from_sums(count, sums)
            status = shift_status(shift.counters, shift_totals, present)
            item = reconciliation_row(row.workshift_id, shift, shift_totals, status)
            item["exported"] = row.exported_revision == row.revision
            if self.config.upstream.target:  # SPEC 7: only while a target is set
                item["forwarded"] = row.forwarded_revision == row.revision
            item["status"] = item.pop("status")
            result.append(item)
        return result

    def _in_dates(self, row: Any, flt: ShiftFilter) -> bool:
        if flt.date_from is None and flt.date_to is None:
            return True
        moment = row.opened_at if row.opened_at is not None else row.first_receipt_at
        if moment is None:
            return False
        zone = self.config.store_timezone(row.store_code)
        if flt.date_from and moment < local_midnight_ms(flt.date_from, zone):
            return False
        return not (flt.date_to and moment >= local_midnight_ms(flt.date_to, zone))

    def _totals(
        self, conn: Connection, ids: Sequence[int]
    ) -> dict[int, tuple[int, dict[tuple[ReceiptKind, PaymentMethod], int], int]]:
        """Per shift: receipts count, payment sums per (kind, method), numbers in range,
        from the totals the loader keeps (cashserver.store.totals), not from receipts."""
        found: dict[int, tuple[int, dict[tuple[ReceiptKind, PaymentMethod], int], int]] = {}
        for start in range(0, len(ids), ID_CHUNK):
            chunk = ids[start : start + ID_CHUNK]
            for row in conn.execute(
                select(shift_totals).where(shift_totals.c.workshift_id.in_(chunk))
            ):
                sums = {
                    (ReceiptKind.SALE, PaymentMethod.CASH): row.sales_cash,
                    (ReceiptKind.SALE, PaymentMethod.NONCASH): row.sales_noncash,
                    (ReceiptKind.RETURN, PaymentMethod.CASH): row.returns_cash,
                    (ReceiptKind.RETURN, PaymentMethod.NONCASH): row.returns_noncash,
                    (ReceiptKind.CASH_IN, PaymentMethod.CASH): row.cash_in,
                    (ReceiptKind.CASH_OUT, PaymentMethod.CASH): row.cash_out,
                }
                found[row.workshift_id] = (row.receipts_count, sums, row.numbers_in_range)
        return {ws: found.get(ws, (0, {}, 0)) for ws in ids}

    def report(self, workshift_id: int) -> tuple[ShiftReport, int] | None:
        """The whole stored shift and its revision, or None if there is no such shift."""
        with self.engine.connect() as conn:
            row = conn.execute(_shift_select().where(shifts.c.workshift_id == workshift_id)).first()
            if row is None:
                return None
            stored = read_shift_receipts(conn, workshift_id)
        return make_report(workshift_id, _shift_from_row(row), stored), row.revision

    def export_backlog(self) -> list[int]:
        """Closed shifts whose current revision has not been exported, oldest first."""
        query = (
            select(shifts.c.workshift_id)
            .outerjoin(exports, exports.c.workshift_id == shifts.c.workshift_id)
            .where(shifts.c.closed_at.is_not(None))
            .where(export_stale())
            .order_by(shifts.c.workshift_id)
        )
        with self.engine.connect() as conn:
            return [int(ws) for ws in conn.execute(query).scalars()]

    def registers(
        self, store_code: str | None = None, register_code: str | None = None
    ) -> list[RegisterInfo]:
        """The registers in the directory (not the removed ones), by store and code."""
        query = (
            select(registers)
            .where(registers.c.removed_at.is_(None))
            .order_by(registers.c.store_code, registers.c.register_code)
        )
        if store_code is not None:
            query = query.where(registers.c.store_code == store_code)
        if register_code is not None:
            query = query.where(registers.c.register_code == register_code)
        names = [f.name for f in dataclasses.fields(RegisterInfo)]
        with self.engine.connect() as conn:
            return [RegisterInfo(**{n: getattr(r, n) for n in names}) for r in conn.execute(query)]

    def stored_uids(self, uids: Sequence[str]) -> set[str]:
        """Which of ``uids`` (lower case) are stored already."""
        found: set[str] = set()
        with self.engine.connect() as conn:
            for start in range(0, len(uids), ID_CHUNK):
                chunk = list(uids[start : start + ID_CHUNK])
                found.update(
                    conn.execute(select(receipts.c.uid).where(receipts.c.uid.in_(chunk))).scalars()
                )
        return found

    def events(self, since_ms: int | None = None) -> list[dict[str, Any]]:
        """Events oldest first: time (ms), event, and the event's own fields."""
        query = select(events).order_by(events.c.time, events.c.event_id)
        if since_ms is not None:
            query = query.where(events.c.time >= since_ms)
        with self.engine.connect() as conn:
            return [
                {"time": r.time, "event": r.event, **orjson.loads(r.fields)}
                for r in conn.execute(query)
            ]

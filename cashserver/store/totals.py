"""Per-shift and per-shift-quarter-hour totals, kept by the writer with the receipts.

The loader calls :meth:`TotalsWriter.add` in the transaction that inserts receipts,
with exactly the receipts it inserted (duplicates never reach it), so the totals
move with the receipts or not at all. The database trimmer calls
:meth:`TotalsWriter.forget_receipts` before it deletes receipts and
:meth:`TotalsWriter.forget_shifts` before it deletes shifts, in its own transaction.

Sums follow SPEC 7 (:func:`cashserver.reconcile.totals_from_sums`): every stored
receipt counts as a receipt; payments of SALE and RETURN receipts per method, and
the CASH payments of CASH_IN and CASH_OUT receipts, are summed; nothing else is.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import Connection, delete, select

from cashserver.domain import PaymentMethod, Receipt, ReceiptKind
from cashserver.store.schema import (
    TOTAL_COLUMNS,
    payments,
    receipts,
    registers,
    shift_quarter_totals,
    shift_totals,
    shifts,
)

QUARTER_MS = 900_000
ID_CHUNK = 500

# The money column a (kind, method) pair adds to, as an index into TOTAL_COLUMNS.
_COLUMN_OF: dict[tuple[int, int], int] = {
    (int(ReceiptKind.SALE), int(PaymentMethod.CASH)): 1,
    (int(ReceiptKind.SALE), int(PaymentMethod.NONCASH)): 2,
    (int(ReceiptKind.RETURN), int(PaymentMethod.CASH)): 3,
    (int(ReceiptKind.RETURN), int(PaymentMethod.NONCASH)): 4,
    (int(ReceiptKind.CASH_IN), int(PaymentMethod.CASH)): 5,
    (int(ReceiptKind.CASH_OUT), int(PaymentMethod.CASH)): 6,
}

Sums = list[int]
"""Values in the order of TOTAL_COLUMNS."""


def _zero() -> Sums:
    return [0] * len(TOTAL_COLUMNS)


def _add_receipt(sums: Sums, kind: int, pays: Iterable[tuple[int, int]], sign: int = 1) -> None:
    sums[0] += sign
    for method, amount in pays:
        column = _COLUMN_OF.get((kind, method))
        if column is not None:
            sums[column] += sign * amount


def numbers_in_range(numbers: Iterable[int], first: int, last: int) -> int:
    return len({n for n in numbers if first <= n <= last})


class TotalsWriter:
    """The statements that move totals, written once per dialect's parameter style."""

    def __init__(self, dialect: str) -> None:
        mark = "?" if dialect == "sqlite" else "%s"

        def upsert(table: str, key: Sequence[str], extra: Sequence[str]) -> str:
            names = [*key, *extra, *TOTAL_COLUMNS]
            marks = ", ".join([mark] * len(names))
            adds = ", ".join(f"{c} = {table}.{c} + excluded.{c}" for c in TOTAL_COLUMNS)
            return (
                f"INSERT INTO {table} ({', '.join(names)}) VALUES ({marks})"
                f" ON CONFLICT ({', '.join(key)}) DO UPDATE SET {adds}"
            )

        self._shift = upsert("shift_totals", ("workshift_id",), ("numbers_in_range",))
        self._quarter = upsert(
            "shift_quarter_totals", ("workshift_id", "quarter"), ("store_code", "register_id")
        )
        self._recount = (
            "UPDATE shift_totals SET numbers_in_range = (SELECT COUNT(DISTINCT number)"
            f" FROM receipts WHERE workshift_id = {mark} AND number BETWEEN {mark} AND {mark})"
            f" WHERE workshift_id = {mark}"
        )

    def add(
        self,
        conn: Connection,
        workshift_id: int,
        register_id: int,
        store_code: str,
        inserted: Sequence[Receipt],
        numbers: int = 0,
    ) -> None:
        """Add newly inserted receipts to their shift's totals.

        ``numbers`` is the shift's ``numbers_in_range`` when this creates its row (a
        new shift); an existing row keeps its own, to be recounted by :meth:`recount`.
        """
        if not inserted:
            return
        # One pass into the quarter hours (a shift has a few dozen), whose column sums
        # are the whole shift's. Runs for every stored receipt: spelled out for speed.
        quarters: defaultdict[int, Sums] = defaultdict(_zero)
        column_of = _COLUMN_OF.get
        for receipt in inserted:
            sums = quarters[receipt.closed_at // QUARTER_MS]
            sums[0] += 1
            kind = int(receipt.kind)
            for method, amount in receipt.payments:
                column = column_of((kind, int(method)))
                if column is not None:
                    sums[column] += amount
        whole = [sum(column) for column in zip(*quarters.values(), strict=True)]
        conn.exec_driver_sql(self._shift, [(workshift_id, numbers, *whole)])
        conn.exec_driver_sql(
            self._quarter,
            [(workshift_id, q, store_code, register_id, *s) for q, s in sorted(quarters.items())],
        )

    def recount(self, conn: Connection, workshift_id: int, first: int, last: int) -> None:
        """Count again the distinct receipt numbers in [first, last] of a stored shift."""
        conn.exec_driver_sql(self._recount, (workshift_id, first, last, workshift_id))

    def forget_receipts(self, conn: Connection, receipt_ids: Sequence[int]) -> None:
        """Take receipts about to be deleted out of the totals (call before deleting them).

        Their shifts' ``numbers_in_range`` are recounted without them, and quarter rows
        left with no receipt are removed.
        """
        per_shift: defaultdict[int, Sums] = defaultdict(_zero)
        per_quarter: defaultdict[tuple[int, int], Sums] = defaultdict(_zero)
        where: dict[int, tuple[str, int]] = {}
        gone: set[int] = set()
        for start in range(0, len(receipt_ids), ID_CHUNK):
            chunk = list(receipt_ids[start : start + ID_CHUNK])
            gone.update(chunk)
            pays: defaultdict[int, list[tuple[int, int]]] = defaultdict(list)
            for rid, method, amount in conn.execute(
                select(payments.c.receipt_id, payments.c.method, payments.c.amount).where(
                    payments.c.receipt_id.in_(chunk)
                )
            ):
                pays[rid].append((method, amount))
            for rid, ws, kind, closed_at, store_code, register_id in conn.execute(
                select(
                    receipts.c.receipt_id,
                    receipts.c.workshift_id,
                    receipts.c.kind,
                    receipts.c.closed_at,
                    registers.c.store_code,
                    registers.c.register_id,
                )
                .join(shifts, shifts.c.workshift_id == receipts.c.workshift_id)
                .join(registers, registers.c.register_id == shifts.c.register_id)
                .where(receipts.c.receipt_id.in_(chunk))
            ):
                where[ws] = (store_code, register_id)
                _add_receipt(per_shift[ws], kind, pays[rid], sign=-1)
                _add_receipt(per_quarter[(ws, closed_at // QUARTER_MS)], kind, pays[rid], -1)
        if not per_shift:
            return
        conn.exec_driver_sql(self._shift, [(ws, 0, *s) for ws, s in sorted(per_shift.items())])
        conn.exec_driver_sql(
            self._quarter,
            [(ws, q, *where[ws], *s) for (ws, q), s in sorted(per_quarter.items())],
        )
        conn.execute(
            delete(shift_quarter_totals).where(
                shift_quarter_totals.c.workshift_id.in_(list(per_shift)),
                shift_quarter_totals.c.receipts_count <= 0,
            )
        )
        self._recount_without(conn, list(per_shift), gone)

    def _recount_without(self, conn: Connection, ids: list[int], gone: set[int]) -> None:
        """Recount numbers_in_range of shifts as if the ``gone`` receipts were deleted."""
        rows = conn.execute(
            select(
                shifts.c.workshift_id,
                shifts.c.c_first_receipt_number,
                shifts.c.c_last_receipt_number,
            ).where(shifts.c.workshift_id.in_(ids), shifts.c.has_counters == 1)
        ).all()
        for ws, first, last in rows:
            numbers = conn.execute(
                select(receipts.c.receipt_id, receipts.c.number).where(
                    receipts.c.workshift_id == ws,
                    receipts.c.number >= first,
                    receipts.c.number <= last,
                )
            )
            count = numbers_in_range((n for rid, n in numbers if rid not in gone), first, last)
            conn.execute(
                shift_totals.update()
                .where(shift_totals.c.workshift_id == ws)
                .values(numbers_in_range=count)
            )

    def forget_shifts(self, conn: Connection, workshift_ids: Sequence[int]) -> None:
        """Delete the totals rows of shifts about to be deleted (call before deleting them)."""
        ids: list[Any] = list(workshift_ids)
        for start in range(0, len(ids), ID_CHUNK):
            chunk = ids[start : start + ID_CHUNK]
            conn.execute(
                delete(shift_quarter_totals).where(shift_quarter_totals.c.workshift_id.in_(chunk))
            )
            conn.execute(delete(shift_totals).where(shift_totals.c.workshift_id.in_(chunk)))

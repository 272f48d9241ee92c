"""Reconciliation of a shift (SPEC section 7): totals from receipts, and a status.

Pure functions: the store computes the same sums in SQL for listings, and the
exchange writers and the emulator use these for one shift at a time.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from operator import attrgetter

from cashserver.clock import iso_utc
from cashserver.domain import PaymentMethod, Receipt, ReceiptKind, Shift, ShiftCounters


class ShiftStatus(StrEnum):
    NO_COUNTERS = "no_counters"
    INCOMPLETE = "incomplete"
    MISMATCH = "mismatch"
    OK = "ok"


@dataclass(frozen=True, slots=True)
class Totals:
    """Sums computed from stored receipts, in kopecks."""

    receipts_count: int = 0
    sales_cash: int = 0
    sales_noncash: int = 0
    returns_cash: int = 0
    returns_noncash: int = 0
    cash_in: int = 0
    cash_out: int = 0

    @property
    def revenue_cash(self) -> int:
        return self.sales_cash - self.returns_cash

    @property
    def revenue_noncash(self) -> int:
        return self.sales_noncash - self.returns_noncash

    @property
    def drawer(self) -> int:
        return self.revenue_cash + self.cash_in - self.cash_out


PaymentSums = Mapping[tuple[ReceiptKind, PaymentMethod], int]


def totals_from_sums(receipts_count: int, sums: PaymentSums) -> Totals:
    """Totals from payment sums per (receipt kind, method); other pairs count for nothing."""
    return Totals(
        receipts_count=receipts_count,
        sales_cash=sums.get((ReceiptKind.SALE, PaymentMethod.CASH), 0),
        sales_noncash=sums.get((ReceiptKind.SALE, PaymentMethod.NONCASH), 0),
        returns_cash=sums.get((ReceiptKind.RETURN, PaymentMethod.CASH), 0),
        returns_noncash=sums.get((ReceiptKind.RETURN, PaymentMethod.NONCASH), 0),
        cash_in=sums.get((ReceiptKind.CASH_IN, PaymentMethod.CASH), 0),
        cash_out=sums.get((ReceiptKind.CASH_OUT, PaymentMethod.CASH), 0),
    )


def compute_totals(receipts: Iterable[Receipt]) -> Totals:
    """Sum payments per kind and method; CANCELLED receipts count only as receipts."""
    count = 0
    sums: defaultdict[tuple[ReceiptKind, PaymentMethod], int] = defaultdict(int)
    for receipt in receipts:
        count += 1
        for payment in receipt.payments:
            sums[(receipt.kind, payment.method)] += payment.amount
    return totals_from_sums(count, sums)


def counters_from_totals(totals: Totals, first_number: int, last_number: int) -> ShiftCounters:
    """The counters an honest register would report for these totals."""
    return ShiftCounters(
        receipts_count=totals.receipts_count,
        first_receipt_number=first_number,
        last_receipt_number=last_number,
        sales_cash=totals.sales_cash,
        sales_noncash=totals.sales_noncash,
        returns_cash=totals.returns_cash,
        returns_noncash=totals.returns_noncash,
        cash_in=totals.cash_in,
        cash_out=totals.cash_out,
        drawer=totals.drawer,
    )


def numbers_in_range(counters: ShiftCounters | None, numbers: Iterable[int]) -> int:
    """How many distinct receipt numbers lie between the counters' first and last."""
    if counters is None:
        return 0
    first, last = counters.first_receipt_number, counters.last_receipt_number
    return len({n for n in numbers if first <= n <= last})


def shift_status(
    counters: ShiftCounters | None, totals: Totals, present_in_range: int
) -> ShiftStatus:
    """The first status of SPEC 7 that applies.

    ``present_in_range`` is the number of distinct stored receipt numbers between the
    counters' first and last; fewer than that span holds makes the shift incomplete.
    """
    if counters is None:
        return ShiftStatus.NO_COUNTERS
    first, last = counters.first_receipt_number, counters.last_receipt_number
    if last >= first > 0 and present_in_range < last - first + 1:
        return ShiftStatus.INCOMPLETE
    expected = counters_from_totals(totals, first, last)
    return ShiftStatus.OK if expected == counters else ShiftStatus.MISMATCH


@dataclass(frozen=True, slots=True)
class ShiftReport:
    """A stored shift with everything accounting needs: header, receipts, totals."""

    workshift_id: int
    shift: Shift
    receipts: tuple[Receipt, ...]
    totals: Totals
    status: ShiftStatus


def make_report(workshift_id: int, shift: Shift, receipts: Iterable[Receipt]) -> ShiftReport:
    """Build a report with receipts in (number, uid) order, so its rendering is stable."""
    ordered = tuple(sorted(receipts, key=attrgetter("number", "uid")))
    totals = compute_totals(ordered)
    present = numbers_in_range(shift.counters, (r.number for r in ordered))
    status = shift_status(shift.counters, totals, present)
    return ShiftReport(workshift_id, shift, ordered, totals, status)


def reconciliation_row(
    workshift_id: int, shift: Shift, totals: Totals, status: ShiftStatus
) -> dict[str, object]:
    """The SPEC 7 row, less ``exported`` (which is the store's to know)."""
    return {
        "workshift_id": workshift_id,
        "store_code": shift.store_code,
        "register_code": shift.register_code,
        "shift_number": shift.shift_number,
        "opened_at": iso_utc(shift.opened_at),
        "closed_at": iso_utc(shift.closed_at),
        "receipts_count": totals.receipts_count,
        "sales_cash": totals.sales_cash,
        "sales_noncash": totals.sales_noncash,
        "returns_cash": totals.returns_cash,
        "returns_noncash": totals.returns_noncash,
        "revenue_cash": totals.revenue_cash,
        "revenue_noncash": totals.revenue_noncash,
        "drawer": totals.drawer,
        "cash_in": totals.cash_in,
        "cash_out": totals.cash_out,
        "status": str(status),
    }

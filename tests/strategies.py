"""Hypothesis strategies for valid domain objects (SPEC sections 1-3).

Everything drawn here passes :func:`cashserver.validate.validate_upload` unchanged:
codes from the SPEC charset, uids in canonical lower-case uuid4 text, money in
``0..MONEY_MAX`` kopecks, times in milliseconds within 2000-01-01..2100-01-01 UTC.
Receipts are also business-consistent (SPEC 3): a SALE, RETURN or CANCELLED
receipt's payments add up to its line amounts; CASH_IN and CASH_OUT carry one CASH
payment and no lines. Shift counters, when present, are arbitrary, not computed
from the receipts.
"""

from __future__ import annotations

import string
from datetime import UTC, datetime

from hypothesis import strategies as st

from cashserver.domain import (
    COUNTER_FIELDS,
    EpochMs,
    Line,
    Payment,
    PaymentMethod,
    Receipt,
    ReceiptKind,
    Shift,
    ShiftCounters,
    Upload,
    UploadResult,
    UploadStatus,
)

CODE_ALPHABET = string.ascii_letters + string.digits + "_-"
MONEY_MAX = 10**9
QUANTITY_MAX = 100_000
INT64_MAX = 2**63 - 1
TIME_MIN: EpochMs = int(datetime(2000, 1, 1, tzinfo=UTC).timestamp() * 1000)
TIME_MAX: EpochMs = int(datetime(2100, 1, 1, tzinfo=UTC).timestamp() * 1000)

_CASH_MOVES = (ReceiptKind.CASH_IN, ReceiptKind.CASH_OUT)


def codes() -> st.SearchStrategy[str]:
    """A store or register code: 1-32 characters of ``[A-Za-z0-9_-]``."""
    return st.text(CODE_ALPHABET, min_size=1, max_size=32)


def uids() -> st.SearchStrategy[str]:
    """A receipt uid: canonical lower-case uuid4 text."""
    return st.uuids(version=4).map(str)


def money(max_value: int = MONEY_MAX) -> st.SearchStrategy[int]:
    return st.integers(0, max_value)


def times(min_value: EpochMs = TIME_MIN, max_value: EpochMs = TIME_MAX) -> st.SearchStrategy[int]:
    """An instant in milliseconds since the epoch, by default within 2000..2100."""
    return st.integers(min_value, max_value)


def texts(max_size: int = 24) -> st.SearchStrategy[str]:
    """Free text (item names, cashiers): printable, any script, no control characters."""
    return st.text(st.characters(codec="utf-8", exclude_categories=("Cc", "Cs")), max_size=max_size)


def counters() -> st.SearchStrategy[ShiftCounters]:
    return st.builds(ShiftCounters, **{name: money() for name in COUNTER_FIELDS})


@st.composite
def shifts(draw: st.DrawFn, closed: bool | None = None) -> Shift:
    """A shift header; ``closed`` forces a close time (True) or its absence (False).

    A shift's close time, when both are known, is not before its open time.
    """
    opened_at = draw(st.none() | times())
    is_closed = draw(st.booleans()) if closed is None else closed
    earliest = TIME_MIN if opened_at is None else opened_at
    closed_at = draw(times(min_value=earliest)) if is_closed else None
    return Shift(
        store_code=draw(codes()),
        register_code=draw(codes()),
        shift_number=draw(st.integers(1, INT64_MAX)),
        opened_at=opened_at,
        closed_at=closed_at,
        counters=draw(st.none() | counters()),
    )


@st.composite
def lines(draw: st.DrawFn, position: int | None = None) -> Line:
    """A receipt line whose amount is quantity * price / 1000 less its discount."""
    quantity = draw(st.integers(1, QUANTITY_MAX))
    price = draw(money())
    gross = quantity * price // 1000
    discount = draw(st.integers(0, gross))
    return Line(
        position=draw(st.integers(1, 10_000)) if position is None else position,
        item_code=draw(st.text(CODE_ALPHABET, max_size=13)),
        barcode=draw(st.text(string.digits, max_size=14)),
        name=draw(texts()),
        department=draw(st.text(CODE_ALPHABET, max_size=8)),
        quantity=quantity,
        price=price,
        amount=gross - discount,
        discount=discount,
        vat_rate=draw(st.sampled_from((0, 500, 700, 1000, 1800, 2000, 2200))),
    )


def _split_payments(draw: st.DrawFn, total: int) -> tuple[Payment, ...]:
    """One or two payments, net of change, adding up to ``total``."""
    if draw(st.booleans()):
        return (Payment(draw(st.sampled_from(PaymentMethod)), total),)
    cash = draw(st.integers(0, total))
    return (Payment(PaymentMethod.CASH, cash), Payment(PaymentMethod.NONCASH, total - cash))


@st.composite
def receipts(
    draw: st.DrawFn,
    min_time: EpochMs = TIME_MIN,
    max_time: EpochMs = TIME_MAX,
    max_lines: int = 4,
) -> Receipt:
    """A receipt of any kind, closed within ``[min_time, max_time]``."""
    kind = draw(st.sampled_from(ReceiptKind))
    if kind in _CASH_MOVES:
        receipt_lines: tuple[Line, ...] = ()
        receipt_payments: tuple[Payment, ...] = (Payment(PaymentMethod.CASH, draw(money())),)
    else:
        count = draw(st.integers(1, max_lines))
        receipt_lines = tuple(draw(lines(position=n)) for n in range(1, count + 1))
        receipt_payments = _split_payments(draw, sum(ln.amount for ln in receipt_lines))
    return Receipt(
        uid=draw(uids()),
        number=draw(st.integers(1, 10**9)),
        kind=kind,
        closed_at=draw(times(min_time, max_time)),
        cashier=draw(texts(max_size=16)),
        lines=receipt_lines,
        payments=receipt_payments,
    )


@st.composite
def uploads(
    draw: st.DrawFn, min_receipts: int = 0, max_receipts: int = 10, closed: bool | None = None
) -> Upload:
    """A shift and its receipts (distinct uids), closed between its open and close times."""
    shift = draw(shifts(closed=closed))
    min_time = shift.opened_at if shift.opened_at is not None else TIME_MIN
    max_time = shift.closed_at if shift.closed_at is not None else TIME_MAX
    shift_receipts = draw(
        st.lists(
            receipts(min_time, max_time),
            min_size=min_receipts,
            max_size=max_receipts,
            unique_by=lambda r: r.uid,
        )
    )
    return Upload(shift, tuple(shift_receipts))


def upload_results() -> st.SearchStrategy[UploadResult]:
    """An answer to an upload; QUEUED ones carry workshift_id 0 (SPEC 4)."""
    counts = st.integers(0, 10**6)
    return st.builds(
        UploadResult,
        workshift_id=st.integers(1, INT64_MAX),
        status=st.sampled_from(UploadStatus),
        receipts_received=counts,
        receipts_stored=counts,
        receipts_duplicate=counts,
        message=texts(),
    ).map(
        lambda r: (
            r
            if r.status is not UploadStatus.QUEUED
            else UploadResult(0, r.status, r.receipts_received, 0, 0, r.message)
        )
    )

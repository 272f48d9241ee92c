"""The emulator's generator: valid, reconciling shifts whose drawer never goes below
zero, dated so that the emulator's last shift has just closed and nothing is in the
future."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from cashserver.clock import DAY_MS
from cashserver.domain import PaymentMethod, ReceiptKind
from cashserver.emulator.generate import (
    CLOSED_BEFORE_NOW_MS,
    MINUTE_MS,
    SHIFT_MS,
    ShiftPlan,
    day_one_ending_at,
    generate_upload,
    opened_at_for,
)
from cashserver.reconcile import ShiftStatus, compute_totals, numbers_in_range, shift_status
from cashserver.validate import validate_upload
from tests.strategies import TIME_MAX, TIME_MIN, codes

plans = st.builds(
    ShiftPlan,
    store_code=codes(),
    register_code=codes(),
    shift_number=st.integers(1, 3000),
    receipts=st.integers(0, 120),
    lines_per_receipt=st.integers(1, 6),
    seed=st.integers(0, 2**32),
    closed=st.booleans(),
    day_one_ms=st.integers(TIME_MIN, TIME_MIN + 50 * 365 * DAY_MS),
)


def cash_in_drawer(kind: ReceiptKind, cash: int) -> int:
    return {
        ReceiptKind.SALE: cash,
        ReceiptKind.CASH_IN: cash,
        ReceiptKind.RETURN: -cash,
        ReceiptKind.CASH_OUT: -cash,
    }.get(kind, 0)


@settings(max_examples=300)
@given(plans)
def test_the_drawer_never_goes_below_zero(plan: ShiftPlan) -> None:
    upload = generate_upload(plan)
    drawer = 0
    for receipt in upload.receipts:
        cash = sum(p.amount for p in receipt.payments if p.method is PaymentMethod.CASH)
        if receipt.kind in (ReceiptKind.RETURN, ReceiptKind.CASH_OUT):
            assert cash <= drawer, (receipt.number, receipt.kind, cash, drawer)
        drawer += cash_in_drawer(receipt.kind, cash)
        assert drawer >= 0
    totals = compute_totals(upload.receipts)
    assert totals.drawer == drawer >= 0


@settings(max_examples=200)
@given(plans)
def test_a_generated_shift_is_valid_reconciles_and_keeps_to_its_hours(plan: ShiftPlan) -> None:
    upload = generate_upload(plan)
    assert validate_upload(upload) == upload
    assert len(upload.receipts) == plan.receipts
    shift = upload.shift
    assert shift.opened_at == opened_at_for(plan.shift_number, plan.day_one_ms)
    if plan.closed:
        assert shift.closed_at == shift.opened_at + SHIFT_MS
        expected = ShiftStatus.OK
    else:
        assert shift.closed_at is None
        expected = ShiftStatus.NO_COUNTERS
    numbers = [r.number for r in upload.receipts]
    status = shift_status(
        shift.counters,
        compute_totals(upload.receipts),
        numbers_in_range(shift.counters, numbers),
    )
    assert status is expected
    for receipt in upload.receipts:
        assert shift.opened_at < receipt.closed_at < shift.opened_at + SHIFT_MS
        for payment in receipt.payments:
            assert payment.amount >= 0
    for receipt in upload.receipts:  # the sale's payments add up to its lines
        if receipt.kind in (ReceiptKind.SALE, ReceiptKind.RETURN, ReceiptKind.CANCELLED):
            assert sum(p.amount for p in receipt.payments) == sum(
                line.amount for line in receipt.lines
            )


@given(
    now_ms=st.integers(TIME_MIN + 3000 * DAY_MS, TIME_MAX),
    first=st.integers(1, 1000),
    count=st.integers(1, 400),
    receipts=st.integers(0, 60),
    closed=st.booleans(),
)
def test_the_last_shift_closes_shortly_before_now_and_nothing_is_later(
    now_ms: int, first: int, count: int, receipts: int, closed: bool
) -> None:
    last = first + count - 1
    day_one = day_one_ending_at(now_ms, last)
    closes = opened_at_for(last, day_one) + SHIFT_MS
    assert now_ms - CLOSED_BEFORE_NOW_MS - MINUTE_MS < closes <= now_ms - CLOSED_BEFORE_NOW_MS
    assert closes % MINUTE_MS == 0
    assert opened_at_for(first, day_one) == closes - SHIFT_MS - (count - 1) * DAY_MS
    upload = generate_upload(
        ShiftPlan("S1", "R1", last, receipts, closed=closed, day_one_ms=day_one)
    )
    assert upload.shift.opened_at is not None and upload.shift.opened_at < now_ms
    if closed:
        assert upload.shift.closed_at == closes
    assert all(r.closed_at < now_ms for r in upload.receipts)

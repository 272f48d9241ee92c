"""Reconciliation (SPEC section 7): totals from receipts and the status of a shift."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given
from hypothesis import strategies as st
from msgspec import structs

from cashserver.clock import iso_utc
from cashserver.domain import (
    COUNTER_FIELDS,
    Payment,
    PaymentMethod,
    Receipt,
    ReceiptKind,
    Shift,
    ShiftCounters,
)
from cashserver.emulator.generate import ShiftPlan, generate_upload
from cashserver.reconcile import (
    ShiftStatus,
    Totals,
    compute_totals,
    make_report,
    reconciliation_row,
)

CASH, NONCASH = PaymentMethod.CASH, PaymentMethod.NONCASH
SALE, RETURN, CANCELLED = ReceiptKind.SALE, ReceiptKind.RETURN, ReceiptKind.CANCELLED
CASH_IN, CASH_OUT = ReceiptKind.CASH_IN, ReceiptKind.CASH_OUT
T0 = 1_772_348_400_000  # 2026-03-01T07:00:00Z


def receipt(number: int, kind: ReceiptKind, *pays: tuple[PaymentMethod, int]) -> Receipt:
    return Receipt(
        uid=f"00000000-0000-4000-8000-{number:012d}",
        number=number,
        kind=kind,
        closed_at=T0 + number * 60_000,
        payments=tuple(Payment(m, a) for m, a in pays),
    )


# A shift worked out by hand (kopecks):
#   sales    cash 1000 + 300 = 1300    noncash 2500 + 700 = 3200
#   returns  cash 200                  noncash 500
#   revenue  cash 1100                 noncash 2700
#   cash in 5000, cash out 1500, drawer 1100 + 5000 - 1500 = 4600
#   the CANCELLED receipt's 99900 counts toward nothing but receipts_count (8)
RECEIPTS = (
    receipt(1, CASH_IN, (CASH, 5000)),
    receipt(2, SALE, (CASH, 1000)),
    receipt(3, SALE, (NONCASH, 2500)),
    receipt(4, SALE, (CASH, 300), (NONCASH, 700)),
    receipt(5, CANCELLED, (CASH, 99_900)),
    receipt(6, RETURN, (CASH, 200)),
    receipt(7, RETURN, (NONCASH, 500)),
    receipt(8, CASH_OUT, (CASH, 1500)),
)
HONEST = ShiftCounters(
    receipts_count=8,
    first_receipt_number=1,
    last_receipt_number=8,
    sales_cash=1300,
    sales_noncash=3200,
    returns_cash=200,
    returns_noncash=500,
    cash_in=5000,
    cash_out=1500,
    drawer=4600,
)


def shift(counters: ShiftCounters | None = HONEST) -> Shift:
    return Shift("S1", "R1", 12, opened_at=T0, closed_at=T0 + 12 * 3_600_000, counters=counters)


def test_totals_worked_out_by_hand() -> None:
    totals = compute_totals(RECEIPTS)
    assert totals == Totals(
        receipts_count=8,
        sales_cash=1300,
        sales_noncash=3200,
        returns_cash=200,
        returns_noncash=500,
        cash_in=5000,
        cash_out=1500,
    )
    assert (totals.revenue_cash, totals.revenue_noncash, totals.drawer) == (1100, 2700, 4600)


def test_a_cancelled_receipt_counts_only_as_a_receipt() -> None:
    with_cancelled = compute_totals(
        [receipt(1, SALE, (CASH, 100)), receipt(2, CANCELLED, (CASH, 5))]
    )
    without = compute_totals([receipt(1, SALE, (CASH, 100))])
    assert with_cancelled == dataclasses.replace(without, receipts_count=2)


def test_returns_can_make_revenue_and_drawer_negative() -> None:
    totals = compute_totals([receipt(1, RETURN, (CASH, 700), (NONCASH, 50))])
    assert (totals.revenue_cash, totals.revenue_noncash, totals.drawer) == (-700, -50, -700)


def test_no_receipts_is_all_zero() -> None:
    assert compute_totals([]) == Totals()


def test_an_honest_shift_is_ok() -> None:
    assert make_report(41, shift(), RECEIPTS).status is ShiftStatus.OK


def test_a_shift_without_counters_is_no_counters_even_with_gaps() -> None:
    report = make_report(41, shift(None), RECEIPTS[::2])
    assert report.status is ShiftStatus.NO_COUNTERS


def test_a_missing_receipt_number_is_incomplete_before_mismatch() -> None:
    # Receipt 6 is missing: the sums also disagree, but "incomplete" applies first.
    report = make_report(41, shift(), [r for r in RECEIPTS if r.number != 6])
    assert report.status is ShiftStatus.INCOMPLETE


def test_counters_reaching_past_the_stored_receipts_are_incomplete() -> None:
    counters = structs.replace(HONEST, last_receipt_number=9, receipts_count=9)
    assert make_report(41, shift(counters), RECEIPTS).status is ShiftStatus.INCOMPLETE


@pytest.mark.parametrize("name", [n for n in COUNTER_FIELDS if "receipt_number" not in n])
@pytest.mark.parametrize("delta", [1, -1])
def test_any_counter_off_by_one_kopeck_is_a_mismatch(name: str, delta: int) -> None:
    counters = structs.replace(HONEST, **{name: getattr(HONEST, name) + delta})
    assert make_report(41, shift(counters), RECEIPTS).status is ShiftStatus.MISMATCH


def test_a_register_that_does_not_count_cancelled_receipts_is_a_mismatch() -> None:
    counters = structs.replace(HONEST, receipts_count=7)
    assert make_report(41, shift(counters), RECEIPTS).status is ShiftStatus.MISMATCH


def test_a_receipt_numbered_outside_the_counters_is_a_mismatch() -> None:
    extra = (*RECEIPTS, receipt(9, CANCELLED))
    assert make_report(41, shift(), extra).status is ShiftStatus.MISMATCH


def test_an_empty_shift_with_zero_counters_is_ok() -> None:
    assert make_report(41, shift(ShiftCounters()), []).status is ShiftStatus.OK


def test_a_repeated_receipt_number_does_not_fill_a_gap() -> None:
    twice = [r for r in RECEIPTS if r.number != 6]
    twice.append(structs.replace(RECEIPTS[6], uid="00000000-0000-4000-8000-00000000aaaa"))
    assert make_report(41, shift(), twice).status is ShiftStatus.INCOMPLETE


def test_the_row_has_the_spec_keys_and_hand_computed_values() -> None:
    report = make_report(41, shift(), reversed(RECEIPTS))
    row = reconciliation_row(41, report.shift, report.totals, report.status)
    assert row == {
        "workshift_id": 41,
        "store_code": "S1",
        "register_code": "R1",
        "shift_number": 12,
        "opened_at": "2026-03-01T07:00:00Z",
        "closed_at": "2026-03-01T19:00:00Z",
        "receipts_count": 8,
        "sales_cash": 1300,
        "sales_noncash": 3200,
        "returns_cash": 200,
        "returns_noncash": 500,
        "revenue_cash": 1100,
        "revenue_noncash": 2700,
        "drawer": 4600,
        "cash_in": 5000,
        "cash_out": 1500,
        "status": "ok",
    }
    assert [r.number for r in report.receipts] == list(range(1, 9))


def test_times_are_iso_utc() -> None:
    assert iso_utc(None) is None
    assert iso_utc(0) == "1970-01-01T00:00:00Z"
    assert iso_utc(T0 + 5) == "2026-03-01T07:00:00.005Z"


# -- properties ---------------------------------------------------------------------

kinds = st.sampled_from(list(ReceiptKind))
pays = st.tuples(st.sampled_from(list(PaymentMethod)), st.integers(0, 10**9))
receipt_lists = st.lists(
    st.builds(
        lambda n, k, p: receipt(n, k, *p),
        st.integers(1, 10_000),
        kinds,
        st.lists(pays, max_size=3),
    ),
    max_size=30,
)


@given(receipt_lists, receipt_lists)
def test_totals_add_up_over_any_split(first: list[Receipt], second: list[Receipt]) -> None:
    a, b, both = compute_totals(first), compute_totals(second), compute_totals(first + second)
    for name in (f.name for f in dataclasses.fields(Totals)):
        assert getattr(both, name) == getattr(a, name) + getattr(b, name)
    assert both.drawer == a.drawer + b.drawer


@given(receipt_lists)
def test_totals_follow_the_spec_definitions(receipts: list[Receipt]) -> None:
    def paid(kind: ReceiptKind, method: PaymentMethod) -> int:
        return sum(
            p.amount for r in receipts if r.kind is kind for p in r.payments if p.method is method
        )

    totals = compute_totals(receipts)
    assert totals.receipts_count == len(receipts)
    assert totals.revenue_cash == paid(SALE, CASH) - paid(RETURN, CASH)
    assert totals.revenue_noncash == paid(SALE, NONCASH) - paid(RETURN, NONCASH)
    assert totals.drawer == totals.revenue_cash + paid(CASH_IN, CASH) - paid(CASH_OUT, CASH)


@given(st.integers(0, 40), st.integers(0, 1000))
def test_a_generated_closed_shift_reconciles_to_ok(receipts: int, seed: int) -> None:
    upload = generate_upload(ShiftPlan("S1", "R1", 3, receipts=receipts, seed=seed))
    assert make_report(1, upload.shift, upload.receipts).status is ShiftStatus.OK

"""Realistic, deterministic shifts for the emulator, the tests and the benchmarks.

A generated shift has sales (cash and card), returns, a cancelled receipt now and
then, cash in at the start and cash out at the end, and counters that match its
receipts, so an honest load reconciles to ``ok``. The same plan always gives the
same shift, uids included.

Shift ``n`` opens at 08:00 on day ``n`` counted from the plan's ``day_one_ms``
(1 January 2026 UTC unless the plan says otherwise; the emulator's commands date
their shifts so that the last one has just closed, see :func:`day_one_ending_at`),
and closes 13 hours later. Like a real drawer, the generated one never goes below
zero: a return is paid in cash only as far as the drawer holds it (the rest by
card), and the cash out at the end takes at most what is in it.
"""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass

from cashserver.clock import DAY_MS, HOUR_MS
from cashserver.domain import (
    Line,
    Payment,
    PaymentMethod,
    Receipt,
    ReceiptKind,
    Shift,
    Upload,
)
from cashserver.reconcile import compute_totals, counters_from_totals

MINUTE_MS = 60_000
BASE_TIME_MS = 1_767_225_600_000  # 2026-01-01T00:00:00Z: shift n opens n - 1 days later
OPEN_AFTER_MS = 8 * HOUR_MS
"""A shift opens this long after the start of its day..."""
SHIFT_MS = 13 * HOUR_MS
"""...and closes this long after it opened; its receipts fall in the first 12 hours."""
CLOSED_BEFORE_NOW_MS = 2 * MINUTE_MS
"""How long before now the emulator's last shift closed, at least."""

CATALOG = (
    ("1001", "4601234567890", "Хлеб пшеничный", 4590, 1000, "1", 1000),
    ("1002", "4601234567891", "Молоко 3,2% 1 л", 8990, 1000, "1", 1000),
    ("1003", "4601234567892", "Сыр российский", 74900, 0, "2", 1000),
    ("1004", "4601234567893", "Яблоки", 12990, 0, "3", 1000),
    ("1005", "4601234567894", "Кофе молотый 250 г", 45900, 1000, "2", 2000),
    ("1006", "4601234567895", "Вода питьевая 1,5 л", 5490, 1000, "1", 2000),
    ("1007", "4601234567896", "Шоколад; горький", 11990, 1000, "2", 2000),
    ("1008", "4601234567897", "Пакет-майка", 500, 1000, "4", 2000),
)
CASHIERS = ("Иванова А.", "Петров Б.", "Smith C.")


@dataclass(frozen=True, slots=True)
class ShiftPlan:
    store_code: str
    register_code: str
    shift_number: int
    receipts: int
    lines_per_receipt: int = 3
    seed: int = 0
    closed: bool = True
    day_one_ms: int = BASE_TIME_MS
    """The start of shift 1's day: shift ``n`` opens ``n - 1`` days and 8 hours after it."""


def _uid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def _lines(rng: random.Random, count: int) -> tuple[Line, ...]:
    result = []
    for position in range(1, count + 1):
        code, barcode, name, price, piece, department, vat = rng.choice(CATALOG)
        quantity = rng.randint(1, 3) * 1000 if piece else rng.randint(150, 2500)
        gross = price * quantity // 1000
        discount = gross // 20 if rng.random() < 0.1 else 0
        result.append(
            Line(
                position=position,
                item_code=code,
                barcode=barcode,
                name=name,
                department=department,
                quantity=quantity,
                price=price,
                amount=gross - discount,
                discount=discount,
                vat_rate=vat,
            )
        )
    return tuple(result)


def _payments(rng: random.Random, total: int) -> tuple[Payment, ...]:
    roll = rng.random()
    if roll < 0.45:
        return (Payment(PaymentMethod.CASH, total),)
    if roll < 0.9 or total < 2:
        return (Payment(PaymentMethod.NONCASH, total),)
    cash = rng.randint(1, total - 1)
    return (Payment(PaymentMethod.CASH, cash), Payment(PaymentMethod.NONCASH, total - cash))


def opened_at_for(shift_number: int, day_one_ms: int = BASE_TIME_MS) -> int:
    """The open time the generator gives shift ``shift_number``: 08:00 of its day."""
    return day_one_ms + (shift_number - 1) * DAY_MS + OPEN_AFTER_MS


def day_one_ending_at(now_ms: int, last_shift: int) -> int:
    """The ``day_one_ms`` with which shift ``last_shift`` closes shortly before
    ``now_ms`` (at least :data:`CLOSED_BEFORE_NOW_MS` and under a minute more; on a
    whole minute), so that no generated time is in the future."""
    closes = now_ms - CLOSED_BEFORE_NOW_MS
    closes -= closes % MINUTE_MS
    return closes - SHIFT_MS - OPEN_AFTER_MS - (last_shift - 1) * DAY_MS


def _within_drawer(payments: tuple[Payment, ...], drawer: int) -> tuple[Payment, ...]:
    """A return's payments with no more cash than the drawer holds (the rest by card)."""
    cash = sum(p.amount for p in payments if p.method is PaymentMethod.CASH)
    if cash <= drawer:
        return payments
    noncash = sum(p.amount for p in payments if p.method is PaymentMethod.NONCASH)
    moved = ((Payment(PaymentMethod.CASH, drawer),) if drawer else ()) + (
        Payment(PaymentMethod.NONCASH, noncash + cash - drawer),
    )
    return moved


def _cash(kind: ReceiptKind, payments: tuple[Payment, ...]) -> int:
    """What a receipt puts into the drawer (negative: takes out)."""
    cash = sum(p.amount for p in payments if p.method is PaymentMethod.CASH)
    if kind in (ReceiptKind.SALE, ReceiptKind.CASH_IN):
        return cash
    if kind in (ReceiptKind.RETURN, ReceiptKind.CASH_OUT):
        return -cash
    return 0


def generate_upload(plan: ShiftPlan) -> Upload:
    """A whole shift as one upload; receipts 1..N, counters matching when closed."""
    rng = random.Random(f"{plan.seed}/{plan.store_code}/{plan.register_code}/{plan.shift_number}")
    opened = opened_at_for(plan.shift_number, plan.day_one_ms)
    step = max(1, (12 * HOUR_MS) // max(plan.receipts, 1))
    receipts: list[Receipt] = []
    drawer = 0
    for number in range(1, plan.receipts + 1):
        at = opened + number * step
        cashier = rng.choice(CASHIERS)
        if number == 1 and plan.receipts > 2:
            kind = ReceiptKind.CASH_IN
        elif number == plan.receipts and plan.receipts > 2:
            kind = ReceiptKind.CASH_OUT
        else:
            roll = rng.random()
            kind = (
                ReceiptKind.RETURN
                if roll < 0.05
                else ReceiptKind.CANCELLED
                if roll < 0.07
                else ReceiptKind.SALE
            )
        if kind in (ReceiptKind.CASH_IN, ReceiptKind.CASH_OUT):
            lines: tuple[Line, ...] = ()
            amount = rng.randint(1, 50) * 10_000
            if kind is ReceiptKind.CASH_OUT:
                amount = min(amount, drawer)  # never more than the drawer holds
            payments: tuple[Payment, ...] = (Payment(PaymentMethod.CASH, amount),)
        else:
            lines = _lines(rng, max(1, rng.randint(1, 2 * plan.lines_per_receipt - 1)))
            payments = _payments(rng, sum(line.amount for line in lines))
            if kind is ReceiptKind.RETURN:
                payments = _within_drawer(payments, drawer)
        drawer += _cash(kind, payments)
        receipts.append(Receipt(_uid(rng), number, kind, at, cashier, lines, payments))
    closed_at = opened + SHIFT_MS if plan.closed else None
    counters = (
        counters_from_totals(compute_totals(receipts), 1 if receipts else 0, len(receipts))
        if plan.closed
        else None
    )
    shift = Shift(
        store_code=plan.store_code,
        register_code=plan.register_code,
        shift_number=plan.shift_number,
        opened_at=opened,
        closed_at=closed_at,
        counters=counters,
    )
    return Upload(shift, tuple(receipts))

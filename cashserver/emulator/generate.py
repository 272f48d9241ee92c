"""Realistic, deterministic shifts for the emulator, the tests and the benchmarks.

A generated shift has sales (cash and card), returns, a cancelled receipt now and
then, cash in at the start and cash out at the end, and counters that match its
receipts, so an honest load reconciles to ``ok``. The same seed always gives the
same shift, uids included.
"""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass

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

HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS
BASE_TIME_MS = 1_767_225_600_000  # 2026-01-01T00:00:00Z: shift n opens n days later

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


def opened_at_for(shift_number: int) -> int:
    """The open time the generator gives shift ``shift_number``: 08:00 UTC of its day."""
    return BASE_TIME_MS + (shift_number - 1) * DAY_MS + 8 * HOUR_MS


def generate_upload(plan: ShiftPlan) -> Upload:
    """A whole shift as one upload; receipts 1..N, counters matching when closed."""
    rng = random.Random(f"{plan.seed}/{plan.store_code}/{plan.register_code}/{plan.shift_number}")
    opened = opened_at_for(plan.shift_number)
    step = max(1, (12 * HOUR_MS) // max(plan.receipts, 1))
    receipts: list[Receipt] = []
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
            payments: tuple[Payment, ...] = (
                Payment(PaymentMethod.CASH, rng.randint(1, 50) * 10_000),
            )
        else:
            lines = _lines(rng, max(1, rng.randint(1, 2 * plan.lines_per_receipt - 1)))
            payments = _payments(rng, sum(line.amount for line in lines))
        receipts.append(Receipt(_uid(rng), number, kind, at, cashier, lines, payments))
    if receipts and receipts[-1].kind is ReceiptKind.CASH_OUT:
        # Never take out more cash than the drawer holds.
        drawer = compute_totals(receipts[:-1]).drawer
        last = receipts[-1]
        amount = max(0, min(last.payments[0].amount, drawer))
        receipts[-1] = Receipt(
            last.uid,
            last.number,
            last.kind,
            last.closed_at,
            last.cashier,
            (),
            (Payment(PaymentMethod.CASH, amount),),
        )
    closed_at = opened + 13 * HOUR_MS if plan.closed else None
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

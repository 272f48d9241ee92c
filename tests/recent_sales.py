"""Shifts with sales at chosen recent moments, for tests of what "today" and "the last
30 days" show (the emulator's generator dates its shifts in a fixed past)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from cashserver.domain import Line, Payment, PaymentMethod, Receipt, ReceiptKind, Shift, Upload
from cashserver.reconcile import compute_totals, counters_from_totals

_uids = iter(range(10**6, 10**9))


def sale(
    closed_at: int, kopecks: int, number: int, kind: ReceiptKind = ReceiptKind.SALE
) -> Receipt:
    """A one-line receipt paid in cash."""
    return Receipt(
        str(uuid.UUID(int=next(_uids), version=4)),
        number,
        kind,
        closed_at,
        cashier="Test",
        lines=(Line(1, "A1", "", "Bread", "Bakery", 1000, kopecks, kopecks),),
        payments=(Payment(PaymentMethod.CASH, kopecks),),
    )


def shift_upload(
    store: str,
    register: str,
    number: int,
    sales: Sequence[tuple[int, int]],
    closed: bool = True,
    opened_at: int | None = None,
    returns: Sequence[tuple[int, int]] = (),
) -> Upload:
    """A shift of ``(closed_at, kopecks)`` sales (then returns), numbered 1..N; closed
    with matching counters, a minute after its last sale, unless ``closed`` is False."""
    kinds = [ReceiptKind.SALE] * len(sales) + [ReceiptKind.RETURN] * len(returns)
    receipts = tuple(
        sale(at, kopecks, i + 1, kind)
        for i, ((at, kopecks), kind) in enumerate(zip([*sales, *returns], kinds, strict=True))
    )
    first = opened_at if opened_at is not None else min(at for at, _ in sales) - 60_000
    if not closed:
        return Upload(Shift(store, register, number, first), receipts)
    counters = counters_from_totals(compute_totals(receipts), 1, len(receipts))
    last = max(at for at, _ in sales) + 60_000
    return Upload(Shift(store, register, number, first, last, counters), receipts)

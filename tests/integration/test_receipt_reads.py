"""Stored receipts read back whole, on SQLite and PostgreSQL: the exporter's shift read
and the generic read by condition give the receipts exactly as they were loaded."""

from __future__ import annotations

import uuid

from sqlalchemy import Engine

from cashserver.domain import (
    Line,
    Payment,
    PaymentMethod,
    Receipt,
    ReceiptKind,
    Shift,
    ShiftCounters,
    Upload,
    UploadStatus,
)
from cashserver.store.receipt_reads import read_receipts, read_shift_receipts
from cashserver.store.repository import Repository
from cashserver.store.schema import receipts

T0 = 1_772_348_400_000  # 2026-03-01T07:00:00Z
CASH, NONCASH = PaymentMethod.CASH, PaymentMethod.NONCASH


def uid(tag: int, number: int) -> str:
    return str(uuid.UUID(int=(tag << 64) | number, version=4))


def line(position: int, name: str, quantity: int, price: int, discount: int = 0) -> Line:
    amount = price * quantity // 1000 - discount
    code, barcode = f"C{position}", f"46{position:011d}"
    return Line(position, code, barcode, name, "2", quantity, price, amount, discount, 2000)


SHIFT_A = Shift("shop-01", "K1", 7, T0, T0 + 3_600_000, ShiftCounters(receipts_count=3))
SHIFT_B = Shift("shop-01", "K2", 9, T0, None)
SALE = Receipt(
    uid(1, 1),
    1,
    ReceiptKind.SALE,
    T0 + 1_000,
    "Кассир «Анна»",
    (line(1, "Молоко 3,2 %", 1_000, 8_990), line(2, "Хлеб", 2_000, 4_550, discount=455)),
    (Payment(CASH, 5_000), Payment(NONCASH, 12_635)),
)
CANCELLED = Receipt(
    uid(1, 2), 2, ReceiptKind.CANCELLED, T0 + 2_000, "", (line(1, "Сыр", 548, 99_900),)
)
CASH_IN = Receipt(
    uid(1, 3), 3, ReceiptKind.CASH_IN, T0 + 3_000, "Старший", (), (Payment(CASH, 100_000),)
)
TEA = (line(1, "Чай", 1_000, 25_000),)
OTHER = Receipt(uid(2, 1), 1, ReceiptKind.RETURN, T0 + 1_500, "", TEA, (Payment(NONCASH, 25_000),))


def load(engine: Engine) -> tuple[int, int]:
    """Shift A in two batches with shift B's receipt between: A's receipt ids have a gap."""
    repository = Repository(engine)
    first = repository.load_batch([Upload(SHIFT_A, (SALE, CANCELLED)), Upload(SHIFT_B, (OTHER,))])
    [again] = repository.load_batch([Upload(SHIFT_A, (CASH_IN,))])
    assert all(o.status is UploadStatus.LOADED for o in [*first, again])
    assert again.workshift_id == first[0].workshift_id
    return first[0].workshift_id, first[1].workshift_id


def test_a_shift_reads_back_whole_in_stored_order(engine: Engine) -> None:
    shift_a, shift_b = load(engine)
    with engine.connect() as conn:
        found = read_shift_receipts(conn, shift_a)
        assert found == [SALE, CANCELLED, CASH_IN]
        assert read_shift_receipts(conn, shift_b) == [OTHER]
        assert read_shift_receipts(conn, shift_b + shift_a + 1000) == []
    # Members of the enums, not their values, and named tuples, not plain ones.
    assert found[0].kind is ReceiptKind.SALE and found[2].kind is ReceiptKind.CASH_IN
    assert [p.method for p in found[0].payments] == [CASH, NONCASH]
    assert found[0].payments[1].method is NONCASH
    assert all(type(item) is Line for item in found[0].lines)
    assert type(found[2].payments[0]) is Payment


def test_the_generic_read_gives_the_same_receipts(engine: Engine) -> None:
    shift_a, shift_b = load(engine)
    with engine.connect() as conn:
        by_shift = read_receipts(conn, receipts.c.workshift_id == shift_a)
        assert by_shift == read_shift_receipts(conn, shift_a)
        some = read_receipts(conn, receipts.c.uid.in_([CASH_IN.uid, OTHER.uid, uid(9, 9)]))
        assert some == [OTHER, CASH_IN]  # in the order they were stored
        assert read_receipts(conn, receipts.c.workshift_id == shift_b) == [OTHER]

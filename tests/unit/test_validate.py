"""Structural validation (SPEC section 3): every fault named by its field path."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st
from msgspec import structs

from cashserver.domain import (
    Line,
    Payment,
    PaymentMethod,
    Receipt,
    ReceiptKind,
    Shift,
    ShiftCounters,
    Upload,
)
from cashserver.emulator.generate import ShiftPlan, generate_upload
from cashserver.sales_file import BrokenSalesFile, decode_sales_file, encode_sales_file
from cashserver.validate import (
    ValidationError,
    payment_method,
    receipt_kind,
    validate_upload,
)
from tests.strategies import uploads

BASE = generate_upload(ShiftPlan("S1", "R1", 5, receipts=15, seed=3))


def replaced(item: Any, **changes: Any) -> Any:
    """A copy of a domain value with some fields changed (struct or named tuple)."""
    if isinstance(item, msgspec.Struct):
        return structs.replace(item, **changes)
    return item._replace(**changes)


def with_receipt(upload: Upload, index: int, **changes: Any) -> Upload:
    receipts = list(upload.receipts)
    receipts[index] = structs.replace(receipts[index], **changes)
    return Upload(upload.shift, tuple(receipts))


def with_line(upload: Upload, index: int, **changes: Any) -> Upload:
    receipt = upload.receipts[index]
    lines = (replaced(receipt.lines[0], **changes), *receipt.lines[1:])
    return with_receipt(upload, index, lines=lines)


def with_payment(upload: Upload, index: int, **changes: Any) -> Upload:
    receipt = upload.receipts[index]
    pays = (replaced(receipt.payments[0], **changes), *receipt.payments[1:])
    return with_receipt(upload, index, payments=pays)


def with_shift(upload: Upload, **changes: Any) -> Upload:
    return Upload(structs.replace(upload.shift, **changes), upload.receipts)


def fault(upload: Upload) -> str:
    """The fault :func:`validate_upload` names, after checking that the writer's door,
    a sales file decoded with the rules as msgspec constraints, names the same one."""
    with pytest.raises(ValidationError) as caught:
        validate_upload(upload)
    with pytest.raises(BrokenSalesFile) as broken:
        decode_sales_file(encode_sales_file(upload, "test", 0))
    assert str(broken.value) == str(caught.value)
    return str(caught.value)


def test_a_generated_upload_is_valid_and_returned_unchanged() -> None:
    assert validate_upload(BASE) == BASE
    assert decode_sales_file(encode_sales_file(BASE, "test", 0))[0] == BASE


@given(uploads())
def test_a_valid_upload_passes_both_doors_alike(upload: Upload) -> None:
    """Whatever validate_upload accepts, the sales file of it decodes to the same upload."""
    checked = validate_upload(upload)
    assert decode_sales_file(encode_sales_file(upload, "test", 0))[0] == checked


@pytest.mark.parametrize(
    ("uid", "message"),
    [
        ("not-a-uuid", "receipts[12].uid: not a UUID"),
        ("", "receipts[12].uid: missing"),
        ("6f1c2b1a8e2d4c3b9a7f0e1d2c3b4a59", "receipts[12].uid: not a UUID"),
        ("{6f1c2b1a-8e2d-4c3b-9a7f-0e1d2c3b4a59}", "receipts[12].uid: not a UUID"),
        ("6f1c2b1a-8e2d-4c3b-9a7f-0e1d2c3b4a5", "receipts[12].uid: not a UUID"),
        ("6f1c2b1a-8e2d-4c3b-9a7f-0e1d2c3b4g59", "receipts[12].uid: not a UUID"),
        (" 6f1c2b1a-8e2d-4c3b-9a7f-0e1d2c3b4a59", "receipts[12].uid: not a UUID"),
    ],
)
def test_a_bad_uid_is_named_by_its_path(uid: str, message: str) -> None:
    assert fault(with_receipt(BASE, 12, uid=uid)) == message


def test_the_error_carries_field_and_message_apart() -> None:
    with pytest.raises(ValidationError) as caught:
        validate_upload(with_receipt(BASE, 12, uid="nope"))
    assert (caught.value.field, caught.value.message) == ("receipts[12].uid", "not a UUID")


def test_an_upper_case_uid_is_accepted_and_given_back_lower_case() -> None:
    upper = Upload(BASE.shift, tuple(structs.replace(r, uid=r.uid.upper()) for r in BASE.receipts))
    assert upper != BASE
    assert validate_upload(upper) == BASE
    assert decode_sales_file(encode_sales_file(upper, "test", 0))[0] == BASE


@given(st.uuids(), st.lists(st.booleans(), min_size=36, max_size=36))
def test_a_uid_in_any_case_is_stored_in_its_canonical_lower_form(
    uid: Any, upper: list[bool]
) -> None:
    text = "".join(c.upper() if up else c for c, up in zip(str(uid), upper, strict=True))
    checked = validate_upload(with_receipt(BASE, 0, uid=text))
    assert checked.receipts[0].uid == str(uid)
    assert checked.receipts[1:] == BASE.receipts[1:]


@pytest.mark.parametrize(
    ("field", "message"),
    [
        ("quantity", "receipts[3].lines[0].quantity: must not be negative"),
        ("price", "receipts[3].lines[0].price: must not be negative"),
        ("amount", "receipts[3].lines[0].amount: must not be negative"),
        ("discount", "receipts[3].lines[0].discount: must not be negative"),
    ],
)
def test_a_negative_line_value_is_named(field: str, message: str) -> None:
    assert fault(with_line(BASE, 3, **{field: -1})) == message


def test_a_negative_payment_is_named() -> None:
    assert fault(with_payment(BASE, 4, amount=-100)) == (
        "receipts[4].payments[0].amount: must not be negative"
    )


def test_a_negative_counter_is_named() -> None:
    assert BASE.shift.counters is not None
    counters = structs.replace(BASE.shift.counters, cash_out=-1)
    assert (
        fault(with_shift(BASE, counters=counters))
        == "shift.counters.cash_out: must not be negative"
    )


def test_money_beyond_int64_is_named() -> None:
    assert fault(with_payment(BASE, 4, amount=2**63)) == (
        "receipts[4].payments[0].amount: out of int64 range"
    )


@pytest.mark.parametrize("kind", [0, 6, -1])
def test_an_unknown_receipt_kind_is_named(kind: int) -> None:
    assert (
        fault(with_receipt(BASE, 7, kind=kind)) == f"receipts[7].kind: unknown ReceiptKind {kind}"
    )


@pytest.mark.parametrize("method", [0, 3])
def test_an_unknown_payment_method_is_named(method: int) -> None:
    assert fault(with_payment(BASE, 2, method=method)) == (
        f"receipts[2].payments[0].method: unknown PaymentMethod {method}"
    )


def test_transports_convert_wire_enums_with_the_same_paths() -> None:
    assert receipt_kind(3, "receipts[0].kind") is ReceiptKind.CANCELLED
    assert payment_method(2, "receipts[0].payments[1].method") is PaymentMethod.NONCASH
    with pytest.raises(ValidationError, match=r"^receipts\[0\]\.kind: unknown ReceiptKind 0$"):
        receipt_kind(0, "receipts[0].kind")
    with pytest.raises(ValidationError, match=r"^receipts\[1\]\.payments\[0\]\.method: "):
        payment_method(0, "receipts[1].payments[0].method")


CODE_MESSAGE = "must be 1-32 characters of A-Z a-z 0-9 _ -"


@pytest.mark.parametrize("code", ["", "S 1", "Магазин", "S/1", "x" * 33, "S1\n", "S.1"])
@pytest.mark.parametrize("field", ["store_code", "register_code"])
def test_a_code_outside_the_charset_is_named(field: str, code: str) -> None:
    assert fault(with_shift(BASE, **{field: code})) == f"shift.{field}: {CODE_MESSAGE}"


@given(st.text("ABCxyz019_-", min_size=1, max_size=32), st.text("Rr-_0", min_size=1, max_size=32))
def test_every_code_in_the_charset_is_accepted(store: str, register: str) -> None:
    upload = with_shift(BASE, store_code=store, register_code=register)
    assert validate_upload(upload) == upload


@pytest.mark.parametrize("number", [0, -5])
def test_a_receipt_number_below_one_is_named(number: int) -> None:
    assert fault(with_receipt(BASE, 9, number=number)) == "receipts[9].number: must be >= 1"


@pytest.mark.parametrize("number", [0, -1])
def test_a_shift_number_below_one_is_named(number: int) -> None:
    assert fault(with_shift(BASE, shift_number=number)) == "shift.shift_number: must be >= 1"


def test_a_receipt_without_a_time_is_named() -> None:
    assert fault(with_receipt(BASE, 1, closed_at=None)) == "receipts[1].closed_at: missing"


def test_the_first_fault_in_order_is_the_one_named() -> None:
    upload = with_receipt(with_receipt(BASE, 2, number=0), 8, uid="bad")
    assert fault(upload) == "receipts[2].number: must be >= 1"
    assert fault(with_shift(upload, register_code="")).startswith("shift.register_code: ")


# -- business inconsistencies are not structural faults ---------------------------


def sale(uid: str, number: int, lines: tuple[Line, ...], *pays: Payment) -> Receipt:
    return Receipt(uid, number, ReceiptKind.SALE, 1_767_254_400_000, "", lines, tuple(pays))


LINE = Line(1, "1001", "", "Хлеб", "1", 1000, 4590, 4590)


def test_payments_that_do_not_add_up_are_accepted() -> None:
    upload = Upload(
        Shift("S1", "R1", 1, opened_at=1_767_250_000_000),
        (
            sale(
                "00000000-0000-4000-8000-000000000001", 1, (LINE,), Payment(PaymentMethod.CASH, 1)
            ),
            sale("00000000-0000-4000-8000-000000000002", 2, (LINE,)),
            sale("00000000-0000-4000-8000-000000000003", 3, (), Payment(PaymentMethod.CASH, 500)),
        ),
    )
    assert validate_upload(upload) == upload


def test_counters_that_disagree_and_missing_numbers_are_accepted() -> None:
    counters = ShiftCounters(receipts_count=99, first_receipt_number=1, last_receipt_number=500)
    gappy = Upload(
        structs.replace(BASE.shift, counters=counters),
        tuple(r for r in BASE.receipts if r.number % 2),
    )
    assert validate_upload(gappy) == gappy


def test_a_shift_without_open_time_close_time_or_counters_is_accepted() -> None:
    bare = Upload(Shift("S1", "R1", 1), BASE.receipts)
    assert validate_upload(bare) == bare

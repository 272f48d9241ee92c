"""Structural validation of an upload (SPEC section 3).

One entry point, :func:`validate_upload`, returns the upload (with uids in their
canonical lower-case form) or raises :class:`ValidationError` naming the first
faulty field by its path, e.g. ``receipts[12].uid: not a UUID``. Business
inconsistencies (payments that do not add up, counters that disagree) are not
faults: they are stored and shown by reconciliation.

Transports call :func:`receipt_kind` and :func:`payment_method` while converting
wire enums, so an unknown value is reported with the same path style.
"""

from __future__ import annotations

import re

from msgspec import structs

from cashserver.domain import (
    CODE_PATTERN,
    COUNTER_FIELDS,
    INT64_MAX,
    MAX_TIME_MS,
    PAYMENT_METHODS,
    RECEIPT_KINDS,
    UID_PATTERN,
    Line,
    PaymentMethod,
    Receipt,
    ReceiptKind,
    Shift,
    ShiftRange,
    TimeRange,
    Upload,
)

CODE_RE = re.compile(CODE_PATTERN)
UID_RE = re.compile(UID_PATTERN)
_UID_MATCH = UID_RE.match

_LINE_MONEY = ("quantity", "price", "amount", "discount", "vat_rate")


class ValidationError(ValueError):
    """A structural fault: the whole upload is refused and nothing is stored."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


def receipt_kind(value: int, field: str) -> ReceiptKind:
    try:
        return RECEIPT_KINDS[value]
    except KeyError:
        raise ValidationError(field, f"unknown ReceiptKind {value}") from None


def payment_method(value: int, field: str) -> PaymentMethod:
    try:
        return PAYMENT_METHODS[value]
    except KeyError:
        raise ValidationError(field, f"unknown PaymentMethod {value}") from None


def canonical_uid(value: str, field: str) -> str:
    """The stored form of a receipt uid: lower case 8-4-4-4-12 hex."""
    if not isinstance(value, str):
        raise ValidationError(field, "not a UUID")
    lowered = value.lower()
    if UID_RE.fullmatch(lowered) is None:
        raise ValidationError(field, "missing" if not value else "not a UUID")
    return lowered


def check_code(value: str, field: str) -> str:
    """A store or register code (SPEC 1), or ValidationError naming ``field``."""
    if not isinstance(value, str) or CODE_RE.fullmatch(value) is None:
        raise ValidationError(field, "must be 1-32 characters of A-Z a-z 0-9 _ -")
    return value


def _check_int(value: int, field: str, minimum: int = 0) -> None:
    if type(value) is not int:
        raise ValidationError(field, "not an integer")
    if value < minimum:
        raise ValidationError(
            field, "must not be negative" if minimum == 0 else f"must be >= {minimum}"
        )
    if value > INT64_MAX:
        raise ValidationError(field, "out of int64 range")


def _check_time(value: int | None, field: str, required: bool) -> None:
    if value is None:
        if required:
            raise ValidationError(field, "missing")
        return
    if not isinstance(value, int) or isinstance(value, bool):
        raise ValidationError(field, "not a time")
    if not 0 <= value <= MAX_TIME_MS:
        raise ValidationError(field, "out of range (1970-01-01 to 9999-12-31)")


def validate_shift(shift: Shift) -> None:
    check_code(shift.store_code, "shift.store_code")
    check_code(shift.register_code, "shift.register_code")
    _check_int(shift.shift_number, "shift.shift_number", 1)
    _check_time(shift.opened_at, "shift.opened_at", False)
    _check_time(shift.closed_at, "shift.closed_at", False)
    if shift.counters is not None:
        for name in COUNTER_FIELDS:
            _check_int(getattr(shift.counters, name), f"shift.counters.{name}")


def _line_fault(line: Line, path: str) -> ValidationError:
    """The first fault of a line that failed the fast check."""
    if type(line.position) is not int or not 0 <= line.position <= INT64_MAX:
        return ValidationError(f"{path}.position", "must be a non-negative int64")
    for name in ("item_code", "barcode", "name", "department"):
        if type(getattr(line, name)) is not str:
            return ValidationError(f"{path}.{name}", "not a string")
    for name in _LINE_MONEY:
        try:
            _check_int(getattr(line, name), f"{path}.{name}")
        except ValidationError as exc:
            return exc
    return ValidationError(path, "not a line")


def _line_ok(line: Line) -> bool:
    """The fast check: every field of the right type and in range (spelled out: this
    runs for every line of every upload, and unrolled it is twice as fast)."""
    pos, item, barcode, name, dept, qty, price, amount, discount, vat = line
    top = INT64_MAX
    return (
        type(pos) is int
        and type(qty) is int
        and type(price) is int
        and type(amount) is int
        and type(discount) is int
        and type(vat) is int
        and type(item) is str
        and type(barcode) is str
        and type(name) is str
        and type(dept) is str
        and 0 <= pos <= top
        and 0 <= qty <= top
        and 0 <= price <= top
        and 0 <= amount <= top
        and 0 <= discount <= top
        and 0 <= vat <= top
    )


def _validate_receipt(receipt: Receipt, index: int) -> Receipt:
    """Check one receipt; paths are spelled out only for the fault that is raised."""
    uid, number, kind, closed_at, cashier, lines, payments = (
        receipt.uid,
        receipt.number,
        receipt.kind,
        receipt.closed_at,
        receipt.cashier,
        receipt.lines,
        receipt.payments,
    )
    lowered = uid.lower() if type(uid) is str else ""
    if _UID_MATCH(lowered) is None:
        canonical_uid(uid, f"receipts[{index}].uid")
    if type(number) is not int or not 1 <= number <= INT64_MAX:
        _check_int(number, f"receipts[{index}].number", 1)
    if kind.__class__ is not ReceiptKind:
        receipt_kind(kind, f"receipts[{index}].kind")
    if type(closed_at) is not int or not 0 <= closed_at <= MAX_TIME_MS:
        _check_time(closed_at, f"receipts[{index}].closed_at", True)
    if type(cashier) is not str:
        raise ValidationError(f"receipts[{index}].cashier", "not a string")
    for j, line in enumerate(lines):
        if not _line_ok(line):
            raise _line_fault(line, f"receipts[{index}].lines[{j}]")
    for j, (method, amount) in enumerate(payments):
        if method.__class__ is not PaymentMethod:
            payment_method(method, f"receipts[{index}].payments[{j}].method")
        if type(amount) is not int or not 0 <= amount <= INT64_MAX:
            _check_int(amount, f"receipts[{index}].payments[{j}].amount")
    return receipt if lowered == uid else structs.replace(receipt, uid=lowered)


def validate_upload(upload: Upload) -> Upload:
    """Return ``upload`` with canonical uids, or raise :class:`ValidationError`."""
    validate_shift(upload.shift)
    receipts = tuple([_validate_receipt(receipt, i) for i, receipt in enumerate(upload.receipts)])
    if all(a is b for a, b in zip(receipts, upload.receipts, strict=True)):
        return upload
    return Upload(upload.shift, receipts)


def check_time_range(query: TimeRange, path: str, from_name: str, to_name: str) -> TimeRange:
    """Return ``query`` or raise :class:`ValidationError` if it runs backwards.

    ``path`` names the range on the wire (``time_range``); ``from_name`` and
    ``to_name`` are its bounds' wire names, which differ between protocols.
    """
    if query.to_ms < query.from_ms:
        raise ValidationError(f"{path}.{to_name}", f"must not be before {from_name}")
    return query


def check_shift_range(query: ShiftRange, path: str) -> ShiftRange:
    """Return ``query`` or raise :class:`ValidationError` if a bound is below 1 or inverted."""
    if query.from_shift < 1:
        raise ValidationError(f"{path}.from_shift", "must be >= 1")
    if query.to_shift < query.from_shift:
        raise ValidationError(f"{path}.to_shift", "must not be below from_shift")
    return query

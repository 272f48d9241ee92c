"""The ATOL Frontol sales report text file, as 1C's "ККМ Offline" loads it.

One file a shift (``docs/formats/frontol/FORMAT.md``): three header lines
(``#``, the database id, the report number = the workshift_id), then one
transaction a line with 31 ``;``-separated fields and a trailing ``;``:

- ``62`` shift open (operation 8);
- per receipt ``42`` document open, one ``11`` per goods line, one ``40`` per
  payment, then ``55`` close, or ``56`` for a cancelled receipt; cash in and cash
  out are ``42`` / ``50`` or ``51`` / ``55`` with operation 4 or 5;
- ``61`` program totals and ``63`` Z-report (operation 10), only for a closed shift.

Transaction numbers run 1, 2, 3 ... without gaps. Dates and times are the store's
local wall-clock time (``dd.mm.yyyy``, ``h:mm:ss``), amounts use a decimal comma
(money with 2 digits, quantity with 3), lines end with CRLF and the file is
windows-1251: a ``;`` inside a value becomes ``¤``, line breaks and control
characters a space, and a character windows-1251 lacks is replaced by its
compatibility decomposition where that fits (``ĕ`` -> ``e``, ``ﬁ`` -> ``fi``),
else by ``?``.
"""

from __future__ import annotations

import codecs
import unicodedata
from datetime import datetime
from zoneinfo import ZoneInfo

from cashserver.config import Config
from cashserver.domain import PaymentMethod, Receipt, ReceiptKind
from cashserver.money import format_money
from cashserver.reconcile import ShiftReport

ENCODING = "cp1251"
FIELD_COUNT = 31
"""Fields 1-31 of FORMAT.md; those a transaction does not use are left empty."""

# Transaction types (field 4).
T_REGISTRATION = 11
T_PAYMENT = 40
T_DOCUMENT_OPEN = 42
T_CASH_IN = 50
T_CASH_OUT = 51
T_DOCUMENT_CLOSE = 55
T_DOCUMENT_CANCEL = 56
T_SHIFT_TOTALS = 61
T_SHIFT_OPEN = 62
T_Z_REPORT = 63

# Operations (field 13).
OP_SALE = 0
OP_RETURN = 1
OP_CASH_IN = 4
OP_CASH_OUT = 5
OP_SHIFT_OPEN = 8
OP_SHIFT_CLOSE = 10

_OPERATION = {
    ReceiptKind.SALE: OP_SALE,
    ReceiptKind.RETURN: OP_RETURN,
    ReceiptKind.CANCELLED: OP_SALE,
    ReceiptKind.CASH_IN: OP_CASH_IN,
    ReceiptKind.CASH_OUT: OP_CASH_OUT,
}
_CASH_TRANSACTION = {ReceiptKind.CASH_IN: T_CASH_IN, ReceiptKind.CASH_OUT: T_CASH_OUT}
_METHOD_FIELD = {PaymentMethod.CASH: "0", PaymentMethod.NONCASH: "1"}
"""Field 10 of a payment: 0 cash, 1 bank card."""

_VALUE_TRANSLATION = str.maketrans(
    {";": "¤", **{chr(c): " " for c in (*range(0x20), 0x7F)}},
)
_ERROR_HANDLER = "cashserver.frontol"


def _replace_unencodable(error: UnicodeError) -> tuple[str, int]:
    """Codec error handler: a windows-1251 stand-in for each character it lacks."""
    if not isinstance(error, UnicodeEncodeError):
        raise error
    return "".join(_stand_in(char) for char in error.object[error.start : error.end]), error.end


def _stand_in(char: str) -> str:
    if unicodedata.combining(char):
        return ""
    decomposed = unicodedata.normalize("NFKD", char).translate(_VALUE_TRANSLATION)
    if _encodable(decomposed):
        return decomposed
    bare = "".join(c for c in decomposed if not unicodedata.combining(c))
    return bare if bare and _encodable(bare) else "?"


def _encodable(text: str) -> bool:
    try:
        text.encode(ENCODING)
    except UnicodeEncodeError:
        return False
    return True


codecs.register_error(_ERROR_HANDLER, _replace_unencodable)


def _text(value: str) -> str:
    """A free-text value made safe for one field (the encoding happens once, at the end).

    Composing first keeps decomposed letters (``и`` + U+0306) as the windows-1251
    letter they spell (``й``).
    """
    if not unicodedata.is_normalized("NFC", value):
        value = unicodedata.normalize("NFC", value)
    return value.translate(_VALUE_TRANSLATION)


def _money(kopecks: int) -> str:
    return format_money(kopecks, point=",")


def _quantity(thousandths: int) -> str:
    sign = "-" if thousandths < 0 else ""
    units, fraction = divmod(abs(thousandths), 1000)
    return f"{sign}{units},{fraction:03d}"


def _unit_price(amount: int, quantity: int, fallback: int) -> int:
    """The final price per unit, rounded half up to a kopeck."""
    if quantity <= 0:
        return fallback
    return (amount * 1000 * 2 + quantity) // (quantity * 2)


class _ReportWriter:
    """Numbers transactions and lays out their fields."""

    def __init__(self, report: ShiftReport, tz: ZoneInfo) -> None:
        self._tz = tz
        self._register = report.shift.register_code
        self._shift_number = str(report.shift.shift_number)
        self._store = report.shift.store_code
        self._count = 0
        self._stamp_ms: int | None = None
        self._stamp = ("", "")
        self._document: tuple[str, str, str, str] | None = None
        """Fields 6, 7, 23 and 26 of the receipt being written; None outside one."""
        self._texts: dict[str, str] = {}
        self.lines: list[str] = []

    def _text(self, value: str) -> str:
        safe = self._texts.get(value)
        if safe is None:
            safe = self._texts[value] = _text(value)
        return safe

    def _date_time(self, ms: int) -> tuple[str, str]:
        if ms != self._stamp_ms:
            moment = datetime.fromtimestamp(ms // 1000, self._tz)
            self._stamp_ms = ms
            self._stamp = (
                f"{moment.day:02d}.{moment.month:02d}.{moment.year:04d}",
                f"{moment.hour}:{moment.minute:02d}:{moment.second:02d}",
            )
        return self._stamp

    def add(self, ms: int, transaction: int, operation: int, fields: dict[int, str]) -> None:
        self._count += 1
        values = [""] * FIELD_COUNT
        date, time = self._date_time(ms)
        values[0] = str(self._count)
        values[1] = date
        values[2] = time
        values[3] = str(transaction)
        values[4] = self._register
        values[12] = str(operation)
        values[13] = self._shift_number
        values[26] = self._store
        if self._document is not None:
            values[5], values[6], values[22], values[25] = self._document
        for field, value in fields.items():
            values[field - 1] = value
        self.lines.append(";".join(values) + ";\r\n")

    def receipt(self, receipt: Receipt) -> None:
        number = str(receipt.number)
        key = f"{self._register}/{self._shift_number}/{number}"
        self._document = (number, self._text(receipt.cashier), str(int(receipt.kind)), key)
        if receipt.kind in _CASH_TRANSACTION:
            self._cash_document(receipt)
        else:
            self._goods_document(receipt)
        self._document = None

    def _cash_document(self, receipt: Receipt) -> None:
        at, operation = receipt.closed_at, _OPERATION[receipt.kind]
        amount = _money(sum(p.amount for p in receipt.payments if p.method is PaymentMethod.CASH))
        self.add(at, T_DOCUMENT_OPEN, operation, {12: amount})
        self.add(at, _CASH_TRANSACTION[receipt.kind], operation, {12: amount})
        self.add(at, T_DOCUMENT_CLOSE, operation, {12: amount})

    def _goods_document(self, receipt: Receipt) -> None:
        at, operation = receipt.closed_at, _OPERATION[receipt.kind]
        cancelled = receipt.kind is ReceiptKind.CANCELLED
        quantity = _quantity(sum(line.quantity for line in receipt.lines))
        if cancelled:
            total = _money(sum(line.amount for line in receipt.lines))
        else:
            total = _money(sum(p.amount for p in receipt.payments))
        before_discount = _money(sum(line.amount + line.discount for line in receipt.lines))
        self.add(at, T_DOCUMENT_OPEN, operation, {11: quantity, 12: total, 20: before_discount})
        for line in receipt.lines:
            full = _money(line.amount + line.discount)
            fields = {
                8: self._text(line.item_code),
                10: _money(line.price),
                11: _quantity(line.quantity),
                12: full,
                15: _money(_unit_price(line.amount, line.quantity, line.price)),
                16: _money(line.amount),
                19: self._text(line.barcode),
                20: full,
                21: self._text(line.department),
            }
            self.add(at, T_REGISTRATION, operation, fields)
        for payment in receipt.payments:
            amount = _money(payment.amount)
            method = _METHOD_FIELD[payment.method]
            fields = {9: str(int(payment.method)), 10: method, 11: amount, 12: amount}
            self.add(at, T_PAYMENT, operation, fields)
        if cancelled:
            self.add(at, T_DOCUMENT_CANCEL, operation, {12: total})
        else:
            self.add(at, T_DOCUMENT_CLOSE, operation, {11: quantity, 12: total})


def _opened_ms(report: ShiftReport) -> int:
    """The shift's open time; when the register sent none, its first receipt's time."""
    shift = report.shift
    if shift.opened_at is not None:
        return shift.opened_at
    if report.receipts:
        return min(receipt.closed_at for receipt in report.receipts)
    return shift.closed_at if shift.closed_at is not None else 0


def render(report: ShiftReport, config: Config) -> bytes:
    """The Frontol report of one shift, windows-1251 with CRLF line ends."""
    writer = _ReportWriter(report, config.store_timezone(report.shift.store_code))
    writer.add(_opened_ms(report), T_SHIFT_OPEN, OP_SHIFT_OPEN, {})
    for receipt in report.receipts:
        writer.receipt(receipt)
    closed_at = report.shift.closed_at
    if closed_at is not None:
        totals = report.totals
        revenue = _money(totals.revenue_cash + totals.revenue_noncash)
        sales = _money(totals.sales_cash + totals.sales_noncash)
        writer.add(closed_at, T_SHIFT_TOTALS, OP_SHIFT_CLOSE, {10: revenue, 12: sales})
        writer.add(
            closed_at,
            T_Z_REPORT,
            OP_SHIFT_CLOSE,
            {10: revenue, 11: _money(totals.drawer), 12: sales},
        )
    header = f"#\r\n{config.exchange.frontol_database_id}\r\n{report.workshift_id}\r\n"
    return (header + "".join(writer.lines)).encode(ENCODING, _ERROR_HANDLER)

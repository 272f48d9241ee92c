"""A reader of Frontol sales report files, written from docs/formats/frontol/FORMAT.md
alone (a test utility).

It does what an accounting system's loader does: splits the file into CRLF lines,
reads the three header lines, then groups transaction lines into documents by
field 26 (``register/shift/document``), taking a document's total from field 12
of its 55 line, its operation from field 13, its items from field 16 of its 11
lines and its payments from field 12 of its 40 lines by method (field 10).
Transactions without field 26 (shift open, totals, Z-report) are kept apart.
Any departure from the format raises :class:`FrontolFormatError`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

CASH = 0
CARD = 1

_DATE_RE = re.compile(r"(0[1-9]|[12]\d|3[01])\.(0[1-9]|1[0-2])\.\d{4}")
_TIME_RE = re.compile(r"(1?\d|2[0-3]):[0-5]\d:[0-5]\d")
"""Hours are not zero-padded: ``9:05:00``, ``0:30:00``."""
_NUMBER_RE = re.compile(r"-?\d+(,\d+)?")
_FRONTOL_MIN_FIELDS = 27


class FrontolFormatError(ValueError):
    """The file is not a well-formed Frontol report."""


@dataclass
class Transaction:
    number: int
    date: str
    time: str
    type: int
    fields: list[str]
    """All fields, ``fields[0]`` being field 1."""

    def field(self, position: int) -> str:
        return self.fields[position - 1] if position <= len(self.fields) else ""

    def amount(self, position: int) -> int:
        """A money field in kopecks (empty is 0)."""
        return _scaled(self.field(position), 100, self.number, position)

    def quantity(self, position: int) -> int:
        """A quantity field in thousandths (empty is 0)."""
        return _scaled(self.field(position), 1000, self.number, position)


@dataclass
class Document:
    key: str
    """Field 26: ``register/shift/document``."""
    transactions: list[Transaction] = field(default_factory=list)
    operation: int | None = None
    total: int | None = None
    """Field 12 of the 55 line; None when the document was not closed."""
    cancelled: bool = False
    items_sum: int = 0
    payments: dict[int, int] = field(default_factory=dict)
    """Field 12 of the 40 lines, summed per method (field 10: 0 cash, 1 card)."""
    cash_in: int = 0
    cash_out: int = 0


@dataclass
class FrontolReport:
    flag: str
    database_id: str
    report_number: str
    documents: dict[str, Document]
    shift_transactions: list[Transaction]
    """Transactions outside documents (no field 26): shift open and close."""


def _scaled(text: str, scale: int, number: int, position: int) -> int:
    if text == "":
        return 0
    if _NUMBER_RE.fullmatch(text) is None:
        raise FrontolFormatError(f"transaction {number}, field {position}: not a number {text!r}")
    try:
        value = Decimal(text.replace(",", ".")) * scale
    except InvalidOperation:
        raise FrontolFormatError(f"transaction {number}, field {position}: {text!r}") from None
    if value != value.to_integral_value():
        raise FrontolFormatError(f"transaction {number}, field {position}: too precise {text!r}")
    return int(value)


def _decode(data: bytes) -> str:
    if data.startswith(b"\xef\xbb\xbf"):
        return data[3:].decode("utf-8")
    try:
        return data.decode("cp1251")
    except UnicodeDecodeError:
        raise FrontolFormatError("not windows-1251 text") from None


def _lines(text: str) -> list[str]:
    if not text.endswith("\r\n"):
        raise FrontolFormatError("the last line does not end with CRLF")
    lines = text[:-2].split("\r\n")
    for index, line in enumerate(lines, 1):
        if "\r" in line or "\n" in line:
            raise FrontolFormatError(f"line {index}: a line break that is not CRLF")
    return lines


def _transaction(line: str, index: int) -> Transaction:
    if not line.endswith(";"):
        raise FrontolFormatError(f"line {index}: no trailing ';'")
    fields = line[:-1].split(";")
    if len(fields) < _FRONTOL_MIN_FIELDS:
        raise FrontolFormatError(f"line {index}: {len(fields)} fields, expected 27 or more")
    number, date, time, kind = fields[:4]
    if not number.isdigit() or not kind.isdigit():
        raise FrontolFormatError(f"line {index}: transaction number or type not a number")
    if _DATE_RE.fullmatch(date) is None:
        raise FrontolFormatError(f"line {index}: date {date!r} is not dd.mm.yyyy")
    if _TIME_RE.fullmatch(time) is None:
        raise FrontolFormatError(f"line {index}: time {time!r} is not h:mm:ss")
    return Transaction(int(number), date, time, int(kind), fields)


def _apply(document: Document, transaction: Transaction) -> None:
    operation = transaction.field(13)
    if not operation.isdigit():
        raise FrontolFormatError(f"transaction {transaction.number}: no operation")
    if document.operation is None:
        document.operation = int(operation)
    elif document.operation != int(operation):
        raise FrontolFormatError(f"transaction {transaction.number}: operation changes")
    kind = transaction.type
    if kind in (1, 11):
        document.items_sum += transaction.amount(16)
    elif kind in (2, 12):
        document.items_sum -= transaction.amount(16)
    elif kind == 40:
        method = int(transaction.field(10))
        document.payments[method] = document.payments.get(method, 0) + transaction.amount(12)
    elif kind == 50:
        document.cash_in += transaction.amount(12)
    elif kind == 51:
        document.cash_out += transaction.amount(12)
    elif kind == 55:
        document.total = transaction.amount(12)
    elif kind == 56:
        document.cancelled = True


def read_report(data: bytes) -> FrontolReport:
    """Parse a Frontol report; raise :class:`FrontolFormatError` on any fault.

    Transaction numbers must run 1, 2, 3 ... with no gap and no repeat.
    """
    lines = _lines(_decode(data))
    if len(lines) < 3:
        raise FrontolFormatError("fewer than three header lines")
    flag, database_id, report_number = lines[:3]
    if flag not in ("#", "@"):
        raise FrontolFormatError(f"header flag {flag!r} is neither # nor @")
    if not database_id.isdigit() or not report_number.isdigit():
        raise FrontolFormatError("database id and report number must be numbers")
    documents: dict[str, Document] = {}
    shift_transactions: list[Transaction] = []
    for index, line in enumerate(lines[3:], 4):
        transaction = _transaction(line, index)
        expected = index - 3
        if transaction.number != expected:
            raise FrontolFormatError(
                f"line {index}: transaction number {transaction.number}, expected {expected}"
            )
        key = transaction.field(26)
        if not key:
            shift_transactions.append(transaction)
            continue
        if key.count("/") != 2:
            raise FrontolFormatError(f"line {index}: field 26 {key!r} is not register/shift/doc")
        document = documents.setdefault(key, Document(key))
        if document.total is not None or document.cancelled:
            raise FrontolFormatError(f"line {index}: document {key} continues after its close")
        document.transactions.append(transaction)
        _apply(document, transaction)
    return FrontolReport(flag, database_id, report_number, documents, shift_transactions)

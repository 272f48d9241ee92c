"""The words of SPEC section 1 as plain data.

Everything here is immutable and free of I/O. Money is int kopecks, quantity is
int thousandths, and time is int milliseconds since the Unix epoch (UTC): the
wire's Thrift form, exact in every backend, and cheap to compare and index.
``None`` is a null time (a shift whose open time the register did not send).

An upload's types (:class:`Upload`, :class:`Shift`, :class:`ShiftCounters`,
:class:`Receipt`) are frozen ``msgspec.Struct`` classes, lines and payments named
tuples: the writer decodes every sales file straight into them, and msgspec
builds them in C several times faster than frozen dataclasses. Their fields carry
SPEC 3's structural rules as msgspec constraints (:data:`Money`, :data:`Uid`, ...),
so that decoding a sales file this program wrote checks every rule on the way, in
C; objects built in Python (from the wire) are checked by
:func:`cashserver.validate.validate_upload`, which applies the same rules.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from typing import Annotated, NamedTuple, TypeAlias

import msgspec
from msgspec import Meta

EpochMs = int
"""Milliseconds since 1970-01-01T00:00:00Z."""

INT64_MAX = 2**63 - 1
MAX_TIME_MS = 253_402_300_799_999
"""9999-12-31T23:59:59.999Z: the last instant calendars and accounting can write."""
CODE_PATTERN = r"^[A-Za-z0-9_-]{1,32}\Z"
"""A store or register code (SPEC 1)."""
UID_PATTERN = r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\Z"
"""A receipt uid in its canonical (stored) form: lower-case 8-4-4-4-12 hex."""

# SPEC 3's structural rules as types msgspec checks while decoding (``\Z``, not
# ``$``: a code or uid must not end in a newline). For type checkers they are the
# plain types.
Money = Annotated[int, Meta(ge=0, le=INT64_MAX)]
"""A non-negative int64: kopecks, thousandths, hundredths of a percent, a position."""
Number = Annotated[int, Meta(ge=1, le=INT64_MAX)]
"""A receipt or shift number: 1 and up."""
Time = Annotated[int, Meta(ge=0, le=MAX_TIME_MS)]
Code = Annotated[str, Meta(pattern=CODE_PATTERN)]
Uid = Annotated[str, Meta(pattern=UID_PATTERN)]


class ReceiptKind(IntEnum):
    SALE = 1
    RETURN = 2
    CANCELLED = 3
    CASH_IN = 4
    CASH_OUT = 5


class PaymentMethod(IntEnum):
    CASH = 1
    NONCASH = 2


class UploadStatus(IntEnum):
    LOADED = 1
    QUEUED = 2
    REJECTED = 3


# The enums by wire value: a dict lookup is the fast way from an int to a member
# (``Enum(value)`` is several times slower), and a miss is an unknown value.
RECEIPT_KINDS: dict[int, ReceiptKind] = {int(k): k for k in ReceiptKind}
PAYMENT_METHODS: dict[int, PaymentMethod] = {int(m): m for m in PaymentMethod}
UPLOAD_STATUSES: dict[int, UploadStatus] = {int(s): s for s in UploadStatus}


class ShiftCounters(msgspec.Struct, frozen=True, gc=False):
    """The register's own totals for a shift, as it reported them."""

    receipts_count: Money = 0
    first_receipt_number: Money = 0
    last_receipt_number: Money = 0
    sales_cash: Money = 0
    sales_noncash: Money = 0
    returns_cash: Money = 0
    returns_noncash: Money = 0
    cash_in: Money = 0
    cash_out: Money = 0
    drawer: Money = 0


COUNTER_FIELDS: tuple[str, ...] = ShiftCounters.__struct_fields__


class Shift(msgspec.Struct, frozen=True, gc=False):
    """A shift header as a register sends it."""

    store_code: Code
    register_code: Code
    shift_number: Number
    opened_at: Time | None = None
    closed_at: Time | None = None
    counters: ShiftCounters | None = None


class Line(NamedTuple):
    """A receipt line. Lines and payments are named tuples: an upload holds thousands
    of them, and a tuple is built several times faster than a frozen dataclass (and
    is written to a sales file as a compact JSON array)."""

    position: Money
    item_code: str
    barcode: str
    name: str
    department: str
    quantity: Money
    price: Money
    amount: Money
    discount: Money = 0
    vat_rate: Money = 0
    """Hundredths of a percent: 2000 is 20 %."""


class Payment(NamedTuple):
    method: PaymentMethod
    amount: Money


class Receipt(msgspec.Struct, frozen=True, gc=False):
    uid: Uid
    """Canonical lower-case 8-4-4-4-12 UUID text."""
    number: Number
    kind: ReceiptKind
    closed_at: Time
    cashier: str = ""
    lines: tuple[Line, ...] = ()
    payments: tuple[Payment, ...] = ()


class Upload(msgspec.Struct, frozen=True, gc=False):
    """One shift and the receipts that came with it: the unit of every upload."""

    shift: Shift
    receipts: tuple[Receipt, ...] = ()


@dataclass(frozen=True, slots=True)
class UploadResult:
    """What a register is told about its upload (SPEC 4 UploadResult)."""

    workshift_id: int
    status: UploadStatus
    receipts_received: int
    receipts_stored: int = 0
    receipts_duplicate: int = 0
    message: str = ""


@dataclass(frozen=True, slots=True)
class Handshake:
    """A register's HandshakeRequest, as received (codes are not validated here)."""

    store_code: str
    register_code: str
    software_version: str = ""
    supported_protocols: tuple[int, ...] = ()
    register_time: EpochMs | None = None
    """The register's clock when it sent the request; None from older registers."""


@dataclass(frozen=True, slots=True)
class SyncSettings:
    """What the server tells a register in answer to its Handshake."""

    protocol_version: int
    grpc_endpoint: str
    thrift_endpoint: str
    tls_required: bool
    upload_batch_size: int
    server_time: EpochMs


@dataclass(frozen=True, slots=True)
class TimeRange:
    """Sales whose time falls in the half-open range ``[from_ms, to_ms)``."""

    from_ms: EpochMs
    to_ms: EpochMs


@dataclass(frozen=True, slots=True)
class ShiftRange:
    """Sales of the shifts numbered ``from_shift`` to ``to_shift``, both included."""

    from_shift: int
    to_shift: int


SalesQuery: TypeAlias = TimeRange | ShiftRange
"""A SalesRequest: exactly one of the two ranges."""

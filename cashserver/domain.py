"""The words of SPEC section 1 as plain data.

Everything here is immutable and free of I/O. Money is int kopecks, quantity is
int thousandths, and time is int milliseconds since the Unix epoch (UTC): the
wire's Thrift form, exact in every backend, and cheap to compare and index.
``None`` is a null time (a shift whose open time the register did not send).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from typing import NamedTuple, TypeAlias

EpochMs = int
"""Milliseconds since 1970-01-01T00:00:00Z."""


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


@dataclass(frozen=True, slots=True)
class ShiftCounters:
    """The register's own totals for a shift, as it reported them."""

    receipts_count: int = 0
    first_receipt_number: int = 0
    last_receipt_number: int = 0
    sales_cash: int = 0
    sales_noncash: int = 0
    returns_cash: int = 0
    returns_noncash: int = 0
    cash_in: int = 0
    cash_out: int = 0
    drawer: int = 0


COUNTER_FIELDS: tuple[str, ...] = tuple(ShiftCounters.__dataclass_fields__)


@dataclass(frozen=True, slots=True)
class Shift:
    """A shift header as a register sends it."""

    store_code: str
    register_code: str
    shift_number: int
    opened_at: EpochMs | None = None
    closed_at: EpochMs | None = None
    counters: ShiftCounters | None = None


class Line(NamedTuple):
    """A receipt line. Lines and payments are named tuples: an upload holds thousands
    of them, and a tuple is built several times faster than a frozen dataclass (and
    is written to a sales file as a compact JSON array)."""

    position: int
    item_code: str
    barcode: str
    name: str
    department: str
    quantity: int
    price: int
    amount: int
    discount: int = 0
    vat_rate: int = 0
    """Hundredths of a percent: 2000 is 20 %."""


class Payment(NamedTuple):
    method: PaymentMethod
    amount: int


@dataclass(frozen=True, slots=True)
class Receipt:
    uid: str
    """Canonical lower-case 8-4-4-4-12 UUID text."""
    number: int
    kind: ReceiptKind
    closed_at: EpochMs
    cashier: str = ""
    lines: tuple[Line, ...] = ()
    payments: tuple[Payment, ...] = ()


@dataclass(frozen=True, slots=True)
class Upload:
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

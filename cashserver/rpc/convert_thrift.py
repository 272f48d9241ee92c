"""Protocol 3 (Thrift) structs to domain objects and back.

Pure functions, no I/O. The IDL shipped with the package (``rpc/_generated/``, the
copy of ``thrift/cashserver.thrift`` that ``make generate`` writes) is loaded once at
import with thriftpy2; the module is :data:`THRIFT` and is also registered as
``sys.modules["cashserver_thrift"]``, as thriftpy2 does for a named module so that
its structs pickle.

Times are already int milliseconds. An unset (``None``) field whose domain
counterpart has a default (a receipt's cashier, a line's discount, a counter, any
list) takes that default; any other unset field raises
:class:`~cashserver.validate.ValidationError` naming it (``receipts[3].lines[0].price:
missing``), as do unknown enum values (``receipts[12].kind``). Everything else is
left to :func:`cashserver.validate.validate_upload`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from operator import attrgetter
from pathlib import Path
from types import ModuleType
from typing import Any, NoReturn

import thriftpy2

from cashserver.domain import (
    COUNTER_FIELDS,
    PAYMENT_METHODS,
    RECEIPT_KINDS,
    UPLOAD_STATUSES,
    Handshake,
    Line,
    Payment,
    Receipt,
    SalesQuery,
    Shift,
    ShiftCounters,
    ShiftRange,
    SyncSettings,
    TimeRange,
    Upload,
    UploadResult,
)
from cashserver.validate import (
    ValidationError,
    check_shift_range,
    check_time_range,
    payment_method,
    receipt_kind,
)

__all__ = [
    "IDL_PATH",
    "THRIFT",
    "handshake_from_thrift",
    "handshake_to_thrift",
    "invalid_request",
    "result_from_thrift",
    "result_to_thrift",
    "sales_query_from_thrift",
    "sales_query_to_thrift",
    "settings_from_thrift",
    "settings_to_thrift",
    "upload_from_thrift",
    "upload_to_thrift",
]

IDL_PATH = Path(__file__).with_name("_generated") / "cashserver.thrift"
THRIFT: ModuleType = thriftpy2.load(str(IDL_PATH), module_name="cashserver_thrift")
"""The loaded IDL: ``THRIFT.ShiftUpload``, ``THRIFT.SalesLoader`` and so on."""


_LINE_REQUIRED = Line._fields[:8]  # discount and vat_rate default to 0
_LINE_REQUIRED_VALUES = attrgetter(*_LINE_REQUIRED)
_RECEIPT_REQUIRED = ("uid", "number", "kind", "closed_at")


def _missing(path: str, names: Sequence[str], values: Sequence[object]) -> NoReturn:
    """Raise for the first of ``names`` whose value is ``None``."""
    name = next(n for n, v in zip(names, values, strict=True) if v is None)
    raise ValidationError(f"{path}.{name}" if path else name, "missing")


def _required(struct: Any, path: str, names: Sequence[str]) -> list[Any]:
    """The values of ``names`` in ``struct``; raises if one is ``None``."""
    values = [getattr(struct, name) for name in names]
    if None in values:
        _missing(path, names, values)
    return values


# -- uploads: wire to domain ----------------------------------------------------------


def _shift_from_thrift(shift: Any) -> Shift:
    if shift is None:
        raise ValidationError("shift", "missing")
    store_code, register_code, shift_number = _required(
        shift, "shift", ("store_code", "register_code", "shift_number")
    )
    counters = None
    if shift.counters is not None:
        c = shift.counters
        counters = ShiftCounters(*(getattr(c, name) or 0 for name in COUNTER_FIELDS))
    return Shift(
        store_code, register_code, shift_number, shift.opened_at, shift.closed_at, counters
    )


def _receipts_from_thrift(receipts: Iterable[Any]) -> tuple[Receipt, ...]:
    """The domain receipts; builds them like ``convert_proto._receipts_from_proto``."""
    new = tuple.__new__
    required_of_line = _LINE_REQUIRED_VALUES
    kinds = RECEIPT_KINDS
    methods = PAYMENT_METHODS
    line_cls = Line
    payment_cls = Payment
    receipt_cls = Receipt
    out: list[Receipt] = []
    append = out.append
    for i, r in enumerate(receipts):
        uid, number, kind_value, closed_at = values = (r.uid, r.number, r.kind, r.closed_at)
        if None in values:
            _missing(f"receipts[{i}]", _RECEIPT_REQUIRED, values)
        kind = kinds.get(kind_value)
        if kind is None:
            kind = receipt_kind(kind_value, f"receipts[{i}].kind")  # raises
        lines: list[Line] = []
        add_line = lines.append
        for j, ln in enumerate(r.lines or ()):
            line_values = required_of_line(ln)
            if None in line_values:
                _missing(f"receipts[{i}].lines[{j}]", _LINE_REQUIRED, line_values)
            add_line(new(line_cls, (*line_values, ln.discount or 0, ln.vat_rate or 0)))
        payments: list[Payment] = []
        for j, p in enumerate(r.payments or ()):
            method = methods.get(p.method)
            if method is None:
                path = f"receipts[{i}].payments[{j}]"
                if p.method is None:
                    raise ValidationError(f"{path}.method", "missing")
                method = payment_method(p.method, f"{path}.method")  # raises
            if p.amount is None:
                raise ValidationError(f"receipts[{i}].payments[{j}].amount", "missing")
            payments.append(new(payment_cls, (method, p.amount)))
        append(
            receipt_cls(
                uid,
                number,
                kind,
                closed_at,
                "" if r.cashier is None else r.cashier,
                tuple(lines),
                tuple(payments),
            )
        )
    return tuple(out)


def upload_from_thrift(upload: Any) -> Upload:
    """The Upload of a ``ShiftUpload`` struct.

    Raises :class:`ValidationError` naming the field for an unset required field
    or an unknown enum value. Nothing else is validated here.
    """
    shift = _shift_from_thrift(upload.shift)
    return Upload(shift, _receipts_from_thrift(upload.receipts or ()))


# -- uploads: domain to wire ----------------------------------------------------------


def _shift_to_thrift(shift: Shift) -> Any:
    counters = None
    if shift.counters is not None:
        c = shift.counters
        counters = THRIFT.ShiftCounters(**{name: getattr(c, name) for name in COUNTER_FIELDS})
    return THRIFT.Shift(
        store_code=shift.store_code,
        register_code=shift.register_code,
        shift_number=shift.shift_number,
        opened_at=shift.opened_at,
        closed_at=shift.closed_at,
        counters=counters,
    )


def upload_to_thrift(upload: Upload) -> Any:
    """The ``ShiftUpload`` struct of ``upload``."""
    line_cls = THRIFT.Line
    payment_cls = THRIFT.Payment
    receipt_cls = THRIFT.Receipt
    receipts = [
        receipt_cls(
            uid=r.uid,
            number=r.number,
            kind=int(r.kind),
            closed_at=r.closed_at,
            cashier=r.cashier,
            lines=[
                line_cls(
                    position=ln.position,
                    item_code=ln.item_code,
                    barcode=ln.barcode,
                    name=ln.name,
                    department=ln.department,
                    quantity=ln.quantity,
                    price=ln.price,
                    amount=ln.amount,
                    discount=ln.discount,
                    vat_rate=ln.vat_rate,
                )
                for ln in r.lines
            ],
            payments=[payment_cls(method=int(p.method), amount=p.amount) for p in r.payments],
        )
        for r in upload.receipts
    ]
    return THRIFT.ShiftUpload(shift=_shift_to_thrift(upload.shift), receipts=receipts)


# -- results and errors ---------------------------------------------------------------


def result_to_thrift(result: UploadResult) -> Any:
    """The ``UploadResult`` struct of a domain result."""
    return THRIFT.UploadResult(
        workshift_id=result.workshift_id,
        status=int(result.status),
        receipts_received=result.receipts_received,
        receipts_stored=result.receipts_stored,
        receipts_duplicate=result.receipts_duplicate,
        message=result.message,
    )


def result_from_thrift(result: Any) -> UploadResult:
    """The domain result of an ``UploadResult`` struct.

    Raises :class:`ValidationError` if ``workshift_id``, ``status`` or
    ``receipts_received`` is unset or the status is unknown.
    """
    workshift_id, status_value, received = _required(
        result, "", ("workshift_id", "status", "receipts_received")
    )
    status = UPLOAD_STATUSES.get(status_value)
    if status is None:
        raise ValidationError("status", f"unknown UploadStatus {status_value}")
    return UploadResult(
        workshift_id,
        status,
        received,
        result.receipts_stored or 0,
        result.receipts_duplicate or 0,
        result.message or "",
    )


def invalid_request(error: ValidationError) -> Any:
    """The ``InvalidRequest`` exception that answers a structural fault (SPEC 3)."""
    return THRIFT.InvalidRequest(field=error.field, message=error.message)


# -- handshake and settings -----------------------------------------------------------


def handshake_from_thrift(request: Any) -> Handshake:
    """The Handshake of a ``HandshakeRequest``; codes are the caller's to validate.

    Raises :class:`ValidationError` if ``store_code`` or ``register_code`` is unset.
    """
    store_code, register_code = _required(request, "", ("store_code", "register_code"))
    return Handshake(
        store_code,
        register_code,
        request.software_version or "",
        tuple(request.supported_protocols or ()),
        request.register_time,
    )


def handshake_to_thrift(handshake: Handshake) -> Any:
    return THRIFT.HandshakeRequest(
        store_code=handshake.store_code,
        register_code=handshake.register_code,
        software_version=handshake.software_version,
        supported_protocols=list(handshake.supported_protocols),
        register_time=handshake.register_time,
    )


_SETTINGS_FIELDS = (
    "protocol_version",
    "grpc_endpoint",
    "thrift_endpoint",
    "tls_required",
    "upload_batch_size",
    "server_time",
)


def settings_to_thrift(settings: SyncSettings) -> Any:
    return THRIFT.SyncSettings(**{name: getattr(settings, name) for name in _SETTINGS_FIELDS})


def settings_from_thrift(settings: Any) -> SyncSettings:
    """The SyncSettings of a struct; raises :class:`ValidationError` if a field is unset."""
    return SyncSettings(*_required(settings, "", _SETTINGS_FIELDS))


# -- sales requests -------------------------------------------------------------------


def sales_query_from_thrift(request: Any) -> SalesQuery:
    """The range a ``SalesRequest`` union asks for.

    Raises :class:`ValidationError` unless exactly one range is set, a bound is
    unset, or the range runs backwards or names shift 0.
    """
    time_range, shift_range = request.time_range, request.shift_range
    if (time_range is None) == (shift_range is None):
        raise ValidationError("request", "exactly one of time_range, shift_range must be set")
    if time_range is not None:
        from_time, to_time = _required(time_range, "time_range", ("from_time", "to_time"))
        return check_time_range(TimeRange(from_time, to_time), "time_range", "from_time", "to_time")
    from_shift, to_shift = _required(shift_range, "shift_range", ("from_shift", "to_shift"))
    return check_shift_range(ShiftRange(from_shift, to_shift), "shift_range")


def sales_query_to_thrift(query: SalesQuery) -> Any:
    if isinstance(query, TimeRange):
        return THRIFT.SalesRequest(
            time_range=THRIFT.TimeRange(from_time=query.from_ms, to_time=query.to_ms)
        )
    return THRIFT.SalesRequest(
        shift_range=THRIFT.ShiftRange(from_shift=query.from_shift, to_shift=query.to_shift)
    )

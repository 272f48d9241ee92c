"""Protocol 4 (protobuf) messages to domain objects and back.

Pure functions, no I/O. Timestamps become int milliseconds (``seconds * 1000 +
nanos // 1_000_000``: sub-millisecond precision is dropped, toward the past); an
absent optional Timestamp or ShiftCounters becomes ``None``. Structural checks are
left to :func:`cashserver.validate.validate_upload`, except what the domain types
cannot hold: the chunk order, unknown enum values and a receipt without a time,
each raised as :class:`~cashserver.validate.ValidationError` with its path
(``receipts[12].kind``; the receipt index counts across all batches).

:func:`upload_from_chunks` is on the hot path of every gRPC upload, so it binds
locals and calls ``HasField`` only where absence means something.
"""

from __future__ import annotations

from collections.abc import Iterable
from operator import attrgetter

from google.protobuf.internal.containers import RepeatedCompositeFieldContainer
from google.protobuf.timestamp_pb2 import Timestamp

from cashserver.domain import (
    COUNTER_FIELDS,
    PAYMENT_METHODS,
    RECEIPT_KINDS,
    UPLOAD_STATUSES,
    EpochMs,
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
from cashserver.rpc._generated.cashserver.v1 import cashserver_pb2 as pb
from cashserver.validate import (
    ValidationError,
    check_shift_range,
    check_time_range,
    payment_method,
    receipt_kind,
)

__all__ = [
    "handshake_from_proto",
    "handshake_to_proto",
    "ms_to_timestamp",
    "result_from_proto",
    "result_to_proto",
    "sales_query_from_proto",
    "sales_query_to_proto",
    "settings_from_proto",
    "settings_to_proto",
    "timestamp_to_ms",
    "upload_from_chunks",
    "upload_to_chunks",
]


def timestamp_to_ms(ts: Timestamp) -> EpochMs:
    """Milliseconds since the epoch of a Timestamp, rounded toward the past."""
    return int(ts.seconds) * 1000 + int(ts.nanos) // 1_000_000


def ms_to_timestamp(ms: EpochMs) -> Timestamp:
    """The Timestamp of ``ms`` milliseconds since the epoch (negative ones too)."""
    seconds, millis = divmod(ms, 1000)
    return Timestamp(seconds=seconds, nanos=millis * 1_000_000)


# -- uploads: wire to domain ----------------------------------------------------------


def _shift_from_proto(msg: pb.Shift) -> Shift:
    has = msg.HasField
    opened_at = timestamp_to_ms(msg.opened_at) if has("opened_at") else None
    closed_at = timestamp_to_ms(msg.closed_at) if has("closed_at") else None
    counters = None
    if has("counters"):
        c = msg.counters
        counters = ShiftCounters(*(getattr(c, name) for name in COUNTER_FIELDS))
    return Shift(
        msg.store_code, msg.register_code, msg.shift_number, opened_at, closed_at, counters
    )


_LINE_VALUES = attrgetter(*Line._fields)
"""A wire line's fields in Line's order, as one tuple (the message's fields have Line's names)."""


def _receipts_from_proto(batch: Iterable[pb.Receipt], first_index: int, out: list[Receipt]) -> None:
    """Append the batch's receipts to ``out``; ``first_index`` is the first one's index.

    Receipts are msgspec structs, built in C; lines and payments are named tuples,
    built with ``tuple.__new__`` (a named tuple's own ``__new__`` is a Python function,
    three times slower, and this runs for every line of every upload).
    """
    new = tuple.__new__
    line_values = _LINE_VALUES
    kinds = RECEIPT_KINDS
    methods = PAYMENT_METHODS
    line_cls = Line
    payment_cls = Payment
    receipt_cls = Receipt
    append = out.append
    for i, r in enumerate(batch, first_index):
        kind = kinds.get(r.kind)
        if kind is None:
            kind = receipt_kind(r.kind, f"receipts[{i}].kind")  # raises
        if not r.HasField("closed_at"):
            raise ValidationError(f"receipts[{i}].closed_at", "missing")
        ts = r.closed_at
        lines = tuple([new(line_cls, line_values(ln)) for ln in r.lines])
        payments: list[Payment] = []
        for j, p in enumerate(r.payments):
            method = methods.get(p.method)
            if method is None:
                method = payment_method(p.method, f"receipts[{i}].payments[{j}].method")  # raises
            payments.append(new(payment_cls, (method, p.amount)))
        append(
            receipt_cls(
                r.uid,
                r.number,
                kind,
                ts.seconds * 1000 + ts.nanos // 1_000_000,
                r.cashier,
                lines,
                tuple(payments),
            )
        )


def upload_from_chunks(chunks: Iterable[pb.UploadChunk]) -> Upload:
    """The Upload carried by a stream of ``UploadChunk``: a shift, then receipt batches.

    Raises :class:`ValidationError` naming ``chunks[i]`` if the first chunk is not a
    shift or a later one is, or naming the receipt field for an unknown enum value
    or a receipt without ``closed_at``. Nothing else is validated here.
    """
    iterator = iter(chunks)
    first = next(iterator, None)
    if first is None or first.WhichOneof("body") != "shift":
        raise ValidationError("chunks[0]", "first chunk must be a shift")
    shift = _shift_from_proto(first.shift)
    receipts: list[Receipt] = []
    for index, chunk in enumerate(iterator, 1):
        body = chunk.WhichOneof("body")
        if body != "receipts":
            problem = "only the first chunk may be a shift" if body else "empty chunk"
            raise ValidationError(f"chunks[{index}]", problem)
        _receipts_from_proto(chunk.receipts.receipts, len(receipts), receipts)
    return Upload(shift, tuple(receipts))


# -- uploads: domain to wire ----------------------------------------------------------


def _shift_to_proto(shift: Shift) -> pb.Shift:
    msg = pb.Shift(
        store_code=shift.store_code,
        register_code=shift.register_code,
        shift_number=shift.shift_number,
    )
    if shift.opened_at is not None:
        msg.opened_at.CopyFrom(ms_to_timestamp(shift.opened_at))
    if shift.closed_at is not None:
        msg.closed_at.CopyFrom(ms_to_timestamp(shift.closed_at))
    if shift.counters is not None:
        counters = shift.counters
        msg.counters.CopyFrom(
            pb.ShiftCounters(**{name: getattr(counters, name) for name in COUNTER_FIELDS})
        )
    return msg


def _add_receipts(
    receipts: Iterable[Receipt], out: RepeatedCompositeFieldContainer[pb.Receipt]
) -> None:
    """Append ``receipts`` to the repeated field ``out``, filling messages in place.

    Filling ``add()``-ed messages avoids building each submessage and copying it in,
    which is several times slower.
    """
    add_receipt = out.add
    for r in receipts:
        msg = add_receipt(uid=r.uid, number=r.number, kind=r.kind, cashier=r.cashier)
        seconds, millis = divmod(r.closed_at, 1000)
        closed_at = msg.closed_at
        closed_at.seconds = seconds
        closed_at.nanos = millis * 1_000_000
        add_line = msg.lines.add
        for ln in r.lines:
            add_line(
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
        add_payment = msg.payments.add
        for p in r.payments:
            add_payment(method=p.method, amount=p.amount)


def upload_to_chunks(upload: Upload, batch_size: int = 500) -> list[pb.UploadChunk]:
    """The ``UploadChunk`` stream of ``upload``: its shift, then batches of receipts.

    Each batch holds at most ``batch_size`` receipts; an upload without receipts is
    the shift chunk alone. Raises ``ValueError`` if ``batch_size`` is below 1.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, not {batch_size}")
    chunks = [pb.UploadChunk(shift=_shift_to_proto(upload.shift))]
    receipts = upload.receipts
    for start in range(0, len(receipts), batch_size):
        chunk = pb.UploadChunk()
        _add_receipts(receipts[start : start + batch_size], chunk.receipts.receipts)
        chunks.append(chunk)
    return chunks


# -- results --------------------------------------------------------------------------


def result_to_proto(result: UploadResult) -> pb.UploadResult:
    """The wire ``UploadResult`` of a domain result."""
    return pb.UploadResult(
        workshift_id=result.workshift_id,
        status=result.status.name,  # the domain's names are the wire's
        receipts_received=result.receipts_received,
        receipts_stored=result.receipts_stored,
        receipts_duplicate=result.receipts_duplicate,
        message=result.message,
    )


def result_from_proto(msg: pb.UploadResult) -> UploadResult:
    """The domain result of a wire ``UploadResult``.

    Raises :class:`ValidationError` naming ``status`` if it is not a known status.
    """
    status = UPLOAD_STATUSES.get(msg.status)
    if status is None:
        raise ValidationError("status", f"unknown UploadStatus {msg.status}")
    return UploadResult(
        msg.workshift_id,
        status,
        msg.receipts_received,
        msg.receipts_stored,
        msg.receipts_duplicate,
        msg.message,
    )


# -- handshake and settings -----------------------------------------------------------


def handshake_from_proto(msg: pb.HandshakeRequest) -> Handshake:
    """The Handshake of a ``HandshakeRequest``; codes are the caller's to validate."""
    return Handshake(
        msg.store_code,
        msg.register_code,
        msg.software_version,
        tuple(msg.supported_protocols),
        timestamp_to_ms(msg.register_time) if msg.HasField("register_time") else None,
    )


def handshake_to_proto(handshake: Handshake) -> pb.HandshakeRequest:
    time = handshake.register_time
    return pb.HandshakeRequest(
        store_code=handshake.store_code,
        register_code=handshake.register_code,
        software_version=handshake.software_version,
        supported_protocols=list(handshake.supported_protocols),
        register_time=None if time is None else ms_to_timestamp(time),
    )


def settings_to_proto(settings: SyncSettings) -> pb.SyncSettings:
    return pb.SyncSettings(
        protocol_version=settings.protocol_version,
        grpc_endpoint=settings.grpc_endpoint,
        thrift_endpoint=settings.thrift_endpoint,
        tls_required=settings.tls_required,
        upload_batch_size=settings.upload_batch_size,
        server_time=ms_to_timestamp(settings.server_time),
    )


def settings_from_proto(msg: pb.SyncSettings) -> SyncSettings:
    """The SyncSettings of a wire message.

    Raises :class:`ValidationError` naming ``server_time`` if it is absent.
    """
    if not msg.HasField("server_time"):
        raise ValidationError("server_time", "missing")
    return SyncSettings(
        msg.protocol_version,
        msg.grpc_endpoint,
        msg.thrift_endpoint,
        msg.tls_required,
        msg.upload_batch_size,
        timestamp_to_ms(msg.server_time),
    )


# -- sales requests -------------------------------------------------------------------


def sales_query_from_proto(msg: pb.SalesRequest) -> SalesQuery:
    """The range a ``SalesRequest`` asks for.

    Raises :class:`ValidationError` if neither range is set (``range``), a time
    bound is absent (``time_range.from``), or the range is empty the wrong way
    round or names shift 0.
    """
    which = msg.WhichOneof("range")
    if which == "time_range":
        rng = msg.time_range
        for bound in ("from", "to"):
            if not rng.HasField(bound):
                raise ValidationError(f"time_range.{bound}", "missing")
        query = TimeRange(timestamp_to_ms(getattr(rng, "from")), timestamp_to_ms(rng.to))
        return check_time_range(query, "time_range", "from", "to")
    if which == "shift_range":
        shifts = msg.shift_range
        return check_shift_range(ShiftRange(shifts.from_shift, shifts.to_shift), "shift_range")
    raise ValidationError("range", "one of time_range, shift_range is required")


def sales_query_to_proto(query: SalesQuery) -> pb.SalesRequest:
    if isinstance(query, TimeRange):
        # ``from`` is a Python keyword, so the field can only be set by name.
        bounds = {"from": ms_to_timestamp(query.from_ms), "to": ms_to_timestamp(query.to_ms)}
        return pb.SalesRequest(time_range=pb.TimeRange(**bounds))
    return pb.SalesRequest(
        shift_range=pb.ShiftRange(from_shift=query.from_shift, to_shift=query.to_shift)
    )

"""Protocol 4 conversions: every domain object survives the wire, every fault is named."""

from __future__ import annotations

from collections.abc import Iterator
from typing import cast

import pytest
from google.protobuf.timestamp_pb2 import Timestamp
from hypothesis import given
from hypothesis import strategies as st
from msgspec import structs

from cashserver.domain import (
    Handshake,
    Line,
    Payment,
    PaymentMethod,
    Receipt,
    ReceiptKind,
    SalesQuery,
    Shift,
    ShiftCounters,
    ShiftRange,
    SyncSettings,
    TimeRange,
    Upload,
    UploadResult,
    UploadStatus,
)
from cashserver.rpc._generated.cashserver.v1 import cashserver_pb2 as pb
from cashserver.rpc.convert_proto import (
    handshake_from_proto,
    handshake_to_proto,
    ms_to_timestamp,
    result_from_proto,
    result_to_proto,
    sales_query_from_proto,
    sales_query_to_proto,
    settings_from_proto,
    settings_to_proto,
    timestamp_to_ms,
    upload_from_chunks,
    upload_to_chunks,
)
from cashserver.validate import ValidationError, validate_upload
from tests.strategies import INT64_MAX, codes, shifts, texts, times, upload_results, uploads

SHIFT = Shift("S1", "R1", 7, opened_at=1_700_000_000_000)
SALE = Receipt(
    uid="3f2b9c4e-8a1d-4e5f-9b6a-0c1d2e3f4a5b",
    number=1,
    kind=ReceiptKind.SALE,
    closed_at=1_700_000_100_000,
    cashier="Иванова",
    lines=(Line(1, "A1", "4600000000001", "Молоко", "D1", 1000, 8990, 8990, 0, 2000),),
    payments=(Payment(PaymentMethod.CASH, 8990),),
)


def _wire(chunks: list[pb.UploadChunk]) -> Iterator[pb.UploadChunk]:
    """The chunks as a server receives them: each one serialized and parsed apart."""
    return (pb.UploadChunk.FromString(chunk.SerializeToString()) for chunk in chunks)


def _numbered(count: int) -> tuple[Receipt, ...]:
    return tuple(
        structs.replace(SALE, uid=f"00000000-0000-4000-8000-{n:012d}", number=n + 1)
        for n in range(count)
    )


def _error(excinfo: pytest.ExceptionInfo[ValidationError]) -> tuple[str, str]:
    return excinfo.value.field, excinfo.value.message


# -- round trips ----------------------------------------------------------------------


@given(uploads(max_receipts=12), st.integers(1, 5))
def test_upload_survives_the_wire(upload: Upload, batch_size: int) -> None:
    assert upload_from_chunks(_wire(upload_to_chunks(upload, batch_size))) == upload


@given(uploads(max_receipts=12), st.integers(1, 5))
def test_chunks_are_a_shift_then_batches_of_at_most_batch_size(
    upload: Upload, batch_size: int
) -> None:
    chunks = upload_to_chunks(upload, batch_size)
    assert [c.WhichOneof("body") for c in chunks] == ["shift"] + ["receipts"] * (len(chunks) - 1)
    sizes = [len(c.receipts.receipts) for c in chunks[1:]]
    assert sum(sizes) == len(upload.receipts)
    assert all(0 < size <= batch_size for size in sizes)
    assert len(sizes) == -(-len(upload.receipts) // batch_size)


@given(uploads(max_receipts=10))
def test_converted_upload_is_valid_as_it_stands(upload: Upload) -> None:
    converted = upload_from_chunks(_wire(upload_to_chunks(upload)))
    assert validate_upload(converted) is converted


@given(shifts())
def test_absent_shift_parts_stay_absent_on_the_wire(shift: Shift) -> None:
    (chunk,) = upload_to_chunks(Upload(shift))
    wire = chunk.shift
    assert wire.HasField("opened_at") == (shift.opened_at is not None)
    assert wire.HasField("closed_at") == (shift.closed_at is not None)
    assert wire.HasField("counters") == (shift.counters is not None)


def test_reported_zero_counters_differ_from_no_counters() -> None:
    reported = Upload(structs.replace(SHIFT, counters=ShiftCounters()))
    silent = Upload(structs.replace(SHIFT, counters=None))
    assert upload_from_chunks(_wire(upload_to_chunks(reported))).shift.counters == ShiftCounters()
    assert upload_from_chunks(_wire(upload_to_chunks(silent))).shift.counters is None


def test_a_shift_alone_is_one_chunk() -> None:
    assert len(upload_to_chunks(Upload(SHIFT))) == 1
    assert upload_from_chunks(upload_to_chunks(Upload(SHIFT))) == Upload(SHIFT)


def test_receipts_come_back_in_order_across_batches() -> None:
    upload = Upload(SHIFT, _numbered(1001))
    chunks = upload_to_chunks(upload)
    assert [len(c.receipts.receipts) for c in chunks[1:]] == [500, 500, 1]
    assert upload_from_chunks(_wire(chunks)).receipts == upload.receipts


def test_conversion_reads_a_stream_lazily() -> None:
    chunks = upload_to_chunks(Upload(SHIFT, _numbered(3)), batch_size=1)
    consumed: list[int] = []

    def stream() -> Iterator[pb.UploadChunk]:
        for index, chunk in enumerate(chunks):
            consumed.append(index)
            yield chunk

    assert len(upload_from_chunks(stream()).receipts) == 3
    assert consumed == [0, 1, 2, 3]


def test_uids_pass_through_for_validation_to_canonicalise() -> None:
    shouting = structs.replace(SALE, uid=SALE.uid.upper())
    converted = upload_from_chunks(_wire(upload_to_chunks(Upload(SHIFT, (shouting,)))))
    assert converted.receipts[0].uid == SALE.uid.upper()
    assert validate_upload(converted).receipts[0].uid == SALE.uid


@pytest.mark.parametrize("batch_size", [0, -1])
def test_batch_size_must_be_positive(batch_size: int) -> None:
    with pytest.raises(ValueError, match="batch_size"):
        upload_to_chunks(Upload(SHIFT), batch_size)


# -- timestamps -----------------------------------------------------------------------


@given(st.integers(-(2**50), 2**50))
def test_milliseconds_survive_a_timestamp(ms: int) -> None:
    ts = ms_to_timestamp(ms)
    assert 0 <= ts.nanos < 1_000_000_000
    assert timestamp_to_ms(Timestamp.FromString(ts.SerializeToString())) == ms


@pytest.mark.parametrize(
    ("seconds", "nanos", "ms"),
    [(1, 999_999, 1000), (1, 1_000_000, 1001), (-1, 500_000_000, -500), (0, 0, 0)],
)
def test_sub_millisecond_precision_is_dropped_toward_the_past(
    seconds: int, nanos: int, ms: int
) -> None:
    assert timestamp_to_ms(Timestamp(seconds=seconds, nanos=nanos)) == ms


def test_times_are_utc_instants() -> None:
    ts = ms_to_timestamp(1_700_000_000_123)
    assert ts.ToJsonString() == "2023-11-14T22:13:20.123Z"


# -- structural faults ----------------------------------------------------------------


def _receipt_chunk(*receipts: Receipt) -> pb.UploadChunk:
    return upload_to_chunks(Upload(SHIFT, receipts), batch_size=len(receipts))[1]


def _shift_chunk() -> pb.UploadChunk:
    return upload_to_chunks(Upload(SHIFT))[0]


@pytest.mark.parametrize(
    "chunks",
    [
        pytest.param([], id="no chunks"),
        pytest.param([_receipt_chunk(SALE)], id="receipts first"),
        pytest.param([pb.UploadChunk(), _shift_chunk()], id="empty first"),
    ],
)
def test_first_chunk_must_be_a_shift(chunks: list[pb.UploadChunk]) -> None:
    with pytest.raises(ValidationError) as excinfo:
        upload_from_chunks(chunks)
    assert _error(excinfo) == ("chunks[0]", "first chunk must be a shift")
    assert str(excinfo.value) == "chunks[0]: first chunk must be a shift"


def test_a_second_shift_chunk_is_named() -> None:
    chunks = [_shift_chunk(), _receipt_chunk(SALE), _shift_chunk()]
    with pytest.raises(ValidationError) as excinfo:
        upload_from_chunks(chunks)
    assert _error(excinfo) == ("chunks[2]", "only the first chunk may be a shift")


def test_an_empty_later_chunk_is_named() -> None:
    with pytest.raises(ValidationError) as excinfo:
        upload_from_chunks([_shift_chunk(), pb.UploadChunk()])
    assert _error(excinfo) == ("chunks[1]", "empty chunk")


@pytest.mark.parametrize("bad_kind", [0, 6, 99])
def test_unknown_receipt_kind_is_named_by_its_index_across_batches(bad_kind: int) -> None:
    chunks = upload_to_chunks(Upload(SHIFT, _numbered(14)), batch_size=5)
    # Batches of 5, 5, then the third; proto3 enums keep values they do not know.
    chunks[3].receipts.receipts[2].kind = cast("pb.ReceiptKind", bad_kind)
    with pytest.raises(ValidationError) as excinfo:
        upload_from_chunks(_wire(chunks))
    assert str(excinfo.value) == f"receipts[12].kind: unknown ReceiptKind {bad_kind}"


@pytest.mark.parametrize("bad_method", [0, 3])
def test_unknown_payment_method_is_named(bad_method: int) -> None:
    two_payments = structs.replace(
        SALE, payments=(Payment(PaymentMethod.CASH, 990), Payment(PaymentMethod.NONCASH, 8000))
    )
    chunks = upload_to_chunks(Upload(SHIFT, (SALE, two_payments)))
    chunks[1].receipts.receipts[1].payments[1].method = cast("pb.PaymentMethod", bad_method)
    with pytest.raises(ValidationError) as excinfo:
        upload_from_chunks(_wire(chunks))
    assert str(excinfo.value) == (
        f"receipts[1].payments[1].method: unknown PaymentMethod {bad_method}"
    )


def test_receipt_without_a_time_is_named() -> None:
    chunks = upload_to_chunks(Upload(SHIFT, (SALE, SALE)))
    chunks[1].receipts.receipts[1].ClearField("closed_at")
    with pytest.raises(ValidationError) as excinfo:
        upload_from_chunks(_wire(chunks))
    assert _error(excinfo) == ("receipts[1].closed_at", "missing")


def test_other_faults_are_left_to_validation() -> None:
    negative = structs.replace(SALE, number=0, uid="", cashier="")
    converted = upload_from_chunks(_wire(upload_to_chunks(Upload(SHIFT, (negative,)))))
    assert converted.receipts == (negative,)
    with pytest.raises(ValidationError, match=r"receipts\[0\]\.uid: missing"):
        validate_upload(converted)


# -- results, handshake, settings, sales requests ------------------------------------


@given(upload_results())
def test_result_survives_the_wire(result: UploadResult) -> None:
    wire = pb.UploadResult.FromString(result_to_proto(result).SerializeToString())
    assert result_from_proto(wire) == result


def test_result_status_is_the_spec_enum() -> None:
    wire = result_to_proto(UploadResult(0, UploadStatus.QUEUED, 3))
    assert wire.status == pb.QUEUED == 2


@pytest.mark.parametrize("status", [0, 4])
def test_unknown_result_status_is_refused(status: int) -> None:
    with pytest.raises(ValidationError) as excinfo:
        result_from_proto(pb.UploadResult(workshift_id=1, status=cast("pb.UploadStatus", status)))
    assert excinfo.value.field == "status"


@given(
    st.builds(
        Handshake,
        store_code=codes(),
        register_code=codes(),
        software_version=texts(),
        supported_protocols=st.lists(st.sampled_from([3, 4]), max_size=3).map(tuple),
        register_time=st.none() | times(),
    )
)
def test_handshake_survives_the_wire(handshake: Handshake) -> None:
    wire = pb.HandshakeRequest.FromString(handshake_to_proto(handshake).SerializeToString())
    assert handshake_from_proto(wire) == handshake


@given(
    st.builds(
        SyncSettings,
        protocol_version=st.sampled_from([3, 4]),
        grpc_endpoint=st.text(max_size=30),
        thrift_endpoint=st.text(max_size=30),
        tls_required=st.booleans(),
        upload_batch_size=st.integers(1, 10_000),
        server_time=times(),
    )
)
def test_settings_survive_the_wire(settings: SyncSettings) -> None:
    wire = pb.SyncSettings.FromString(settings_to_proto(settings).SerializeToString())
    assert settings_from_proto(wire) == settings


def test_settings_without_server_time_are_refused() -> None:
    with pytest.raises(ValidationError, match="server_time: missing"):
        settings_from_proto(pb.SyncSettings(protocol_version=4))


sales_queries = st.one_of(
    st.tuples(times(), times()).map(lambda t: TimeRange(min(t), max(t))),
    st.tuples(st.integers(1, INT64_MAX), st.integers(1, INT64_MAX)).map(
        lambda s: ShiftRange(min(s), max(s))
    ),
)


@given(sales_queries)
def test_sales_query_survives_the_wire(query: SalesQuery) -> None:
    wire = pb.SalesRequest.FromString(sales_query_to_proto(query).SerializeToString())
    assert sales_query_from_proto(wire) == query


def _time_range(**bounds: int) -> pb.SalesRequest:
    return pb.SalesRequest(
        time_range=pb.TimeRange(**{k: ms_to_timestamp(v) for k, v in bounds.items()})
    )


@pytest.mark.parametrize(
    ("request_", "field"),
    [
        (pb.SalesRequest(), "range"),
        (_time_range(to=1000), "time_range.from"),
        (_time_range(**{"from": 1000}), "time_range.to"),
        (_time_range(**{"from": 2000, "to": 1000}), "time_range.to"),
        (
            pb.SalesRequest(shift_range=pb.ShiftRange(from_shift=0, to_shift=3)),
            "shift_range.from_shift",
        ),
        (
            pb.SalesRequest(shift_range=pb.ShiftRange(from_shift=5, to_shift=3)),
            "shift_range.to_shift",
        ),
    ],
)
def test_bad_sales_request_is_named(request_: pb.SalesRequest, field: str) -> None:
    with pytest.raises(ValidationError) as excinfo:
        sales_query_from_proto(request_)
    assert excinfo.value.field == field


def test_an_empty_time_range_is_a_valid_request() -> None:
    assert sales_query_from_proto(_time_range(**{"from": 1000, "to": 1000})) == TimeRange(
        1000, 1000
    )


@given(uploads())
def test_strategy_uploads_are_valid_and_add_up(upload: Upload) -> None:
    assert validate_upload(upload) is upload
    for receipt in upload.receipts:
        paid = sum(p.amount for p in receipt.payments)
        if receipt.kind in (ReceiptKind.CASH_IN, ReceiptKind.CASH_OUT):
            assert receipt.lines == ()
            assert [p.method for p in receipt.payments] == [PaymentMethod.CASH]
        else:
            assert paid == sum(line.amount for line in receipt.lines)

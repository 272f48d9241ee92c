"""Protocol 3 conversions: every domain object survives the wire, every fault is named."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from msgspec import structs
from thriftpy2.protocol import (
    TBinaryProtocolFactory,
    TCompactProtocolFactory,
    TCyBinaryProtocolFactory,
)
from thriftpy2.utils import deserialize, serialize

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
from cashserver.rpc.convert_thrift import (
    THRIFT,
    handshake_from_thrift,
    handshake_to_thrift,
    invalid_request,
    result_from_thrift,
    result_to_thrift,
    sales_query_from_thrift,
    sales_query_to_thrift,
    settings_from_thrift,
    settings_to_thrift,
    upload_from_thrift,
    upload_to_thrift,
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
    lines=(
        Line(1, "A1", "4600000000001", "Молоко", "D1", 1000, 8990, 8990, 0, 2000),
        Line(2, "A2", "", "Хлеб", "D1", 2000, 4500, 8000, 1000, 1000),
    ),
    payments=(Payment(PaymentMethod.CASH, 10000), Payment(PaymentMethod.NONCASH, 6990)),
)
UPLOAD = Upload(SHIFT, (SALE, structs.replace(SALE, uid=SALE.uid.replace("3f", "4f", 1))))

PROTOCOLS = {
    "binary": TBinaryProtocolFactory(),
    "cybinary": TCyBinaryProtocolFactory(),
    "compact": TCompactProtocolFactory(),
}


def _wire(struct: Any, protocol: str = "binary") -> Any:
    """``struct`` as a peer receives it: serialized and read into a fresh struct."""
    factory = PROTOCOLS[protocol]
    return deserialize(type(struct)(), serialize(struct, factory), factory)


def _refused(convert: Callable[[Any], object], struct: Any) -> tuple[str, str]:
    with pytest.raises(ValidationError) as excinfo:
        convert(struct)
    return excinfo.value.field, excinfo.value.message


# -- round trips ----------------------------------------------------------------------


@given(uploads(max_receipts=12), st.sampled_from(sorted(PROTOCOLS)))
def test_upload_survives_the_wire(upload: Upload, protocol: str) -> None:
    assert upload_from_thrift(_wire(upload_to_thrift(upload), protocol)) == upload


@given(uploads(max_receipts=8))
def test_converted_upload_is_valid_as_it_stands(upload: Upload) -> None:
    converted = upload_from_thrift(_wire(upload_to_thrift(upload)))
    assert validate_upload(converted) is converted


@given(shifts())
def test_absent_shift_parts_are_unset_on_the_wire(shift: Shift) -> None:
    wire = _wire(upload_to_thrift(Upload(shift))).shift
    assert (wire.opened_at is None) == (shift.opened_at is None)
    assert (wire.closed_at is None) == (shift.closed_at is None)
    assert (wire.counters is None) == (shift.counters is None)


def test_reported_zero_counters_differ_from_no_counters() -> None:
    reported = Upload(structs.replace(SHIFT, counters=ShiftCounters()))
    assert upload_from_thrift(_wire(upload_to_thrift(reported))).shift.counters == ShiftCounters()
    assert upload_from_thrift(_wire(upload_to_thrift(Upload(SHIFT)))).shift.counters is None


def test_enums_go_out_as_their_spec_numbers() -> None:
    wire = upload_to_thrift(UPLOAD)
    assert wire.receipts[0].kind == THRIFT.ReceiptKind.SALE == 1
    assert [p.method for p in wire.receipts[0].payments] == [
        THRIFT.PaymentMethod.CASH,
        THRIFT.PaymentMethod.NONCASH,
    ]


# -- unset fields ---------------------------------------------------------------------


def test_unset_lists_and_defaulted_fields_take_the_domain_defaults() -> None:
    upload = upload_to_thrift(UPLOAD)
    upload.receipts[0].cashier = None
    upload.receipts[0].lines[0].discount = None
    upload.receipts[0].lines[0].vat_rate = None
    upload.receipts[1].lines = None
    upload.receipts[1].payments = None
    upload.shift.counters = THRIFT.ShiftCounters(receipts_count=None, drawer=5)
    converted = upload_from_thrift(_wire(upload))
    first, second = converted.receipts
    assert first.cashier == ""
    assert (first.lines[0].discount, first.lines[0].vat_rate) == (0, 0)
    assert (second.lines, second.payments) == ((), ())
    assert converted.shift.counters == ShiftCounters(drawer=5)


def test_unset_receipt_list_is_an_empty_upload() -> None:
    upload = upload_to_thrift(Upload(SHIFT))
    upload.receipts = None
    assert upload_from_thrift(_wire(upload)) == Upload(SHIFT)


def _unset(*path: str | int) -> Callable[[Any], None]:
    """A mutation setting the field at ``path`` (attributes and list indexes) to None."""

    def mutate(upload: Any) -> None:
        target = upload
        for step in path[:-1]:
            target = target[step] if isinstance(step, int) else getattr(target, step)
        setattr(target, str(path[-1]), None)

    return mutate


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (_unset("shift"), "shift"),
        (_unset("shift", "store_code"), "shift.store_code"),
        (_unset("shift", "register_code"), "shift.register_code"),
        (_unset("shift", "shift_number"), "shift.shift_number"),
        (_unset("receipts", 1, "uid"), "receipts[1].uid"),
        (_unset("receipts", 0, "number"), "receipts[0].number"),
        (_unset("receipts", 1, "kind"), "receipts[1].kind"),
        (_unset("receipts", 1, "closed_at"), "receipts[1].closed_at"),
        (_unset("receipts", 1, "lines", 1, "position"), "receipts[1].lines[1].position"),
        (_unset("receipts", 0, "lines", 0, "item_code"), "receipts[0].lines[0].item_code"),
        (_unset("receipts", 0, "lines", 1, "barcode"), "receipts[0].lines[1].barcode"),
        (_unset("receipts", 0, "lines", 1, "name"), "receipts[0].lines[1].name"),
        (_unset("receipts", 0, "lines", 1, "department"), "receipts[0].lines[1].department"),
        (_unset("receipts", 0, "lines", 1, "quantity"), "receipts[0].lines[1].quantity"),
        (_unset("receipts", 1, "lines", 1, "price"), "receipts[1].lines[1].price"),
        (_unset("receipts", 1, "lines", 0, "amount"), "receipts[1].lines[0].amount"),
        (_unset("receipts", 1, "payments", 1, "method"), "receipts[1].payments[1].method"),
        (_unset("receipts", 0, "payments", 0, "amount"), "receipts[0].payments[0].amount"),
    ],
)
def test_unset_required_field_is_named(mutate: Callable[[Any], None], field: str) -> None:
    upload = upload_to_thrift(UPLOAD)
    mutate(upload)
    assert _refused(upload_from_thrift, upload) == (field, "missing")
    # The same upload as it arrives: thriftpy2 skips unset fields when writing.
    if field != "shift":
        assert _refused(upload_from_thrift, _wire(upload)) == (field, "missing")


def test_shift_upload_without_shift_is_named_after_the_wire() -> None:
    # `shift` is `required` in the IDL; a peer that omits it anyway is still answered.
    bare = THRIFT.ShiftUpload(shift=None, receipts=[])
    assert _refused(upload_from_thrift, _wire(bare)) == ("shift", "missing")


# -- unknown enum values --------------------------------------------------------------


@pytest.mark.parametrize("bad_kind", [THRIFT.ReceiptKind.RECEIPT_KIND_UNSPECIFIED, 6, -1])
def test_unknown_receipt_kind_is_named(bad_kind: int) -> None:
    upload = upload_to_thrift(UPLOAD)
    upload.receipts[1].kind = bad_kind
    assert _refused(upload_from_thrift, _wire(upload)) == (
        "receipts[1].kind",
        f"unknown ReceiptKind {bad_kind}",
    )


@pytest.mark.parametrize("bad_method", [THRIFT.PaymentMethod.PAYMENT_METHOD_UNSPECIFIED, 3])
def test_unknown_payment_method_is_named(bad_method: int) -> None:
    upload = upload_to_thrift(UPLOAD)
    upload.receipts[1].payments[1].method = bad_method
    assert _refused(upload_from_thrift, _wire(upload)) == (
        "receipts[1].payments[1].method",
        f"unknown PaymentMethod {bad_method}",
    )


def test_other_faults_are_left_to_validation() -> None:
    upload = upload_to_thrift(Upload(SHIFT, (structs.replace(SALE, number=0),)))
    upload.receipts[0].lines[0].price = -5
    converted = upload_from_thrift(_wire(upload))
    assert converted.receipts[0].lines[0].price == -5
    with pytest.raises(ValidationError, match=r"receipts\[0\]\.number: must be >= 1"):
        validate_upload(converted)


def test_invalid_request_carries_the_path_and_message() -> None:
    error = ValidationError("receipts[12].uid", "not a UUID")
    wire = _wire(invalid_request(error))
    assert (wire.field, wire.message) == ("receipts[12].uid", "not a UUID")
    assert isinstance(wire, Exception)


# -- results, handshake, settings, sales requests ------------------------------------


@given(upload_results())
def test_result_survives_the_wire(result: UploadResult) -> None:
    assert result_from_thrift(_wire(result_to_thrift(result))) == result


@pytest.mark.parametrize("status", [0, 4, None])
def test_unknown_or_unset_result_status_is_refused(status: int | None) -> None:
    wire = result_to_thrift(UploadResult(1, UploadStatus.LOADED, 1))
    wire.status = status
    assert _refused(result_from_thrift, _wire(wire))[0] == "status"


def test_result_counts_default_when_unset() -> None:
    wire = THRIFT.UploadResult(
        workshift_id=0, status=THRIFT.UploadStatus.QUEUED, receipts_received=4
    )
    assert result_from_thrift(_wire(wire)) == UploadResult(0, UploadStatus.QUEUED, 4, 0, 0, "")


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
    assert handshake_from_thrift(_wire(handshake_to_thrift(handshake))) == handshake


def test_handshake_defaults_and_required_codes() -> None:
    minimal = THRIFT.HandshakeRequest(store_code="S1", register_code="R1", software_version=None)
    assert handshake_from_thrift(_wire(minimal)) == Handshake("S1", "R1")
    anonymous = THRIFT.HandshakeRequest(register_code="R1")
    assert _refused(handshake_from_thrift, _wire(anonymous)) == ("store_code", "missing")


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
    assert settings_from_thrift(_wire(settings_to_thrift(settings))) == settings


def test_settings_without_server_time_are_refused() -> None:
    settings = settings_to_thrift(SyncSettings(4, "h:1", "h:2", False, 500, 0))
    settings.server_time = None
    assert _refused(settings_from_thrift, _wire(settings)) == ("server_time", "missing")


sales_queries = st.one_of(
    st.tuples(times(), times()).map(lambda t: TimeRange(min(t), max(t))),
    st.tuples(st.integers(1, INT64_MAX), st.integers(1, INT64_MAX)).map(
        lambda s: ShiftRange(min(s), max(s))
    ),
)


@given(sales_queries)
def test_sales_query_survives_the_wire(query: SalesQuery) -> None:
    assert sales_query_from_thrift(_wire(sales_query_to_thrift(query))) == query


@pytest.mark.parametrize(
    ("request_", "field"),
    [
        (THRIFT.SalesRequest(), "request"),
        (
            THRIFT.SalesRequest(
                time_range=THRIFT.TimeRange(0, 1), shift_range=THRIFT.ShiftRange(1, 2)
            ),
            "request",
        ),
        (THRIFT.SalesRequest(time_range=THRIFT.TimeRange(to_time=5)), "time_range.from_time"),
        (THRIFT.SalesRequest(time_range=THRIFT.TimeRange(5, 4)), "time_range.to_time"),
        (THRIFT.SalesRequest(shift_range=THRIFT.ShiftRange(0, 4)), "shift_range.from_shift"),
        (THRIFT.SalesRequest(shift_range=THRIFT.ShiftRange(from_shift=4)), "shift_range.to_shift"),
        (THRIFT.SalesRequest(shift_range=THRIFT.ShiftRange(4, 3)), "shift_range.to_shift"),
    ],
)
def test_bad_sales_request_is_named(request_: Any, field: str) -> None:
    assert _refused(sales_query_from_thrift, _wire(request_))[0] == field

# mypy: ignore-errors
import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ReceiptKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    RECEIPT_KIND_UNSPECIFIED: _ClassVar[ReceiptKind]
    SALE: _ClassVar[ReceiptKind]
    RETURN: _ClassVar[ReceiptKind]
    CANCELLED: _ClassVar[ReceiptKind]
    CASH_IN: _ClassVar[ReceiptKind]
    CASH_OUT: _ClassVar[ReceiptKind]

class PaymentMethod(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    PAYMENT_METHOD_UNSPECIFIED: _ClassVar[PaymentMethod]
    CASH: _ClassVar[PaymentMethod]
    NONCASH: _ClassVar[PaymentMethod]

class UploadStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    UPLOAD_STATUS_UNSPECIFIED: _ClassVar[UploadStatus]
    LOADED: _ClassVar[UploadStatus]
    QUEUED: _ClassVar[UploadStatus]
    REJECTED: _ClassVar[UploadStatus]
RECEIPT_KIND_UNSPECIFIED: ReceiptKind
SALE: ReceiptKind
RETURN: ReceiptKind
CANCELLED: ReceiptKind
CASH_IN: ReceiptKind
CASH_OUT: ReceiptKind
PAYMENT_METHOD_UNSPECIFIED: PaymentMethod
CASH: PaymentMethod
NONCASH: PaymentMethod
UPLOAD_STATUS_UNSPECIFIED: UploadStatus
LOADED: UploadStatus
QUEUED: UploadStatus
REJECTED: UploadStatus

class HandshakeRequest(_message.Message):
    __slots__ = ("store_code", "register_code", "software_version", "supported_protocols", "register_time")
    STORE_CODE_FIELD_NUMBER: _ClassVar[int]
    REGISTER_CODE_FIELD_NUMBER: _ClassVar[int]
    SOFTWARE_VERSION_FIELD_NUMBER: _ClassVar[int]
    SUPPORTED_PROTOCOLS_FIELD_NUMBER: _ClassVar[int]
    REGISTER_TIME_FIELD_NUMBER: _ClassVar[int]
    store_code: str
    register_code: str
    software_version: str
    supported_protocols: _containers.RepeatedScalarFieldContainer[int]
    register_time: _timestamp_pb2.Timestamp
    def __init__(self, store_code: _Optional[str] = ..., register_code: _Optional[str] = ..., software_version: _Optional[str] = ..., supported_protocols: _Optional[_Iterable[int]] = ..., register_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class SyncSettings(_message.Message):
    __slots__ = ("protocol_version", "grpc_endpoint", "thrift_endpoint", "tls_required", "upload_batch_size", "server_time")
    PROTOCOL_VERSION_FIELD_NUMBER: _ClassVar[int]
    GRPC_ENDPOINT_FIELD_NUMBER: _ClassVar[int]
    THRIFT_ENDPOINT_FIELD_NUMBER: _ClassVar[int]
    TLS_REQUIRED_FIELD_NUMBER: _ClassVar[int]
    UPLOAD_BATCH_SIZE_FIELD_NUMBER: _ClassVar[int]
    SERVER_TIME_FIELD_NUMBER: _ClassVar[int]
    protocol_version: int
    grpc_endpoint: str
    thrift_endpoint: str
    tls_required: bool
    upload_batch_size: int
    server_time: _timestamp_pb2.Timestamp
    def __init__(self, protocol_version: _Optional[int] = ..., grpc_endpoint: _Optional[str] = ..., thrift_endpoint: _Optional[str] = ..., tls_required: _Optional[bool] = ..., upload_batch_size: _Optional[int] = ..., server_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class Shift(_message.Message):
    __slots__ = ("store_code", "register_code", "shift_number", "opened_at", "closed_at", "counters")
    STORE_CODE_FIELD_NUMBER: _ClassVar[int]
    REGISTER_CODE_FIELD_NUMBER: _ClassVar[int]
    SHIFT_NUMBER_FIELD_NUMBER: _ClassVar[int]
    OPENED_AT_FIELD_NUMBER: _ClassVar[int]
    CLOSED_AT_FIELD_NUMBER: _ClassVar[int]
    COUNTERS_FIELD_NUMBER: _ClassVar[int]
    store_code: str
    register_code: str
    shift_number: int
    opened_at: _timestamp_pb2.Timestamp
    closed_at: _timestamp_pb2.Timestamp
    counters: ShiftCounters
    def __init__(self, store_code: _Optional[str] = ..., register_code: _Optional[str] = ..., shift_number: _Optional[int] = ..., opened_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., closed_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., counters: _Optional[_Union[ShiftCounters, _Mapping]] = ...) -> None: ...

class ShiftCounters(_message.Message):
    __slots__ = ("receipts_count", "first_receipt_number", "last_receipt_number", "sales_cash", "sales_noncash", "returns_cash", "returns_noncash", "cash_in", "cash_out", "drawer")
    RECEIPTS_COUNT_FIELD_NUMBER: _ClassVar[int]
    FIRST_RECEIPT_NUMBER_FIELD_NUMBER: _ClassVar[int]
    LAST_RECEIPT_NUMBER_FIELD_NUMBER: _ClassVar[int]
    SALES_CASH_FIELD_NUMBER: _ClassVar[int]
    SALES_NONCASH_FIELD_NUMBER: _ClassVar[int]
    RETURNS_CASH_FIELD_NUMBER: _ClassVar[int]
    RETURNS_NONCASH_FIELD_NUMBER: _ClassVar[int]
    CASH_IN_FIELD_NUMBER: _ClassVar[int]
    CASH_OUT_FIELD_NUMBER: _ClassVar[int]
    DRAWER_FIELD_NUMBER: _ClassVar[int]
    receipts_count: int
    first_receipt_number: int
    last_receipt_number: int
    sales_cash: int
    sales_noncash: int
    returns_cash: int
    returns_noncash: int
    cash_in: int
    cash_out: int
    drawer: int
    def __init__(self, receipts_count: _Optional[int] = ..., first_receipt_number: _Optional[int] = ..., last_receipt_number: _Optional[int] = ..., sales_cash: _Optional[int] = ..., sales_noncash: _Optional[int] = ..., returns_cash: _Optional[int] = ..., returns_noncash: _Optional[int] = ..., cash_in: _Optional[int] = ..., cash_out: _Optional[int] = ..., drawer: _Optional[int] = ...) -> None: ...

class Receipt(_message.Message):
    __slots__ = ("uid", "number", "kind", "closed_at", "cashier", "lines", "payments")
    UID_FIELD_NUMBER: _ClassVar[int]
    NUMBER_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    CLOSED_AT_FIELD_NUMBER: _ClassVar[int]
    CASHIER_FIELD_NUMBER: _ClassVar[int]
    LINES_FIELD_NUMBER: _ClassVar[int]
    PAYMENTS_FIELD_NUMBER: _ClassVar[int]
    uid: str
    number: int
    kind: ReceiptKind
    closed_at: _timestamp_pb2.Timestamp
    cashier: str
    lines: _containers.RepeatedCompositeFieldContainer[Line]
    payments: _containers.RepeatedCompositeFieldContainer[Payment]
    def __init__(self, uid: _Optional[str] = ..., number: _Optional[int] = ..., kind: _Optional[_Union[ReceiptKind, str]] = ..., closed_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., cashier: _Optional[str] = ..., lines: _Optional[_Iterable[_Union[Line, _Mapping]]] = ..., payments: _Optional[_Iterable[_Union[Payment, _Mapping]]] = ...) -> None: ...

class Line(_message.Message):
    __slots__ = ("position", "item_code", "barcode", "name", "department", "quantity", "price", "amount", "discount", "vat_rate")
    POSITION_FIELD_NUMBER: _ClassVar[int]
    ITEM_CODE_FIELD_NUMBER: _ClassVar[int]
    BARCODE_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    DEPARTMENT_FIELD_NUMBER: _ClassVar[int]
    QUANTITY_FIELD_NUMBER: _ClassVar[int]
    PRICE_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FIELD_NUMBER: _ClassVar[int]
    DISCOUNT_FIELD_NUMBER: _ClassVar[int]
    VAT_RATE_FIELD_NUMBER: _ClassVar[int]
    position: int
    item_code: str
    barcode: str
    name: str
    department: str
    quantity: int
    price: int
    amount: int
    discount: int
    vat_rate: int
    def __init__(self, position: _Optional[int] = ..., item_code: _Optional[str] = ..., barcode: _Optional[str] = ..., name: _Optional[str] = ..., department: _Optional[str] = ..., quantity: _Optional[int] = ..., price: _Optional[int] = ..., amount: _Optional[int] = ..., discount: _Optional[int] = ..., vat_rate: _Optional[int] = ...) -> None: ...

class Payment(_message.Message):
    __slots__ = ("method", "amount")
    METHOD_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FIELD_NUMBER: _ClassVar[int]
    method: PaymentMethod
    amount: int
    def __init__(self, method: _Optional[_Union[PaymentMethod, str]] = ..., amount: _Optional[int] = ...) -> None: ...

class ReceiptBatch(_message.Message):
    __slots__ = ("receipts",)
    RECEIPTS_FIELD_NUMBER: _ClassVar[int]
    receipts: _containers.RepeatedCompositeFieldContainer[Receipt]
    def __init__(self, receipts: _Optional[_Iterable[_Union[Receipt, _Mapping]]] = ...) -> None: ...

class UploadChunk(_message.Message):
    __slots__ = ("shift", "receipts")
    SHIFT_FIELD_NUMBER: _ClassVar[int]
    RECEIPTS_FIELD_NUMBER: _ClassVar[int]
    shift: Shift
    receipts: ReceiptBatch
    def __init__(self, shift: _Optional[_Union[Shift, _Mapping]] = ..., receipts: _Optional[_Union[ReceiptBatch, _Mapping]] = ...) -> None: ...

class UploadResult(_message.Message):
    __slots__ = ("workshift_id", "status", "receipts_received", "receipts_stored", "receipts_duplicate", "message")
    WORKSHIFT_ID_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    RECEIPTS_RECEIVED_FIELD_NUMBER: _ClassVar[int]
    RECEIPTS_STORED_FIELD_NUMBER: _ClassVar[int]
    RECEIPTS_DUPLICATE_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    workshift_id: int
    status: UploadStatus
    receipts_received: int
    receipts_stored: int
    receipts_duplicate: int
    message: str
    def __init__(self, workshift_id: _Optional[int] = ..., status: _Optional[_Union[UploadStatus, str]] = ..., receipts_received: _Optional[int] = ..., receipts_stored: _Optional[int] = ..., receipts_duplicate: _Optional[int] = ..., message: _Optional[str] = ...) -> None: ...

class SalesRequest(_message.Message):
    __slots__ = ("time_range", "shift_range")
    TIME_RANGE_FIELD_NUMBER: _ClassVar[int]
    SHIFT_RANGE_FIELD_NUMBER: _ClassVar[int]
    time_range: TimeRange
    shift_range: ShiftRange
    def __init__(self, time_range: _Optional[_Union[TimeRange, _Mapping]] = ..., shift_range: _Optional[_Union[ShiftRange, _Mapping]] = ...) -> None: ...

class TimeRange(_message.Message):
    __slots__ = ("to",)
    FROM_FIELD_NUMBER: _ClassVar[int]
    TO_FIELD_NUMBER: _ClassVar[int]
    to: _timestamp_pb2.Timestamp
    def __init__(self, to: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., **kwargs) -> None: ...

class ShiftRange(_message.Message):
    __slots__ = ("from_shift", "to_shift")
    FROM_SHIFT_FIELD_NUMBER: _ClassVar[int]
    TO_SHIFT_FIELD_NUMBER: _ClassVar[int]
    from_shift: int
    to_shift: int
    def __init__(self, from_shift: _Optional[int] = ..., to_shift: _Optional[int] = ...) -> None: ...

// cashserver protocol 3 (SPEC section 5): binary protocol over a framed transport.
//
// The same structs and field names as proto/cashserver/v1/cashserver.proto, with
// times as i64 milliseconds since the Unix epoch (UTC) and enums with the same
// values. Money is i64 minor units (kopecks), quantity i64 thousandths.
//
// Fields that protobuf may leave absent are `optional` here. In what a register
// sends, a field that is neither optional nor defaulted and arrives unset is
// answered with InvalidRequest naming it; an unset list is empty. The 0 enum
// values are invalid; they exist so that a peer sending them is told so.
//
// `make generate` copies it into the Python package as cashserver/rpc/_generated/.

namespace py cashserver_thrift

enum ReceiptKind {
  RECEIPT_KIND_UNSPECIFIED = 0,
  SALE = 1,
  RETURN = 2,
  CANCELLED = 3,
  CASH_IN = 4,
  CASH_OUT = 5,
}

enum PaymentMethod {
  PAYMENT_METHOD_UNSPECIFIED = 0,
  CASH = 1,
  NONCASH = 2,
}

enum UploadStatus {
  UPLOAD_STATUS_UNSPECIFIED = 0,
  LOADED = 1,
  QUEUED = 2,
  REJECTED = 3,
}

struct HandshakeRequest {
  1: string store_code,
  2: string register_code,
  3: string software_version = "",
  4: list<i32> supported_protocols,
  5: optional i64 register_time,     // the register's clock when it sent it; absent from older registers
}

struct SyncSettings {
  1: i32 protocol_version,           // 3 or 4
  2: string grpc_endpoint,
  3: string thrift_endpoint,
  4: bool tls_required,
  5: i32 upload_batch_size,
  6: i64 server_time,
}

struct ShiftCounters {
  1: i64 receipts_count = 0,
  2: i64 first_receipt_number = 0,
  3: i64 last_receipt_number = 0,
  4: i64 sales_cash = 0,
  5: i64 sales_noncash = 0,
  6: i64 returns_cash = 0,
  7: i64 returns_noncash = 0,
  8: i64 cash_in = 0,
  9: i64 cash_out = 0,
  10: i64 drawer = 0,
}

struct Shift {
  1: string store_code,
  2: string register_code,
  3: i64 shift_number,
  4: optional i64 opened_at,         // unset = null
  5: optional i64 closed_at,         // unset = the shift is open
  6: optional ShiftCounters counters, // unset = not reported
}

struct Line {
  1: i32 position,
  2: string item_code,
  3: string barcode,
  4: string name,
  5: string department,
  6: i64 quantity,                   // thousandths
  7: i64 price,
  8: i64 amount,
  9: i64 discount = 0,
  10: i32 vat_rate = 0,              // hundredths of a percent: 2000 = 20 %
}

struct Payment {
  1: PaymentMethod method,
  2: i64 amount,
}

struct Receipt {
  1: string uid,
  2: i64 number,
  3: ReceiptKind kind,
  4: i64 closed_at,
  5: string cashier = "",
  6: list<Line> lines,
  7: list<Payment> payments,
}

struct ShiftUpload {
  1: required Shift shift,
  2: list<Receipt> receipts,
}

struct UploadResult {
  1: i64 workshift_id,
  2: UploadStatus status,
  3: i64 receipts_received,
  4: i64 receipts_stored,
  5: i64 receipts_duplicate,
  6: string message,
}

// Half-open [from_time, to_time). The proto's `from`/`to` are reserved words in Thrift.
struct TimeRange {
  1: i64 from_time,
  2: i64 to_time,
}

// Inclusive [from_shift, to_shift].
struct ShiftRange {
  1: i64 from_shift,
  2: i64 to_shift,
}

union SalesRequest {
  1: TimeRange time_range,
  2: ShiftRange shift_range,
}

exception InvalidRequest {
  1: string field,
  2: string message,
}

exception AccessDenied {
  1: string message,
}

service SalesLoader {
  SyncSettings handshake(1: HandshakeRequest request)
    throws (1: InvalidRequest invalid, 2: AccessDenied denied),
  UploadResult uploadShift(1: ShiftUpload upload)
    throws (1: InvalidRequest invalid, 2: AccessDenied denied),
}

service RegisterSales {
  list<ShiftUpload> getSales(1: SalesRequest request),
}

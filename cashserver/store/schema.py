"""The tables, on one MetaData. Alembic migrations build them; this is their model.

Times are BIGINT milliseconds since the epoch (UTC), money BIGINT kopecks,
quantity BIGINT thousandths. A receipt has an integer ``receipt_id`` that the
loader hands out in increasing order (and a unique ``uid``); lines and payments are
keyed by (receipt_id, index). So a batch of receipts is three plain executemany
calls whose lines and payments append at the end of their B-trees, and only the
uid index takes random inserts.

``shifts.revision`` grows whenever a load changes a shift (new receipts, a new
header value); ``exports.revision`` is the revision whose files were written,
so "exported" is simply ``exports.revision = shifts.revision``. ``receipts.revision``
is the shift revision whose load stored the receipt; ``forwards.acked_revision`` the one
the central server acknowledged, so the receipts still to forward are those above it.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    SmallInteger,
    String,
    Table,
    Text,
    UniqueConstraint,
)

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = MetaData(naming_convention=NAMING)

# An auto-incrementing 64-bit key; SQLite only auto-increments INTEGER PRIMARY KEY.
BigId = BigInteger().with_variant(Integer(), "sqlite")

stores = Table(
    "stores",
    metadata,
    Column("store_code", String(32), primary_key=True),
    Column("created_at", BigInteger, nullable=False),
)

registers = Table(
    "registers",
    metadata,
    Column("register_id", Integer, primary_key=True, autoincrement=True),
    Column("store_code", String(32), ForeignKey("stores.store_code"), nullable=False),
    Column("register_code", String(32), nullable=False),
    Column("protocol_version", SmallInteger, nullable=True),
    Column("software_version", String(64), nullable=False, server_default=""),
    Column("created_at", BigInteger, nullable=False),
    Column("last_seen_at", BigInteger, nullable=True),
    # The pull directory (SPEC 10): NULL = never set, the default applies.
    Column("address", String(255), nullable=True),
    Column("pull_interval_s", Integer, nullable=True),
    Column("timezone", String(64), nullable=True),
    Column("department", String(64), nullable=True),
    Column("tls_ca", String(1024), nullable=True),
    Column("tls_cert", String(1024), nullable=True),
    Column("tls_key", String(1024), nullable=True),
    # The loading state: NULL before the first pull.
    Column("state", String(16), nullable=True),
    Column("state_message", Text, nullable=True),
    Column("state_at", BigInteger, nullable=True),
    Column("last_load_at", BigInteger, nullable=True),
    Column("last_sale_at", BigInteger, nullable=True),
    # A removed register keeps its row (its shifts point at it) but leaves the directory.
    Column("removed_at", BigInteger, nullable=True),
    # Grows on every change of the directory's own fields (not on last_seen_at): with
    # the row count and the highest id, a cheap fingerprint that running daemons poll.
    Column("revision", Integer, nullable=False, server_default="0"),
    # The register's clock minus the server's, in seconds, as last measured (SPEC 16);
    # NULL until measured. Written with the sightings, like last_seen_at.
    Column("clock_skew_s", BigInteger, nullable=True),
    UniqueConstraint("store_code", "register_code", name="uq_registers_store_register"),
)

COUNTER_COLUMNS = (
    "receipts_count",
    "first_receipt_number",
    "last_receipt_number",
    "sales_cash",
    "sales_noncash",
    "returns_cash",
    "returns_noncash",
    "cash_in",
    "cash_out",
    "drawer",
)

shifts = Table(
    "shifts",
    metadata,
    Column("workshift_id", BigId, primary_key=True, autoincrement=True),
    Column("register_id", Integer, ForeignKey("registers.register_id"), nullable=False),
    Column("shift_number", BigInteger, nullable=False),
    Column("opened_at", BigInteger, nullable=True),
    Column("closed_at", BigInteger, nullable=True),
    Column("first_receipt_at", BigInteger, nullable=True),
    Column("has_counters", SmallInteger, nullable=False, server_default="0"),
    *(Column(f"c_{name}", BigInteger, nullable=True) for name in COUNTER_COLUMNS),
    Column("revision", Integer, nullable=False, server_default="0"),
    Column("created_at", BigInteger, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
    Index("ix_shifts_register_number", "register_id", "shift_number"),
    Index("ix_shifts_opened_at", "opened_at"),
)

receipts = Table(
    "receipts",
    metadata,
    Column("receipt_id", BigId, primary_key=True, autoincrement=True),
    Column("uid", String(36), nullable=False, unique=True),
    Column("workshift_id", BigInteger, ForeignKey("shifts.workshift_id"), nullable=False),
    Column("number", BigInteger, nullable=False),
    Column("kind", SmallInteger, nullable=False),
    Column("closed_at", BigInteger, nullable=False),
    Column("cashier", String(128), nullable=False),
    # The shift revision whose load stored the receipt (SPEC 15: what is not forwarded).
    Column("revision", Integer, nullable=False, server_default="0"),
    Index("ix_receipts_workshift_id", "workshift_id"),
)

lines = Table(
    "lines",
    metadata,
    Column("receipt_id", BigInteger, ForeignKey("receipts.receipt_id"), nullable=False),
    Column("line_no", Integer, nullable=False),
    Column("position", Integer, nullable=False),
    Column("item_code", String(64), nullable=False),
    Column("barcode", String(64), nullable=False),
    Column("name", Text, nullable=False),
    Column("department", String(64), nullable=False),
    Column("quantity", BigInteger, nullable=False),
    Column("price", BigInteger, nullable=False),
    Column("amount", BigInteger, nullable=False),
    Column("discount", BigInteger, nullable=False),
    Column("vat_rate", Integer, nullable=False),
    PrimaryKeyConstraint("receipt_id", "line_no", name="pk_lines"),
)

payments = Table(
    "payments",
    metadata,
    Column("receipt_id", BigInteger, ForeignKey("receipts.receipt_id"), nullable=False),
    Column("payment_no", Integer, nullable=False),
    Column("method", SmallInteger, nullable=False),
    Column("amount", BigInteger, nullable=False),
    PrimaryKeyConstraint("receipt_id", "payment_no", name="pk_payments"),
)

exports = Table(
    "exports",
    metadata,
    Column("workshift_id", BigInteger, ForeignKey("shifts.workshift_id"), primary_key=True),
    Column("revision", Integer, nullable=False),
    Column("formats", String(128), nullable=False),
    Column("content_hash", String(64), nullable=False),
    Column("exported_at", BigInteger, nullable=False),
)

forwards = Table(
    "forwards",
    metadata,
    Column("workshift_id", BigInteger, ForeignKey("shifts.workshift_id"), primary_key=True),
    Column("acked_revision", Integer, nullable=False, server_default="0"),
    Column("acked_at", BigInteger, nullable=True),
    Column("central_workshift_id", BigInteger, nullable=True),
    Column("rejected_revision", Integer, nullable=True),
    Column("message", Text, nullable=True),
    Column("rejected_at", BigInteger, nullable=True),
)
"""Forwarding state (SPEC 15), written by the forwarder only: the revision the central
server acknowledged, so "forwarded" is ``forwards.acked_revision = shifts.revision``, and
the revision it set aside (``rejected_revision``, with its answer) if any."""

events = Table(
    "events",
    metadata,
    Column("event_id", BigId, primary_key=True, autoincrement=True),
    Column("time", BigInteger, nullable=False),
    Column("event", String(64), nullable=False),
    Column("fields", Text, nullable=False),
    Index("ix_events_time", "time"),
)

leases = Table(
    "leases",
    metadata,
    Column("job", String(64), nullable=False),
    Column("key", String(128), nullable=False),
    Column("owner", String(128), nullable=False),
    Column("fence", BigInteger, nullable=False),
    Column("acquired_at", BigInteger, nullable=False),
    Column("expires_at", BigInteger, nullable=False),
    PrimaryKeyConstraint("job", "key", name="pk_leases"),
)

settings = Table(
    "settings",
    metadata,
    Column("key", String(128), primary_key=True),
    Column("value", Text, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
)

# Totals kept by the loader in the same transaction as the receipts (cashserver.store.totals),
# so reconciliation and the store-day report never scan receipts. The six money columns
# are the sums of SPEC 7: payments of SALE and RETURN per method, CASH_IN and CASH_OUT cash.
TOTAL_COLUMNS = (
    "receipts_count",
    "sales_cash",
    "sales_noncash",
    "returns_cash",
    "returns_noncash",
    "cash_in",
    "cash_out",
)

shift_totals = Table(
    "shift_totals",
    metadata,
    Column("workshift_id", BigInteger, ForeignKey("shifts.workshift_id"), primary_key=True),
    *(Column(name, BigInteger, nullable=False, server_default="0") for name in TOTAL_COLUMNS),
    Column("numbers_in_range", BigInteger, nullable=False, server_default="0"),
)
"""One row a shift. ``numbers_in_range``: distinct receipt numbers between the shift's
counters' first and last, recounted whenever its receipts or counters change."""

shift_quarter_totals = Table(
    "shift_quarter_totals",
    metadata,
    Column("workshift_id", BigInteger, ForeignKey("shifts.workshift_id"), nullable=False),
    Column("quarter", BigInteger, nullable=False),
    Column("store_code", String(32), nullable=False),
    Column("register_id", Integer, nullable=False),
    *(Column(name, BigInteger, nullable=False, server_default="0") for name in TOTAL_COLUMNS),
    PrimaryKeyConstraint("workshift_id", "quarter", name="pk_shift_quarter_totals"),
    Index("ix_shift_quarter_totals_store_quarter", "store_code", "quarter"),
)
"""One row a shift and UTC quarter hour (``closed_at // 900000``) with receipts. Every
time zone in use today is offset from UTC by whole quarter hours, so any store's local
day is an exact run of quarters: the store-day report sums them for the time zone the
configuration gives now, and a changed time zone needs no rebuild."""

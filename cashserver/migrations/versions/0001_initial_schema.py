"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-11-22
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "events",
        sa.Column(
            "event_id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("time", sa.BigInteger(), nullable=False),
        sa.Column("event", sa.String(length=64), nullable=False),
        sa.Column("fields", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("event_id", name=op.f("pk_events")),
    )
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.create_index("ix_events_time", ["time"], unique=False)

    op.create_table(
        "stores",
        sa.Column("store_code", sa.String(length=32), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("store_code", name=op.f("pk_stores")),
    )
    op.create_table(
        "registers",
        sa.Column("register_id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("store_code", sa.String(length=32), nullable=False),
        sa.Column("register_code", sa.String(length=32), nullable=False),
        sa.Column("protocol_version", sa.SmallInteger(), nullable=True),
        sa.Column("software_version", sa.String(length=64), server_default="", nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("last_seen_at", sa.BigInteger(), nullable=True),
        sa.ForeignKeyConstraint(
            ["store_code"], ["stores.store_code"], name=op.f("fk_registers_store_code_stores")
        ),
        sa.PrimaryKeyConstraint("register_id", name=op.f("pk_registers")),
        sa.UniqueConstraint("store_code", "register_code", name="uq_registers_store_register"),
    )
    op.create_table(
        "shifts",
        sa.Column(
            "workshift_id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("register_id", sa.Integer(), nullable=False),
        sa.Column("shift_number", sa.BigInteger(), nullable=False),
        sa.Column("opened_at", sa.BigInteger(), nullable=True),
        sa.Column("closed_at", sa.BigInteger(), nullable=True),
        sa.Column("first_receipt_at", sa.BigInteger(), nullable=True),
        sa.Column("has_counters", sa.SmallInteger(), server_default="0", nullable=False),
        sa.Column("c_receipts_count", sa.BigInteger(), nullable=True),
        sa.Column("c_first_receipt_number", sa.BigInteger(), nullable=True),
        sa.Column("c_last_receipt_number", sa.BigInteger(), nullable=True),
        sa.Column("c_sales_cash", sa.BigInteger(), nullable=True),
        sa.Column("c_sales_noncash", sa.BigInteger(), nullable=True),
        sa.Column("c_returns_cash", sa.BigInteger(), nullable=True),
        sa.Column("c_returns_noncash", sa.BigInteger(), nullable=True),
        sa.Column("c_cash_in", sa.BigInteger(), nullable=True),
        sa.Column("c_cash_out", sa.BigInteger(), nullable=True),
        sa.Column("c_drawer", sa.BigInteger(), nullable=True),
        sa.Column("revision", sa.Integer(), server_default="0", nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["register_id"], ["registers.register_id"], name=op.f("fk_shifts_register_id_registers")
        ),
        sa.PrimaryKeyConstraint("workshift_id", name=op.f("pk_shifts")),
    )
    with op.batch_alter_table("shifts", schema=None) as batch_op:
        batch_op.create_index("ix_shifts_opened_at", ["opened_at"], unique=False)
        batch_op.create_index(
            "ix_shifts_register_number", ["register_id", "shift_number"], unique=False
        )

    op.create_table(
        "exports",
        sa.Column("workshift_id", sa.BigInteger(), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("formats", sa.String(length=128), nullable=False),
        sa.Column("content_hash", sa.String(length=64), nullable=False),
        sa.Column("exported_at", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["workshift_id"], ["shifts.workshift_id"], name=op.f("fk_exports_workshift_id_shifts")
        ),
        sa.PrimaryKeyConstraint("workshift_id", name=op.f("pk_exports")),
    )
    op.create_table(
        "receipts",
        sa.Column(
            "receipt_id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("uid", sa.String(length=36), nullable=False),
        sa.Column("workshift_id", sa.BigInteger(), nullable=False),
        sa.Column("number", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.SmallInteger(), nullable=False),
        sa.Column("closed_at", sa.BigInteger(), nullable=False),
        sa.Column("cashier", sa.String(length=128), nullable=False),
        sa.ForeignKeyConstraint(
            ["workshift_id"], ["shifts.workshift_id"], name=op.f("fk_receipts_workshift_id_shifts")
        ),
        sa.PrimaryKeyConstraint("receipt_id", name=op.f("pk_receipts")),
        sa.UniqueConstraint("uid", name=op.f("uq_receipts_uid")),
    )
    with op.batch_alter_table("receipts", schema=None) as batch_op:
        batch_op.create_index("ix_receipts_workshift_id", ["workshift_id"], unique=False)

    op.create_table(
        "lines",
        sa.Column("receipt_id", sa.BigInteger(), nullable=False),
        sa.Column("line_no", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("item_code", sa.String(length=64), nullable=False),
        sa.Column("barcode", sa.String(length=64), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("department", sa.String(length=64), nullable=False),
        sa.Column("quantity", sa.BigInteger(), nullable=False),
        sa.Column("price", sa.BigInteger(), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("discount", sa.BigInteger(), nullable=False),
        sa.Column("vat_rate", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["receipt_id"], ["receipts.receipt_id"], name=op.f("fk_lines_receipt_id_receipts")
        ),
        sa.PrimaryKeyConstraint("receipt_id", "line_no", name="pk_lines"),
    )
    op.create_table(
        "payments",
        sa.Column("receipt_id", sa.BigInteger(), nullable=False),
        sa.Column("payment_no", sa.Integer(), nullable=False),
        sa.Column("method", sa.SmallInteger(), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["receipt_id"], ["receipts.receipt_id"], name=op.f("fk_payments_receipt_id_receipts")
        ),
        sa.PrimaryKeyConstraint("receipt_id", "payment_no", name="pk_payments"),
    )


def downgrade() -> None:
    op.drop_table("payments")
    op.drop_table("lines")
    with op.batch_alter_table("receipts", schema=None) as batch_op:
        batch_op.drop_index("ix_receipts_workshift_id")

    op.drop_table("receipts")
    op.drop_table("exports")
    with op.batch_alter_table("shifts", schema=None) as batch_op:
        batch_op.drop_index("ix_shifts_register_number")
        batch_op.drop_index("ix_shifts_opened_at")

    op.drop_table("shifts")
    op.drop_table("registers")
    op.drop_table("stores")
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.drop_index("ix_events_time")

    op.drop_table("events")

"""per-shift and per-shift-quarter-hour totals, backfilled from the stored receipts

Revision ID: 0005_totals
Revises: 0004_settings
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005_totals"
down_revision: str | None = "0004_settings"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TOTALS = (
    "receipts_count",
    "sales_cash",
    "sales_noncash",
    "returns_cash",
    "returns_noncash",
    "cash_in",
    "cash_out",
)

# Receipt kinds SALE 1, RETURN 2, CASH_IN 4, CASH_OUT 5; payment methods CASH 1, NONCASH 2.
# Written out here rather than imported: a migration must keep meaning what it meant.
_SUMS = """COUNT(*),
  COALESCE(SUM(CASE WHEN r.kind = 1 THEN p.cash END), 0),
  COALESCE(SUM(CASE WHEN r.kind = 1 THEN p.noncash END), 0),
  COALESCE(SUM(CASE WHEN r.kind = 2 THEN p.cash END), 0),
  COALESCE(SUM(CASE WHEN r.kind = 2 THEN p.noncash END), 0),
  COALESCE(SUM(CASE WHEN r.kind = 4 THEN p.cash END), 0),
  COALESCE(SUM(CASE WHEN r.kind = 5 THEN p.cash END), 0)"""
_PAID = """receipts r LEFT JOIN (
  SELECT receipt_id,
    SUM(CASE WHEN method = 1 THEN amount ELSE 0 END) AS cash,
    SUM(CASE WHEN method = 2 THEN amount ELSE 0 END) AS noncash
  FROM payments GROUP BY receipt_id) p ON p.receipt_id = r.receipt_id"""


def _total_columns() -> list[sa.Column[int]]:
    return [sa.Column(name, sa.BigInteger(), server_default="0", nullable=False) for name in TOTALS]


def upgrade() -> None:
    op.create_table(
        "shift_totals",
        sa.Column("workshift_id", sa.BigInteger(), nullable=False),
        *_total_columns(),
        sa.Column("numbers_in_range", sa.BigInteger(), server_default="0", nullable=False),
        sa.ForeignKeyConstraint(
            ["workshift_id"],
            ["shifts.workshift_id"],
            name=op.f("fk_shift_totals_workshift_id_shifts"),
        ),
        sa.PrimaryKeyConstraint("workshift_id", name=op.f("pk_shift_totals")),
    )
    op.create_table(
        "shift_quarter_totals",
        sa.Column("workshift_id", sa.BigInteger(), nullable=False),
        sa.Column("quarter", sa.BigInteger(), nullable=False),
        sa.Column("store_code", sa.String(length=32), nullable=False),
        sa.Column("register_id", sa.Integer(), nullable=False),
        *_total_columns(),
        sa.ForeignKeyConstraint(
            ["workshift_id"],
            ["shifts.workshift_id"],
            name=op.f("fk_shift_quarter_totals_workshift_id_shifts"),
        ),
        sa.PrimaryKeyConstraint("workshift_id", "quarter", name="pk_shift_quarter_totals"),
    )
    with op.batch_alter_table("shift_quarter_totals", schema=None) as batch_op:
        batch_op.create_index(
            "ix_shift_quarter_totals_store_quarter", ["store_code", "quarter"], unique=False
        )
    columns = ", ".join(TOTALS)
    op.execute(
        f"INSERT INTO shift_totals (workshift_id, {columns})"
        f" SELECT r.workshift_id, {_SUMS} FROM {_PAID} GROUP BY r.workshift_id"
    )
    op.execute(
        "UPDATE shift_totals SET numbers_in_range = (SELECT COUNT(DISTINCT r.number)"
        " FROM receipts r JOIN shifts s ON s.workshift_id = r.workshift_id"
        " WHERE r.workshift_id = shift_totals.workshift_id AND s.has_counters = 1"
        " AND r.number BETWEEN s.c_first_receipt_number AND s.c_last_receipt_number)"
    )
    op.execute(
        "INSERT INTO shift_quarter_totals"
        f" (workshift_id, quarter, store_code, register_id, {columns})"
        f" SELECT r.workshift_id, r.closed_at / 900000, g.store_code, g.register_id, {_SUMS}"
        f" FROM {_PAID} JOIN shifts s ON s.workshift_id = r.workshift_id"
        " JOIN registers g ON g.register_id = s.register_id"
        " GROUP BY r.workshift_id, r.closed_at / 900000, g.store_code, g.register_id"
    )


def downgrade() -> None:
    with op.batch_alter_table("shift_quarter_totals", schema=None) as batch_op:
        batch_op.drop_index("ix_shift_quarter_totals_store_quarter")
    op.drop_table("shift_quarter_totals")
    op.drop_table("shift_totals")

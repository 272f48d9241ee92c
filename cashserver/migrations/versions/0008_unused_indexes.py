"""Drop the index that no query uses: ix_shifts_opened_at

Every shift list filters by date on ``coalesce(opened_at, first_receipt_at)``, which
an index on ``opened_at`` alone cannot serve; the loader paid for it on every new
shift. tests/integration/test_query_plans.py keeps the plans of the hot queries.

Revision ID: 0008_unused_indexes
Revises: 0007_clock_skew
Create Date: 2026-12-05
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0008_unused_indexes"
down_revision: str | None = "0007_clock_skew"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.drop_index("ix_shifts_opened_at", table_name="shifts")


def downgrade() -> None:
    op.create_index("ix_shifts_opened_at", "shifts", ["opened_at"], unique=False)

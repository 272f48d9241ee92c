"""registers.clock_skew_s: the register's clock minus the server's, last measured

Revision ID: 0008_clock_skew
Revises: 0007_forwarding
Create Date: 2026-12-05
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008_clock_skew"
down_revision: str | None = "0007_forwarding"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("registers", schema=None) as batch_op:
        batch_op.add_column(sa.Column("clock_skew_s", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("registers", schema=None) as batch_op:
        batch_op.drop_column("clock_skew_s")

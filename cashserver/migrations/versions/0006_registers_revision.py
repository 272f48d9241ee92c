"""registers.revision: a change counter, so a running daemon notices directory edits

Revision ID: 0006_registers_revision
Revises: 0005_totals
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006_registers_revision"
down_revision: str | None = "0005_totals"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("registers", schema=None) as batch_op:
        batch_op.add_column(sa.Column("revision", sa.Integer(), nullable=False, server_default="0"))


def downgrade() -> None:
    with op.batch_alter_table("registers", schema=None) as batch_op:
        batch_op.drop_column("revision")

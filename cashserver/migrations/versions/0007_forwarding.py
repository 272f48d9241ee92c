"""Forwarding: receipts.revision and the forwards table (SPEC 15)

``receipts.revision`` is the shift revision whose load stored the receipt, so the
receipts a central server has not acknowledged are those with a revision above the
acknowledged one (never a row id: the receipts table's keys may change). Existing
receipts take their shift's current revision, so a server that starts forwarding
sends every stored shift whole once.

``forwards`` holds one row a shift that the forwarder has dealt with: the revision
the central server acknowledged, or the revision it set aside with the answer.

Revision ID: 0007_forwarding
Revises: 0006_registers_revision
Create Date: 2026-12-05
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007_forwarding"
down_revision: str | None = "0006_registers_revision"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("receipts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("revision", sa.Integer(), nullable=False, server_default="0"))
    op.execute(
        "UPDATE receipts SET revision = (SELECT shifts.revision FROM shifts"
        " WHERE shifts.workshift_id = receipts.workshift_id)"
    )
    op.create_table(
        "forwards",
        sa.Column("workshift_id", sa.BigInteger(), nullable=False),
        sa.Column("acked_revision", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("acked_at", sa.BigInteger(), nullable=True),
        sa.Column("central_workshift_id", sa.BigInteger(), nullable=True),
        sa.Column("rejected_revision", sa.Integer(), nullable=True),
        sa.Column("message", sa.Text(), nullable=True),
        sa.Column("rejected_at", sa.BigInteger(), nullable=True),
        sa.ForeignKeyConstraint(
            ["workshift_id"],
            ["shifts.workshift_id"],
            name=op.f("fk_forwards_workshift_id_shifts"),
        ),
        sa.PrimaryKeyConstraint("workshift_id", name=op.f("pk_forwards")),
    )


def downgrade() -> None:
    op.drop_table("forwards")
    with op.batch_alter_table("receipts", schema=None) as batch_op:
        batch_op.drop_column("revision")

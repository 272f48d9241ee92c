"""the pull directory and each register's loading state (SPEC 10)

Revision ID: 0003_pull_directory
Revises: 0002_leases
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003_pull_directory"
down_revision: str | None = "0002_leases"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COLUMNS = (
    ("address", sa.String(length=255)),
    ("pull_interval_s", sa.Integer()),
    ("timezone", sa.String(length=64)),
    ("department", sa.String(length=64)),
    ("tls_ca", sa.String(length=1024)),
    ("tls_cert", sa.String(length=1024)),
    ("tls_key", sa.String(length=1024)),
    ("state", sa.String(length=16)),
    ("state_message", sa.Text()),
    ("state_at", sa.BigInteger()),
    ("last_load_at", sa.BigInteger()),
    ("last_sale_at", sa.BigInteger()),
    ("removed_at", sa.BigInteger()),
)


def upgrade() -> None:
    with op.batch_alter_table("registers", schema=None) as batch_op:
        for name, kind in COLUMNS:
            batch_op.add_column(sa.Column(name, kind, nullable=True))
    # A register that has loaded before this revision: its last load and sale from its shifts.
    op.execute(
        "UPDATE registers SET"
        " last_sale_at = (SELECT MAX(r.closed_at) FROM receipts r"
        " JOIN shifts s ON s.workshift_id = r.workshift_id"
        " WHERE s.register_id = registers.register_id),"
        " last_load_at = (SELECT MAX(s.updated_at) FROM shifts s"
        " WHERE s.register_id = registers.register_id)"
    )


def downgrade() -> None:
    with op.batch_alter_table("registers", schema=None) as batch_op:
        for name, _kind in reversed(COLUMNS):
            batch_op.drop_column(name)

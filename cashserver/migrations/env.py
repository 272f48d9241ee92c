"""Alembic environment: migrations run on the engine the caller hands over.

On PostgreSQL a lock timeout keeps a migration from waiting forever behind a
long transaction, and an advisory lock lets two daemons start at once safely.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Engine, text

from cashserver.store.schema import metadata

MIGRATION_LOCK_ID = 0x63617368  # "cash"


def run_migrations_online() -> None:
    engine: Engine = context.config.attributes["engine"]
    with engine.connect() as connection:
        postgres = connection.dialect.name == "postgresql"
        if postgres:
            connection.execute(text("SET lock_timeout = '30s'"))
            connection.execute(text("SELECT pg_advisory_lock(:id)"), {"id": MIGRATION_LOCK_ID})
            connection.commit()
        try:
            context.configure(
                connection=connection,
                target_metadata=metadata,
                render_as_batch=connection.dialect.name == "sqlite",
                compare_type=True,
            )
            with context.begin_transaction():
                context.run_migrations()
        finally:
            if postgres:
                connection.execute(
                    text("SELECT pg_advisory_unlock(:id)"), {"id": MIGRATION_LOCK_ID}
                )
                connection.commit()


run_migrations_online()

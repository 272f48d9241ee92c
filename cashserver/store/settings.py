"""The settings table (SPEC 13): key/value pairs, the only writer.

Keys are 1-128 characters of ``A-Z a-z 0-9 _ . -`` (the dictionary trim's
``SEND_DICTS_ON_CASHES_BY_URL_LOCAL_DIRECTORY`` and the like); values are any text.
"""

from __future__ import annotations

import re

from sqlalchemy import Engine, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from cashserver.clock import now_ms
from cashserver.store.engine import write_transaction
from cashserver.store.schema import settings

KEY_RE = re.compile(r"[A-Za-z0-9_.-]{1,128}")


class BadSettingKey(ValueError):
    """A key outside the charset or length."""


def check_key(key: str) -> str:
    if KEY_RE.fullmatch(key) is None:
        raise BadSettingKey(f"setting key {key!r}: must be 1-128 characters of A-Z a-z 0-9 _ . -")
    return key


class Settings:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def all(self) -> dict[str, str]:
        """Every setting, by key (in key order)."""
        with self.engine.connect() as conn:
            rows = conn.execute(select(settings.c.key, settings.c.value).order_by(settings.c.key))
            return {key: value for key, value in rows}

    def get(self, key: str) -> str | None:
        with self.engine.connect() as conn:
            value = conn.execute(
                select(settings.c.value).where(settings.c.key == check_key(key))
            ).scalar_one_or_none()
        return None if value is None else str(value)

    def set(self, key: str, value: str) -> None:
        """Create or replace one setting."""
        check_key(key)
        upsert = pg_insert if self.engine.dialect.name == "postgresql" else sqlite_insert
        statement = upsert(settings).values(key=key, value=value, updated_at=now_ms())
        statement = statement.on_conflict_do_update(
            index_elements=[settings.c.key],
            set_={"value": statement.excluded.value, "updated_at": statement.excluded.updated_at},
        )
        with write_transaction(self.engine) as conn:
            conn.execute(statement)

    def unset(self, key: str) -> bool:
        """Remove one setting; False when there was none."""
        check_key(key)
        with write_transaction(self.engine) as conn:
            return bool(conn.execute(settings.delete().where(settings.c.key == key)).rowcount)

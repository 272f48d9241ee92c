"""Fixtures of the integration tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from cashserver.store.engine import open_engine, upgrade


@pytest.fixture
def sqlite_engine(tmp_path: Path) -> Iterator[Engine]:
    """A migrated SQLite database in the test's folder (for tests of one backend)."""
    engine = open_engine(f"sqlite:///{tmp_path / 'cashserver.db'}")
    upgrade(engine)
    yield engine
    engine.dispose()

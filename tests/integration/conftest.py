"""Fixtures of the integration tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from cashserver.store.engine import open_engine, upgrade
from tests.integration.site import Site


@pytest.fixture
def sqlite_engine(tmp_path: Path) -> Iterator[Engine]:
    """A migrated SQLite database in the test's folder (for tests of one backend)."""
    engine = open_engine(f"sqlite:///{tmp_path / 'cashserver.db'}")
    upgrade(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def site(tmp_path: Path) -> Site:
    path = tmp_path / "cashserver.toml"
    path.write_text(
        f'[server]\ndata_dir = "{tmp_path / "data"}"\n[grpc]\nlisten = ""\n[thrift]\nlisten = ""\n',
        encoding="utf-8",
    )
    return Site(tmp_path, path)


@pytest.fixture
def site_engine(site: Site) -> Iterator[Engine]:
    """The site's database, migrated, for loading through the Repository in-process."""
    engine = open_engine(site.config.database_url)
    upgrade(engine)
    yield engine
    engine.dispose()

"""Alembic migrations on SQLite and PostgreSQL: they build exactly the model, once."""

from __future__ import annotations

import itertools
import multiprocessing
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, inspect, select

from cashserver.domain import Shift, Upload
from cashserver.store.engine import alembic_config, open_engine, upgrade
from cashserver.store.repository import Repository
from cashserver.store.schema import metadata, shifts
from tests.pg import Cluster

_names = itertools.count()


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """An engine on a database with no tables at all."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'fresh' / 'cashserver.db'}"
    else:
        cluster: Cluster = request.getfixturevalue("pg_cluster")
        name = f"empty{next(_names)}"
        cluster.execute(f"CREATE DATABASE {name}")
        url = cluster.url_for(name)
    engine = open_engine(url)
    yield engine
    engine.dispose()


def schema_differences(engine: Engine) -> list[object]:
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        return list(compare_metadata(context, metadata))


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def head_revision() -> str:
    heads = ScriptDirectory.from_config(alembic_config()).get_heads()
    assert len(heads) == 1, f"migrations must have one head, not {heads}"
    return heads[0]


def test_an_empty_database_is_not_the_model(empty_engine: Engine) -> None:
    # The comparison below is only worth something if it can see a difference.
    assert schema_differences(empty_engine)


def test_after_upgrade_the_database_is_exactly_the_model(empty_engine: Engine) -> None:
    upgrade(empty_engine)
    assert schema_differences(empty_engine) == []
    assert current_revision(empty_engine) == head_revision()
    tables = set(inspect(empty_engine).get_table_names())
    assert set(metadata.tables) <= tables


def test_upgrade_is_idempotent_and_keeps_the_data(empty_engine: Engine) -> None:
    upgrade(empty_engine)
    outcome = Repository(empty_engine).load(Upload(Shift("S1", "R1", 1, opened_at=1)))
    upgrade(empty_engine)
    upgrade(empty_engine)
    assert current_revision(empty_engine) == head_revision()
    assert schema_differences(empty_engine) == []
    with empty_engine.connect() as conn:
        assert conn.execute(select(shifts.c.workshift_id)).scalars().all() == [outcome.workshift_id]


def test_the_session_databases_are_migrated_to_head(engine: Engine) -> None:
    assert current_revision(engine) == head_revision()
    assert schema_differences(engine) == []


def _upgrade_in_process(url: str, barrier: Any) -> None:
    engine = open_engine(url)
    try:
        with engine.connect():
            pass
        barrier.wait()
        upgrade(engine)
    finally:
        engine.dispose()


def test_two_daemons_upgrading_postgresql_at_once_both_succeed(pg_cluster: Cluster) -> None:
    # Two processes, as two daemons starting together: Alembic's context is per process.
    pg_cluster.execute("CREATE DATABASE racing_upgrade")
    url = pg_cluster.url_for("racing_upgrade")
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(2, timeout=60)
    workers = [ctx.Process(target=_upgrade_in_process, args=(url, barrier)) for _ in range(2)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=120)
    assert [w.exitcode for w in workers] == [0, 0]
    engine = open_engine(url)
    try:
        assert schema_differences(engine) == []
        assert current_revision(engine) == head_revision()
    finally:
        engine.dispose()

"""Fixtures shared by the whole suite: databases on both backends, configs, loaders."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings
from sqlalchemy import Engine

from cashserver.config import Config, parse_config
from cashserver.store.engine import open_engine, upgrade
from tests.pg import Cluster, PostgresUnavailable
from tests.settings_server import SettingsServer

# The suite runs on shared, busy machines: time is no measure of a strategy or a test.
settings.register_profile("cashserver", suppress_health_check=[HealthCheck.too_slow], deadline=None)
settings.load_profile("cashserver")

_pg_problem: list[str] = []
_counter = itertools.count()


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[Cluster]:
    """A PostgreSQL cluster for the session, with a migrated template database."""
    try:
        cluster = Cluster()
        cluster.start()
    except PostgresUnavailable as exc:
        _pg_problem.append(str(exc))
        pytest.skip(str(exc))
    cluster.execute("CREATE DATABASE cashserver_template")
    engine = open_engine(cluster.url_for("cashserver_template"))
    upgrade(engine)
    engine.dispose()
    yield cluster
    cluster.destroy()


@pytest.fixture
def own_pg_cluster() -> Iterator[Cluster]:
    """A PostgreSQL cluster of this test's own, for a test that stops or restarts it.

    Skips loudly (the red end-of-run banner) where no cluster can be started.
    """
    try:
        cluster = Cluster()
        cluster.start()
    except PostgresUnavailable as exc:
        _pg_problem.append(str(exc))
        pytest.skip(str(exc))
    yield cluster
    cluster.destroy()


@pytest.fixture
def settings_server() -> Iterator[SettingsServer]:
    server = SettingsServer()
    yield server
    server.close()


def new_pg_database(cluster: Cluster) -> str:
    """A fresh, migrated database (a copy of the template); returns its URL."""
    name = f"t{next(_counter)}"
    cluster.execute(f"CREATE DATABASE {name} TEMPLATE cashserver_template")
    return cluster.url_for(name)


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A migrated, empty database on each backend."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'cashserver.db'}"
        engine = open_engine(url)
        upgrade(engine)
        engine.dispose()
        return url
    return new_pg_database(request.getfixturevalue("pg_cluster"))


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    engine = open_engine(db_url)
    yield engine
    engine.dispose()


@pytest.fixture
def config(tmp_path: Path, db_url: str) -> Config:
    """A configuration whose data lives in this test's temp folder."""
    return parse_config(
        {
            "server": {"data_dir": str(tmp_path / "data"), "database_url": db_url},
            "grpc": {"listen": ""},
            "thrift": {"listen": ""},
        }
    )


MISSING_TOOLS = ("PostgreSQL", "chromium", "Chromium", "promtool", "prometheus", "thrift")
"""Words of a skip reason that says a tool the suite needs is missing on this machine."""
_missing_tool_skips: set[str] = set()


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    """Gather every skip for a missing tool. Runs where the reports arrive: in the one
    process, or with pytest-xdist in the controller, so the banner below is printed
    whichever worker skipped."""
    if report.skipped and isinstance(report.longrepr, tuple):
        reason = str(report.longrepr[2]).removeprefix("Skipped: ")
        if any(word in reason for word in MISSING_TOOLS):
            _missing_tool_skips.add(reason)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    for reason in sorted(_missing_tool_skips | set(_pg_problem)):
        terminalreporter.write_sep("!", "tests SKIPPED: a tool is missing", red=True, bold=True)
        terminalreporter.write_line(reason, red=True, bold=True)

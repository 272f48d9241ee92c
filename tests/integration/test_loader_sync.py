"""On SQLite the loader answers as soon as its commit returns and syncs the commit
after: its connection is ``synchronous=NORMAL``, and a loaded sales file leaves
``incoming/`` only once the write-ahead log is synced, so what a power cut could
take back is replayed from the spool (``writer/loader.py``, ``_settle``)."""

from __future__ import annotations

import os
import shutil
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select

from cashserver.domain import UploadResult, UploadStatus
from cashserver.emulator.generate import ShiftPlan, generate_upload
from cashserver.spool import Spool
from cashserver.store.engine import (
    READER_CACHE_KIB,
    open_engine,
    open_loader_engine,
    sync_commits,
    upgrade,
)
from cashserver.store.repository import Repository
from cashserver.store.schema import receipts
from cashserver.writer.loader import SCAN_INTERVAL_S, Loader
from tests.waiting import holds_for, wait_for


@pytest.fixture
def engines(tmp_path: Path) -> Iterator[tuple[Engine, Engine]]:
    """The writer's two SQLite engines: the shared one and the loader's own."""
    url = f"sqlite:///{tmp_path / 'cashserver.db'}"
    shared = open_engine(url, sqlite_cache_kib=READER_CACHE_KIB)
    upgrade(shared)
    loading = open_loader_engine(url, "test", shared)
    yield shared, loading
    loading.dispose()
    shared.dispose()


def synchronous(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.exec_driver_sql("PRAGMA synchronous").scalar_one())


def test_only_the_loaders_connection_leaves_its_commits_to_be_synced(
    engines: tuple[Engine, Engine], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shared, loading = engines
    assert (synchronous(shared), synchronous(loading)) == (2, 1)  # FULL, NORMAL
    assert not sync_commits(shared)  # its commits are synced as they are made
    Repository(loading).load(generate_upload(ShiftPlan("S1", "R1", 1, 20, seed=1)))
    synced: list[str] = []
    real_fsync = os.fsync

    def fsync(fd: int) -> None:
        synced.append(os.readlink(f"/proc/self/fd/{fd}"))
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    assert sync_commits(loading)
    assert synced == [str(tmp_path / "cashserver.db-wal")]


class HeldSync(Repository):
    """A repository whose commits are synced only when the test lets them."""

    def __init__(self, engine: Engine) -> None:
        super().__init__(engine)
        self.go = threading.Event()
        self.synced = 0

    def sync_commits(self) -> None:
        assert self.go.wait(30), "the test never let the sync go"
        super().sync_commits()
        self.synced += 1


class Collected:
    def __init__(self) -> None:
        self.results: list[UploadResult] = []

    def resolve(self, result: UploadResult) -> None:
        self.results.append(result)


def test_the_verdict_comes_before_the_sync_and_the_file_waits_for_it(
    engines: tuple[Engine, Engine], tmp_path: Path
) -> None:
    shared, loading = engines
    spool = Spool(tmp_path / "spool")
    repository = HeldSync(loading)
    loader = Loader(spool, repository)
    loader.start()
    try:
        result = loader.submit(generate_upload(ShiftPlan("S1", "R1", 1, 30, seed=2)), "test").wait(
            10
        )
        assert result.status is UploadStatus.LOADED and result.receipts_stored == 30
        incoming = spool.incoming()
        assert len(incoming) == 1 and repository.synced == 0
        # Its verdict is known: asked again (as a restarted front does) it comes at once.
        late = Collected()
        loader.enqueue(incoming[0], late)
        assert late.results == [result]
        # Until the sync, the file stays, and the scans do not load it a second time.
        holds_for(
            lambda: spool.incoming() == incoming and repository.synced == 0,
            3 * SCAN_INTERVAL_S,
            what="the loaded file waiting for its sync",
        )
        repository.go.set()
        wait_for(lambda: spool.incoming() == [], what="the file leaving incoming/")
        assert repository.synced == 1
        assert [p.name for p in spool.folder("processed").iterdir()] == [incoming[0].name]
    finally:
        repository.go.set()
        loader.stop(5)
    with shared.connect() as conn:
        assert conn.execute(select(func.count()).select_from(receipts)).scalar_one() == 30


def test_a_power_cut_before_the_sync_loses_nothing(
    engines: tuple[Engine, Engine], tmp_path: Path
) -> None:
    """What a power cut between the verdict and the sync leaves: the database as it was
    before the commit (here: a copy taken before it) and the answered file still in
    ``incoming/``. The next start loads the file again, and every receipt is there once."""
    shared, loading = engines
    spool = Spool(tmp_path / "spool")
    first = generate_upload(ShiftPlan("S1", "R1", 1, 10, seed=3))
    second = generate_upload(ShiftPlan("S1", "R1", 2, 20, seed=4))
    loader = Loader(spool, Repository(loading))
    loader.start()
    try:
        assert loader.submit(first, "test").wait(10).status is UploadStatus.LOADED
        wait_for(lambda: spool.incoming() == [], what="the first file leaving incoming/")
    finally:
        loader.stop(5)
    # The database as the disk holds it before the second commit.
    after_cut = tmp_path / "after-cut"
    after_cut.mkdir()
    with shared.connect() as conn:
        source = conn.connection.dbapi_connection
        assert source is not None
        target = sqlite3.connect(after_cut / "cashserver.db")
        source.backup(target)  # type: ignore[attr-defined]
        target.close()

    repository = HeldSync(loading)
    loader = Loader(spool, repository)
    loader.start()
    try:
        result = loader.submit(second, "test").wait(10)
        assert result.status is UploadStatus.LOADED and result.receipts_stored == 20
        # The power goes now: the spool as it is on the disk goes with the old database.
        shutil.copytree(spool.root, after_cut / "spool")
    finally:
        repository.go.set()
        loader.stop(5)

    url = f"sqlite:///{after_cut / 'cashserver.db'}"
    restarted_shared = open_engine(url, sqlite_cache_kib=READER_CACHE_KIB)
    restarted = open_loader_engine(url, "test", restarted_shared)
    try:
        with restarted_shared.connect() as conn:
            assert conn.execute(select(func.count()).select_from(receipts)).scalar_one() == 10
        replay = Spool(after_cut / "spool")
        assert len(replay.incoming()) == 1  # the answered upload, kept for this
        loader = Loader(replay, Repository(restarted))
        loader.start()
        try:
            assert loader.drain(10)
        finally:
            loader.stop(5)
        with restarted_shared.connect() as conn:
            assert conn.execute(select(func.count()).select_from(receipts)).scalar_one() == 30
        assert replay.incoming() == []
    finally:
        restarted.dispose()
        restarted_shared.dispose()

"""The writer child and the verdict channel, driven from this process as the front."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select

from cashserver.config import Config, parse_config
from cashserver.domain import UploadStatus
from cashserver.emulator.generate import ShiftPlan, generate_upload
from cashserver.front import WriterLink
from cashserver.lifecycle import Deadline
from cashserver.spool import Spool
from cashserver.store.engine import open_engine
from cashserver.store.schema import receipts, shifts
from cashserver.writer_process import WriterProcess
from tests.waiting import wait_for


def config_for(root: Path) -> Config:
    return parse_config(
        {
            "server": {"data_dir": str(root / "data")},
            "grpc": {"listen": ""},
            "thrift": {"listen": ""},
            "http": {"listen": ""},
        }
    )


@pytest.fixture
def writer(tmp_path: Path) -> Iterator[tuple[Config, WriterLink, WriterProcess]]:
    config = config_for(tmp_path)
    link = WriterLink(Spool(config.spool_dir))
    supervisor = WriterProcess(config, link)
    supervisor.start()
    yield config, link, supervisor
    supervisor.stop(Deadline.after(10))


def break_channel(link: WriterLink) -> None:
    """What a broken channel looks like to both ends: the socket shut down under them."""
    conn = link._conn
    assert conn is not None
    with socket.socket(fileno=os.dup(conn.fileno())) as sock:
        sock.shutdown(socket.SHUT_RDWR)


def counts(config: Config) -> tuple[int, int]:
    engine = open_engine(config.database_url)
    try:
        with engine.connect() as conn:
            stored_shifts = conn.execute(select(func.count()).select_from(shifts)).scalar_one()
            stored = conn.execute(select(func.count()).select_from(receipts)).scalar_one()
    finally:
        engine.dispose()
    return stored_shifts, stored


def test_verdicts_come_back_over_the_channel(
    writer: tuple[Config, WriterLink, WriterProcess],
) -> None:
    config, link, _ = writer
    upload = generate_upload(ShiftPlan("S1", "R1", 1, 30, seed=2))
    result = link.submit(upload, "test").wait(10)
    assert result.status is UploadStatus.LOADED and result.receipts_stored == 30
    again = link.submit(upload, "test").wait(10)
    assert (again.status, again.workshift_id, again.receipts_duplicate) == (
        UploadStatus.LOADED,
        result.workshift_id,
        30,
    )
    assert counts(config) == (1, 30)
    assert link.waiting == 0


def test_a_channel_broken_midway_answers_queued_and_everything_loads(
    writer: tuple[Config, WriterLink, WriterProcess],
) -> None:
    config, link, supervisor = writer
    before = [generate_upload(ShiftPlan("S1", "R1", n, 20, seed=3)) for n in range(1, 4)]
    after = [generate_upload(ShiftPlan("S1", "R2", n, 20, seed=3)) for n in range(1, 6)]
    assert all(link.submit(u, "test").wait(10).status is UploadStatus.LOADED for u in before)
    first_pid = supervisor.pid
    break_channel(link)
    wait_for(lambda: link.lost, 10, what="the link sees the channel lost")
    answers = [link.submit(u, "test").wait(0.3) for u in after]
    assert [a.status for a in answers] == [UploadStatus.QUEUED] * 5
    assert all(a.workshift_id == 0 and a.receipts_received == 20 for a in answers)
    supervisor.watch()  # the front's tick: a new writer with a new channel
    assert supervisor.pid != first_pid and not link.lost
    spool = Spool(config.spool_dir)
    wait_for(lambda: spool.incoming() == [], 30, what="incoming/ drained")
    assert counts(config) == (8, 160)

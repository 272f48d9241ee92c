"""The daily jobs of three daemons on one database (SPEC section 14): the database
trimmer and the dictionary trim run once a day for all of them; the spool archive
on each. A job whose daemon died is taken by another once its lease expires."""

from __future__ import annotations

import threading
from collections.abc import MutableMapping
from datetime import date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine
from structlog.testing import capture_logs

from cashserver.clock import now_ms
from cashserver.config import Config, parse_config
from cashserver.emulator.generate import ShiftPlan, generate_upload
from cashserver.exchange.exporter import Exporter
from cashserver.jobs.cluster import ClusterDaily, within_grace
from cashserver.jobs.dicts import SETTING
from cashserver.jobs.schedule import Housekeeping, local_today
from cashserver.store.engine import open_engine
from cashserver.store.leases import Leases
from cashserver.store.repository import Repository
from tests.aging import aged
from tests.settings_server import SettingsServer, fill
from tests.waiting import wait_for

OLD_SHIFTS = 6


def node_config(tmp_path: Path, db_url: str, node: str, settings_url: str) -> Config:
    return parse_config(
        {
            "server": {"data_dir": str(tmp_path / node), "database_url": db_url},
            "grpc": {"listen": ""},
            "thrift": {"listen": ""},
            "exchange": {"formats": ["json"], "outbox_dir": str(tmp_path / "outbox")},
            "jobs": {"keep_shifts_days": 30, "settings_url": settings_url},
            "cluster": {"node_name": node},
        }
    )


def events_named(logs: list[MutableMapping[str, Any]], name: str) -> list[MutableMapping[str, Any]]:
    return [e for e in logs if e["event"] == name]


def test_three_daemons_trim_once_a_day_and_archive_each(
    tmp_path: Path, db_url: str, engine: Engine
) -> None:
    now = now_ms()
    uploads = [
        aged(generate_upload(ShiftPlan("S1", f"R{i}", 1, 8, seed=3)), 60, now)
        for i in range(OLD_SHIFTS)
    ]
    Repository(engine).load_batch(uploads)
    dicts = tmp_path / "dicts"
    dicts.mkdir()
    fill(dicts)
    server = SettingsServer()
    server.document = {SETTING: str(dicts)}
    engines = [open_engine(db_url) for _ in range(3)]
    try:
        configs = [node_config(tmp_path, db_url, f"node-{i}", server.url) for i in range(3)]
        assert Exporter(engine, configs[0]).export_backlog().written == OLD_SHIFTS
        nodes = [
            Housekeeping(c, e, lambda: None, Leases(e, c.cluster.node_name))
            for c, e in zip(configs, engines, strict=True)
        ]
        for i, node in enumerate(nodes):  # a processed file in each node's own spool
            (node.spool.folder("processed")).mkdir(parents=True, exist_ok=True)
            (node.spool.folder("processed") / f"upload-{i}.json").write_text("{}")
        barrier = threading.Barrier(3)

        def night(node: Housekeeping) -> None:
            barrier.wait()
            node.nightly()
            node.dicts()
            node.catch_up()  # within the hour after: finds both jobs done

        with capture_logs() as logs:
            threads = [threading.Thread(target=night, args=(n,)) for n in nodes]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
        assert len(events_named(logs, "shift.trimmed")) == OLD_SHIFTS
        assert len(events_named(logs, "dicts.trimmed")) == 1
        done = events_named(logs, "job.done")
        assert sorted(e["job"] for e in done) == ["trim_dicts", "trim_shifts"]
        assert len(server.seen_headers) == 1  # the settings were asked for once
        assert list(dicts.iterdir()) == []
        for node in nodes:  # the archive is every daemon's own
            assert list(node.spool.folder("processed").iterdir()) == []
        day = local_today(configs[0]).isoformat()
        holder = nodes[0].cluster.leases.holder("trim_dicts", day) if nodes[0].cluster else None
        assert holder is not None and holder.done
    finally:
        server.close()
        for e in engines:
            e.dispose()


def test_a_job_whose_daemon_died_is_run_by_another_after_its_lease(engine: Engine) -> None:
    day = date(2026, 12, 2)
    dead = Leases(engine, "node-dead", ttl_s=1.0)
    assert dead.try_acquire("trim_dicts", day.isoformat()) is not None  # then SIGKILL
    alive = ClusterDaily(Leases(engine, "node-alive", ttl_s=1.0))
    ran: list[str] = []
    assert not alive.run("trim_dicts", lambda: ran.append("now"), day)
    wait_for(lambda: alive.run("trim_dicts", lambda: ran.append("after"), day), 10, "lease")
    assert ran == ["after"]
    # A failed run gives the lease back: the next catch-up tries again.
    failing = ClusterDaily(Leases(engine, "node-b"))

    def broken() -> None:
        raise OSError("disk full")

    with pytest.raises(OSError):
        failing.run("trim_shifts", broken, day)
    assert failing.run("trim_shifts", lambda: ran.append("retried"), day)
    assert not alive.run("trim_shifts", lambda: ran.append("twice"), day)
    assert ran == ["after", "retried"]


def test_the_catch_up_window_is_the_hour_after_the_job_time() -> None:
    at = datetime(2026, 12, 2, 3, 33, tzinfo=ZoneInfo("Europe/Moscow"))
    assert not within_grace("03:33", 3600, at.replace(minute=32))
    assert within_grace("03:33", 3600, at)
    assert within_grace("03:33", 3600, at.replace(hour=4, minute=32))
    assert not within_grace("03:33", 3600, at.replace(hour=4, minute=33))

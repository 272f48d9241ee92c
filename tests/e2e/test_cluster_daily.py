"""The day of three `cashserver serve` on one PostgreSQL (SPEC section 14): at the
nightly time every daemon archives its own spool, and the database trimmer and the
dictionary trim run once for the three."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import text

from cashserver.clock import now_ms
from cashserver.config import parse_config
from cashserver.emulator.generate import ShiftPlan, generate_upload
from cashserver.exchange.exporter import Exporter
from cashserver.jobs.dicts import SETTING
from cashserver.store.engine import open_engine
from cashserver.store.repository import Repository
from tests.aging import aged
from tests.conftest import new_pg_database
from tests.e2e.cluster import daemons
from tests.pg import Cluster
from tests.settings_server import SettingsServer, fill
from tests.waiting import wait_for

OLD_SHIFTS = 5
ZONE = "Europe/Moscow"


def soon() -> str:
    """HH:MM of a minute boundary 30 to 90 seconds ahead (time for three daemons to
    start) on the host's clock, which the job times are read on."""
    at = datetime.now().astimezone() + timedelta(seconds=90)
    return f"{at:%H:%M}"


def events_named(url: str, name: str) -> list[dict[str, Any]]:
    engine = open_engine(url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                text("SELECT fields FROM events WHERE event = :name"), {"name": name}
            ).scalars()
            return [json.loads(fields) for fields in rows]
    finally:
        engine.dispose()


def test_the_nightly_jobs_of_three_daemons_trim_once_and_archive_each(
    tmp_path: Path, pg_cluster: Cluster, settings_server: SettingsServer
) -> None:
    url = new_pg_database(pg_cluster)
    outbox = tmp_path / "outbox"
    engine = open_engine(url)
    try:  # old shifts, exported: the trimmer's work
        now = now_ms()
        uploads = [
            aged(generate_upload(ShiftPlan("S1", f"R{i}", 1, 8, seed=5)), 60, now)
            for i in range(OLD_SHIFTS)
        ]
        Repository(engine).load_batch(uploads)
        config = parse_config(
            {
                "server": {"data_dir": str(tmp_path / "x"), "database_url": url},
                "exchange": {"formats": ["json"], "outbox_dir": str(outbox)},
            }
        )
        assert Exporter(engine, config).export_backlog().written == OLD_SHIFTS
    finally:
        engine.dispose()
    dicts = tmp_path / "dicts"
    dicts.mkdir()
    fill(dicts)
    settings_server.document = {SETTING: str(dicts)}
    at = soon()
    jobs = {
        "archive_time": at,
        "dicts_trim_time": at,
        "keep_shifts_days": 30,
        "settings_url": settings_server.url,
    }
    with daemons(
        tmp_path,
        url,
        3,
        server={"timezone": ZONE},
        jobs=jobs,
        exchange={"formats": ["json"], "outbox_dir": str(outbox)},
    ) as nodes:
        for node in nodes:  # a loaded file in each daemon's own spool, for its archive
            processed = node.data_dir / "spool" / "processed"
            processed.mkdir(parents=True, exist_ok=True)
            (processed / f"{node.root.name}.json").write_text("{}")

        def night_over() -> bool:
            done = {e["job"] for e in events_named(url, "job.done")}
            archived = {e["node"] for e in events_named(url, "spool.archived")}
            return done == {"trim_shifts", "trim_dicts"} and len(archived) == 3

        try:
            wait_for(night_over, 150, "the nightly jobs on every daemon")
        except AssertionError:
            names = ("job.done", "job.failed", "spool.archived", "dicts.trim_skipped")
            seen = {name: events_named(url, name) for name in names}
            raise AssertionError(f"at {at}: {seen}; {nodes[0].log_text()[-3000:]}") from None
        trimmed = events_named(url, "shift.trimmed")
        assert len(trimmed) == OLD_SHIFTS
        assert len({e["node"] for e in trimmed}) == 1
        assert len(events_named(url, "dicts.trimmed")) == 1
        assert len(events_named(url, "job.done")) == 2
        assert list(dicts.iterdir()) == []
        assert len(settings_server.seen_headers) == 1
        for node in nodes:
            assert node.spool_files("processed") == []

"""Three `cashserver serve` on one PostgreSQL (SPEC section 14): what registers push to
any of them is stored once, each shift revision is exported once into the shared
outbox, and a PostgreSQL restart in the middle loses and doubles nothing."""

from __future__ import annotations

import json
import threading
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select

from cashserver.domain import UploadStatus
from cashserver.store.engine import open_engine
from cashserver.store.schema import receipts, shifts
from tests.conftest import new_pg_database
from tests.e2e.cluster import (
    Crowd,
    daemons,
    expected_row,
    expected_store_days,
    exported_events,
    plan_shifts,
    shift_rows,
    spools_drained,
    stored_counts,
)
from tests.pg import Cluster
from tests.waiting import wait_for

REGISTERS = 96
SHIFTS = 300
RECEIPTS = 12


@pytest.fixture
def db_engine(pg_cluster: Cluster) -> Iterator[tuple[str, Engine]]:
    url = new_pg_database(pg_cluster)
    engine = open_engine(url)
    yield url, engine
    engine.dispose()


def assert_stored_once(engine: Engine, expected_shifts: int, expected_receipts: int) -> None:
    with engine.connect() as conn:
        doubled_shifts = conn.execute(
            select(shifts.c.register_id, shifts.c.shift_number)
            .group_by(shifts.c.register_id, shifts.c.shift_number)
            .having(func.count() > 1)
        ).all()
        distinct_uids = conn.execute(select(func.count(receipts.c.uid.distinct()))).scalar_one()
    assert doubled_shifts == []
    assert stored_counts(engine) == (expected_shifts, expected_receipts)
    assert distinct_uids == expected_receipts


def test_three_daemons_store_every_shift_and_receipt_once_and_export_each_revision_once(
    tmp_path: Path, db_engine: tuple[str, Engine]
) -> None:
    url, engine = db_engine
    uploads = plan_shifts(REGISTERS, SHIFTS, RECEIPTS)
    outbox = tmp_path / "shared-outbox"
    with daemons(
        tmp_path, url, 3, exchange={"formats": ["json"], "outbox_dir": str(outbox)}
    ) as nodes:
        crowd = Crowd(nodes)
        try:
            crowd.push_all(uploads, copies=3)
        finally:
            crowd.close()
        assert set(crowd.statuses) <= {UploadStatus.LOADED, UploadStatus.QUEUED}
        wait_for(lambda: spools_drained(nodes), 60, "every spool loaded")
        assert_stored_once(engine, SHIFTS, SHIFTS * RECEIPTS)

        def everything_exported() -> list[dict[str, object]] | None:
            rows = shift_rows(nodes[0])
            return rows if all(r["exported"] for r in rows) else None

        rows = wait_for(everything_exported, 90, "every shift exported")
        expected = sorted(
            (expected_row(u) for u in uploads),
            key=lambda r: (r["store_code"], r["register_code"], r["shift_number"]),
        )
        got = sorted(
            ({k: r[k] for k in expected[0]} for r in rows),
            key=lambda r: (r["store_code"], r["register_code"], r["shift_number"]),
        )
        assert got == expected
        # The store-day report (per-quarter totals) agrees too.
        days = json.loads(nodes[1].cli("report", "stores", "--json").stdout)
        want = expected_store_days(uploads, "Europe/Moscow")
        assert [{k: d[k] for k in want[0]} for d in days] == want
        # Each revision's file was written by one node: never twice, in all three logs.
        wait_for(lambda: len(exported_events(engine)) >= SHIFTS, 30, "export events flushed")
        events = exported_events(engine)
        per_revision = Counter((e["workshift_id"], e["revision"]) for e in events)
        assert max(per_revision.values()) == 1
        assert {e["result"] for e in events} == {"written"}
        assert len({e["node"] for e in events}) >= 2  # the work was shared, not one node's
        assert len(list(outbox.rglob("shift-*.json"))) == SHIFTS


def test_a_postgresql_restart_while_three_daemons_load_loses_and_doubles_nothing(
    tmp_path: Path, own_pg_cluster: Cluster
) -> None:
    from cashserver.store.engine import upgrade

    own_pg_cluster.execute("CREATE DATABASE cashserver")
    url = own_pg_cluster.url_for("cashserver")
    engine = open_engine(url)
    upgrade(engine)
    uploads = plan_shifts(48, 150, RECEIPTS)
    try:
        with daemons(tmp_path, url, 3) as nodes:
            crowd = Crowd(nodes, seed=2, workers=16)
            pushing = threading.Thread(target=crowd.push_all, args=(uploads, 3))
            pushing.start()
            try:
                # Restart once the daemons are loading (some shifts are stored, not all).
                wait_for(lambda: stored_counts(engine)[0] >= 20, 60, "loading started")
                assert stored_counts(engine)[0] < len(uploads), "loaded before the restart"
                engine.dispose()
                own_pg_cluster.fast_shutdown()
                own_pg_cluster.start()
            finally:
                pushing.join(120)
                crowd.stopped.set()
                crowd.close()
            assert set(crowd.statuses) <= {UploadStatus.LOADED, UploadStatus.QUEUED}
            assert len(crowd.statuses) == len(uploads) * 3
            wait_for(lambda: spools_drained(nodes), 90, "every spool loaded after the restart")
            assert_stored_once(engine, len(uploads), len(uploads) * RECEIPTS)
            assert all(not node.spool_files("error") for node in nodes)
            assert {r["status"] for r in shift_rows(nodes[1])} == {"ok"}
    finally:
        engine.dispose()

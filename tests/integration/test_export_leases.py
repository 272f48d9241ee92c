"""Exports across daemons sharing one database and one outbox (SPEC section 14).

Several exporters with different node names stand in for daemons; each revision of
a shift must be written by one of them, and a shift whose lease another holds is
left to it until that lease ends.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator, MutableMapping
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, text
from structlog.testing import capture_logs

from cashserver.config import Config, parse_config
from cashserver.emulator.generate import ShiftPlan, generate_upload
from cashserver.exchange.exporter import Exporter, ExportStatus
from cashserver.store.engine import open_engine, write_transaction
from cashserver.store.leases import Leases
from cashserver.store.reading import Reader
from cashserver.store.repository import Repository
from tests.waiting import wait_for


def node_config(tmp_path: Path, db_url: str, node: str) -> Config:
    return parse_config(
        {
            "server": {"data_dir": str(tmp_path / node), "database_url": db_url},
            "exchange": {"formats": ["json", "frontol"], "outbox_dir": str(tmp_path / "outbox")},
            "cluster": {"node_name": node},
        }
    )


@pytest.fixture
def nodes(tmp_path: Path, db_url: str) -> Iterator[list[Exporter]]:
    engines = [open_engine(db_url) for _ in range(3)]
    yield [
        Exporter(engine, node_config(tmp_path, db_url, f"node-{i}"))
        for i, engine in enumerate(engines)
    ]
    for engine in engines:
        engine.dispose()


def load_shifts(engine: Engine, count: int, seed: int = 1) -> list[int]:
    uploads = [generate_upload(ShiftPlan("S1", f"R{i}", 1, 12, seed=seed)) for i in range(count)]
    return [o.workshift_id for o in Repository(engine).load_batch(uploads)]


def exported_events(logs: list[MutableMapping[str, Any]]) -> Counter[tuple[int, int, str]]:
    return Counter(
        (e["workshift_id"], e["revision"], e["result"])
        for e in logs
        if e["event"] == "shift.exported"
    )


def run_backlogs(nodes: list[Exporter]) -> None:
    barrier = threading.Barrier(len(nodes))

    def backlog(exporter: Exporter) -> None:
        barrier.wait()
        exporter.export_backlog()

    threads = [threading.Thread(target=backlog, args=(n,)) for n in nodes]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def test_three_nodes_write_each_revision_once(nodes: list[Exporter], engine: Engine) -> None:
    first = load_shifts(engine, 12)
    with capture_logs() as logs:
        run_backlogs(nodes)
    assert exported_events(logs) == Counter({(ws, 1, "written"): 1 for ws in first})
    # Late receipts make revision 2 of some shifts: again once each.
    late = [generate_upload(ShiftPlan("S1", f"R{i}", 1, 15, seed=1)) for i in range(0, 12, 3)]
    changed = [o.workshift_id for o in Repository(engine).load_batch(late) if o.changed]
    assert len(changed) == 4
    with capture_logs() as logs:
        run_backlogs(nodes)
    assert exported_events(logs) == Counter({(ws, 2, "written"): 1 for ws in changed})
    assert nodes[0].backlog() == []
    config = nodes[0].config
    assert all(r["exported"] for r in Reader(engine, config).shift_rows())


def test_a_shift_another_node_holds_waits_for_that_lease(
    nodes: list[Exporter], engine: Engine
) -> None:
    (ws,) = load_shifts(engine, 1)
    other = Leases(engine, "node-dead", ttl_s=1.0)
    assert other.try_acquire("export", str(ws)) is not None
    exporter = nodes[0]
    with capture_logs() as logs:
        skipped = exporter.export_shift(ws, only_stale=True)
    assert skipped.status is ExportStatus.SKIPPED
    assert exported_events(logs) == Counter()
    assert not any(exporter.outbox.rglob("shift-*"))

    # The holder died: once its lease expires the backlog here takes the shift.
    def written() -> int:
        summary = exporter.export_backlog()
        assert summary.written or summary.skipped == 1
        return summary.written

    wait_for(written, 10.0, what="the dead holder's shift exported here")
    assert exporter.backlog() == []


def test_reexport_waits_for_the_lease_rather_than_skipping(
    nodes: list[Exporter], engine: Engine
) -> None:
    (ws,) = load_shifts(engine, 1)
    assert Leases(engine, "node-dead", ttl_s=1.0).try_acquire("export", str(ws)) is not None
    outcome = nodes[1].export_shift(ws)
    assert outcome.status is ExportStatus.WRITTEN


def test_a_lease_taken_over_mid_export_records_nothing(
    nodes: list[Exporter], engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    (ws,) = load_shifts(engine, 1)
    exporter = nodes[2]
    read = exporter.reader.report

    def read_then_stall(workshift_id: int) -> Any:
        found = read(workshift_id)
        # This node stalled past its lease and another took it over (a new fence).
        with write_transaction(engine) as conn:
            conn.execute(text("UPDATE leases SET fence = fence + 1, owner = 'node-new'"))
        return found

    monkeypatch.setattr(exporter.reader, "report", read_then_stall)
    outcome = exporter.export_shift(ws, only_stale=True)
    assert (outcome.status, outcome.error) == (ExportStatus.FAILED, "export lease lost")
    assert not any(exporter.outbox.rglob("shift-*"))
    assert exporter.backlog() == [ws]

"""Forwarding (SPEC 15) between real daemons: a store server forwards every shift it
stores to a central server, which ends up with the same section 7 rows and store-days,
exactly once, whatever the link did meanwhile."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from msgspec.structs import replace

from cashserver.domain import Upload, UploadStatus
from cashserver.emulator.generate import ShiftPlan, generate_upload
from cashserver.emulator.push import GrpcPusher
from tests.e2e.cluster import Crowd
from tests.e2e.daemon import ServeProcess
from tests.e2e.forwarding import (
    all_in,
    by_key,
    central_server,
    events,
    plan,
    rows,
    status,
    store_days,
    store_server,
)
from tests.waiting import wait_for

DRAIN_S = 60.0


@pytest.fixture
def pair(tmp_path: Path) -> Iterator[tuple[ServeProcess, ServeProcess]]:
    """(store server, central server), both running on SQLite."""
    central = central_server(tmp_path / "central")
    store = store_server(tmp_path / "store", central.grpc_target)
    central.start(wait=False)
    store.start(wait=False)
    try:
        central.wait_serving()
        store.wait_serving()
        yield store, central
    finally:
        store.kill()
        central.kill()


def metrics(node: ServeProcess) -> list[str]:
    status_code, body = node.http("/metrics")
    assert status_code == 200
    return body.decode().splitlines()


def settled(node: ServeProcess) -> list[dict[str, object]]:
    """The rows with their ids, less ``exported`` (the exporter's own timing)."""
    return [{k: v for k, v in row.items() if k != "exported"} for row in rows(node)]


def push(store: ServeProcess, uploads: list[Upload], copies: int) -> None:
    """Each shift ``copies`` times, the first only its first half and still open."""
    # Fewer registers at once than the store server's 8 gRPC workers less one: uploads
    # waiting for their verdict hold at most 7 (so a Handshake never waits), and one
    # beyond that is answered QUEUED at once, which this test does not expect.
    crowd = Crowd([store], workers=6)
    try:
        crowd.push_all(uploads, copies=copies)
    finally:
        crowd.close()
    assert set(crowd.statuses) == {UploadStatus.LOADED}


def test_the_central_server_gets_the_store_servers_rows_once(
    pair: tuple[ServeProcess, ServeProcess],
) -> None:
    store, central = pair
    uploads = plan(registers=20, total=100, receipts=8)
    push(store, uploads, copies=2)  # half of each shift while open, then the whole: both doors

    wait_for(lambda: all_in(store, central), DRAIN_S, "the store server caught up")
    at_store = by_key(rows(store))
    assert len(at_store) == 100
    assert by_key(rows(central)) == at_store
    assert store_days(central) == store_days(store)
    assert all(row["forwarded"] for row in rows(store))
    assert "forwarded" not in rows(central)[0]  # no target there: no such key
    loaded = wait_for(lambda: events(central, "shift.loaded"), 10.0, "shift.loaded logged")
    assert {(e["source"], e.get("forwarded_by")) for e in loaded} == {
        ("forward", "store")  # the cashserver-node metadata of every forwarded call
    }

    before = settled(central)
    push(store, uploads, copies=2)  # everything again: duplicates, no new revision
    wait_for(lambda: all_in(store, central), DRAIN_S, "the store server caught up again")
    assert settled(central) == before


def test_an_open_shift_loaded_in_parts_costs_its_receipts_about_once(
    pair: tuple[ServeProcess, ServeProcess],
) -> None:
    store, central = pair
    whole = generate_upload(ShiftPlan("S1", "R1", 1, receipts=200, lines_per_receipt=2))
    open_header = replace(whole.shift, closed_at=None, counters=None)
    pusher = GrpcPusher(store.grpc_target)
    try:
        for part in range(10):
            receipts = whole.receipts[part * 20 : (part + 1) * 20]
            assert pusher.upload(Upload(open_header, receipts)).status is UploadStatus.LOADED
            wait_for(lambda: all_in(store, central), DRAIN_S, f"part {part} forwarded")
        assert pusher.upload(Upload(whole.shift)).status is UploadStatus.LOADED  # the close
    finally:
        pusher.close()
    wait_for(lambda: all_in(store, central), DRAIN_S, "the close forwarded")

    (row,) = rows(central)
    assert row["receipts_count"] == 200
    assert row["closed_at"] is not None and row["status"] == "ok"
    assert by_key(rows(central)) == by_key(rows(store))

    # Every part and the close went on their own (the daemon logs events every second).
    def all_sent() -> list[dict[str, Any]] | None:
        found = events(store, "forward.sent")
        return found if len(found) >= 11 else None

    sent = wait_for(all_sent, 10.0, "every forward.sent logged")
    assert sum(e["receipts_sent"] for e in sent) <= 1.2 * 200


def test_the_store_server_keeps_serving_and_drains_after_the_central_server_was_down(
    pair: tuple[ServeProcess, ServeProcess],
) -> None:
    store, central = pair
    uploads = plan(registers=6, total=30, receipts=8)
    push(store, uploads[:6], copies=2)
    wait_for(lambda: all_in(store, central), DRAIN_S, "the first shifts forwarded")

    central.kill()
    push(store, uploads[6:], copies=2)  # registers are still answered LOADED
    wait_for(
        lambda: (s := status(store))["state"] == "retrying" and s["backlog_shifts"] == 24 and s,
        DRAIN_S,
        "the store server retrying with the backlog",
    )
    waiting = status(store)
    assert waiting["backlog_receipts"] == 24 * 8
    assert waiting["oldest_unforwarded_at"] is not None
    assert waiting["last_error"] and waiting["last_error_at"]
    assert waiting["oldest_unforwarded_at"] > waiting["last_forwarded_at"]
    waiting_rows = {
        (r["register_code"], r["shift_number"]) for r in rows(store) if not r["forwarded"]
    }
    assert waiting_rows == {(u.shift.register_code, u.shift.shift_number) for u in uploads[6:]}

    wait_for(
        lambda: (
            {"cashserver_upstream_backlog_shifts 24.0", "cashserver_upstream_up 0.0"}
            <= set(metrics(store))
        ),
        10.0,
        "the backlog in /metrics",
    )

    central.start()
    wait_for(lambda: all_in(store, central), DRAIN_S, "the backlog drained")
    assert by_key(rows(central)) == by_key(rows(store))
    # The state comes from the event log, which the daemon writes every second.
    after = wait_for(lambda: (s := status(store))["state"] == "ok" and s, 10.0, "state ok")
    assert after["backlog_shifts"] == 0
    assert after["backlog_receipts"] == 0 and after["oldest_unforwarded_at"] is None
    wait_for(
        lambda: (
            {
                "cashserver_upstream_backlog_shifts 0.0",
                "cashserver_upstream_oldest_unforwarded_age_seconds 0.0",
                "cashserver_upstream_up 1.0",
            }
            <= set(metrics(store))
        ),
        10.0,
        "an empty backlog in /metrics",
    )
    counted = {
        line.split()[0]: float(line.split()[1])
        for line in metrics(store)
        if line.startswith("cashserver_upstream_forwards_total")
    }
    assert counted['cashserver_upstream_forwards_total{result="failed"}'] >= 1
    assert counted['cashserver_upstream_forwards_total{result="forwarded"}'] >= 30
    assert not any(line.startswith("cashserver_upstream_up") for line in metrics(central))

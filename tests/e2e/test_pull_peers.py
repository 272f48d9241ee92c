"""Pulling from independent peers (SPEC 10 with 4 and 5): a RegisterSales server from
the Apache Thrift compiler and runtime, and one on grpclib, not only our emulator."""

from __future__ import annotations

import json
from pathlib import Path

from cashserver.domain import Upload
from cashserver.emulator.generate import ShiftPlan, generate_upload
from tests.e2e.daemon import ServeProcess
from tests.e2e.pull_peers import (
    ApacheThriftPeer,
    grpclib_peer,
    pull_json,
    registers_by_code,
    stored_totals,
    totals,
)


def held() -> list[Upload]:
    """Three shifts on 1, 2 and 3 January 2026 (UTC), the last one without counters."""
    uploads = [generate_upload(ShiftPlan("S1", "X1", n, 60, seed=11)) for n in (1, 2)]
    uploads.append(generate_upload(ShiftPlan("S1", "X1", 3, 60, seed=11, closed=False)))
    return uploads


def check_pulls(daemon: ServeProcess, address: str, protocol: int, uploads: list[Upload]) -> None:
    daemon.cli(
        "registers", "add", "S1", "X1", "--address", address, "--protocol", str(protocol),
        "--timezone", "UTC",
    )  # fmt: skip
    # A time range: 1 and 2 January in the register's own zone (UTC): shifts 1 and 2.
    code, report = pull_json(daemon.cli, "S1/X1", "--from", "2026-01-01", "--to", "2026-01-03")
    assert code == 0, report
    assert report["registers"][0]["state"] == "READY"
    assert report["summary"]["shifts"] == 2 and report["summary"]["receipts_stored"] == 120
    # A shift range: all three, of which only the third is new.
    code, report = pull_json(daemon.cli, "S1/X1", "--shifts", "1-3")
    assert code == 0 and report["summary"]["receipts_stored"] == 60
    assert report["summary"]["receipts_duplicate"] == 120
    stored = stored_totals(json.loads(daemon.cli("shifts", "--json").stdout))
    assert stored == {("X1", u.shift.shift_number): totals(u) for u in uploads}
    again = pull_json(daemon.cli, "S1/X1", "--shifts", "1-3")[1]["summary"]
    assert again["receipts_stored"] == 0 and again["receipts_duplicate"] == 180
    assert registers_by_code(daemon.cli)["X1"]["state"] == "READY"


def test_pull_from_an_apache_thrift_register(tmp_path: Path) -> None:
    uploads = held()
    peer = ApacheThriftPeer(uploads)
    daemon = ServeProcess(tmp_path, pull={"enabled": False})
    try:
        daemon.start()
        check_pulls(daemon, peer.address, 3, uploads)
    finally:
        daemon.kill()
        peer.stop()


def test_pull_from_a_grpclib_register(tmp_path: Path) -> None:
    uploads = held()
    daemon = ServeProcess(tmp_path / "daemon", pull={"enabled": False})
    with grpclib_peer(uploads, tmp_path) as address:
        try:
            daemon.start()
            check_pulls(daemon, address, 4, uploads)
        finally:
            daemon.kill()

"""Scheduled pulls (SPEC 10) under `cashserver serve`: interval, timeouts, state, crashes."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from cashserver.emulator.generate import ShiftPlan, generate_upload
from tests.e2e.daemon import ServeProcess
from tests.e2e.pull_peers import (
    GrpcPeer,
    add_fleet,
    emulator_fleet,
    registers_by_code,
    totals,
)
from tests.waiting import wait_for

# Before its first sale a register is asked for the last year: the generated shifts
# are dated January 2026.
SCHEDULE = {"interval_s": 1, "first_window_s": 400 * 86400, "timeout_s": 3}


def stored_shifts(daemon: ServeProcess) -> dict[int, dict[str, Any]]:
    rows = json.loads(daemon.cli("shifts", "--json").stdout)
    return {r["shift_number"]: r for r in rows}


def test_a_register_is_pulled_every_interval_and_its_new_shift_loads(tmp_path: Path) -> None:
    first = generate_upload(ShiftPlan("S1", "P1", 1, 20, seed=5))
    peer = GrpcPeer([first])
    daemon = ServeProcess(tmp_path, pull=SCHEDULE)
    try:
        daemon.start()
        daemon.cli("registers", "add", "S1", "P1", "--address", peer.address)
        wait_for(lambda: 1 in stored_shifts(daemon), 15, "the first shift")
        second = generate_upload(ShiftPlan("S1", "P1", 2, 30, seed=5))
        peer.uploads.append(second)  # nothing else done: the schedule finds it
        wait_for(lambda: 2 in stored_shifts(daemon), 15, "shift 2")
        rows = stored_shifts(daemon)
        assert rows[2]["receipts_count"] == 30 and rows[2]["status"] == "ok"
        calls = peer.calls
        wait_for(lambda: peer.calls >= calls + 2, 10, "more scheduled pulls")
        # Scheduled pulls go on every second: list the register between two of them.
        listed = wait_for(
            lambda: (
                row if (row := registers_by_code(daemon.cli)["P1"])["state"] == "READY" else None
            ),
            10,
            "the register between two pulls",
        )
        assert listed["state"] == "READY" and listed["last_sale_at"].startswith("2026-01-02T")
        assert {e["trigger"] for e in daemon.events("pull.started")} == {"schedule"}
        assert len(stored_shifts(daemon)) == 2  # each pull after stores nothing twice
    finally:
        daemon.kill()
        peer.stop()


def test_of_twenty_registers_one_hangs_and_one_fails_the_rest_are_ready(tmp_path: Path) -> None:
    daemon = ServeProcess(
        tmp_path, pull={**SCHEDULE, "interval_s": 30, "timeout_s": 3, "concurrency": 4}
    )
    try:
        with emulator_fleet(
            "--store", "S1", "--shifts", "2", "--receipts", "20", "--hang", "R3", "--fail", "R7",
            registers=20,
        ) as fleet:  # fmt: skip
            add_fleet(daemon.cli, fleet)
            daemon.start()
            started = time.monotonic()

            def settled() -> dict[str, dict[str, object]] | None:
                states = registers_by_code(daemon.cli)
                done = all(r["state"] in ("READY", "ERROR") for r in states.values())
                return states if done else None

            # The first round starts within a tenth of the interval; the hung register holds
            # one of the four threads for timeout_s, and the others go on meanwhile.
            states = wait_for(settled, 3 + 3 + 10, "every register settled")
            assert time.monotonic() - started < 3 + 3 + 10
            ready = [code for code, r in states.items() if r["state"] == "READY"]
            assert len(ready) == 18
            assert states["R3"]["state"] == "ERROR" and "timed out" in str(
                states["R3"]["state_message"]
            )
            assert states["R7"]["state"] == "ERROR"
            assert "S1/R7 is failing" in str(states["R7"]["state_message"])
            rows = json.loads(daemon.cli("shifts", "--json").stdout)
            assert len(rows) == 36 and all(r["status"] == "ok" for r in rows)
    finally:
        daemon.kill()


def test_during_is_visible_while_a_slow_register_answers(tmp_path: Path) -> None:
    peer = GrpcPeer([generate_upload(ShiftPlan("S1", "P1", 1, 20, seed=5))])
    peer.gate.clear()
    daemon = ServeProcess(tmp_path, pull={**SCHEDULE, "interval_s": 600, "timeout_s": 30})
    try:
        daemon.start()
        daemon.cli("registers", "add", "S1", "P1", "--address", peer.address)
        during = wait_for(
            lambda: (r := registers_by_code(daemon.cli)["P1"])["state"] == "DURING" and r,
            90,
            "DURING",
        )
        assert during["state_at"] is not None and not stored_shifts(daemon)
        peer.gate.set()
        wait_for(lambda: registers_by_code(daemon.cli)["P1"]["state"] == "READY", 15, "READY")
        assert stored_shifts(daemon)[1]["receipts_count"] == 20
    finally:
        daemon.kill()
        peer.stop()


def test_sigkill_during_a_scheduled_pull_loses_and_doubles_nothing(tmp_path: Path) -> None:
    uploads = [generate_upload(ShiftPlan("S1", "P1", n, 200, seed=5)) for n in range(1, 41)]
    peer = GrpcPeer(uploads)
    daemon = ServeProcess(tmp_path, pull={**SCHEDULE, "interval_s": 1, "timeout_s": 30})
    try:
        daemon.start()
        daemon.cli("registers", "add", "S1", "P1", "--address", peer.address)
        # Kill it as soon as some of the answer is loaded and before all of it is.
        wait_for(lambda: daemon.spool_files("processed"), 30, "a first loaded shift")
        daemon.kill()
        assert len(daemon.spool_files("processed")) < len(uploads)
        daemon.start()
        want = {u.shift.shift_number: totals(u) for u in uploads}

        def complete() -> bool:
            rows = stored_shifts(daemon)
            return len(rows) == len(uploads)

        wait_for(complete, 60, "every shift after the restart")
        rows = stored_shifts(daemon)
        assert {n: {k: r[k] for k in totals(uploads[0])} for n, r in rows.items()} == want
        assert all(r["status"] == "ok" for r in rows.values())
    finally:
        daemon.kill()
        peer.stop()

"""Pull (SPEC 10) end to end: `cashserver serve` and the emulator as subprocesses."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from cashserver.emulator.history import History
from tests.e2e.daemon import ServeProcess
from tests.e2e.pull_peers import (
    add_fleet,
    emulator_fleet,
    pull_json,
    stored_totals,
    totals,
)

NO_SCHEDULE: dict[str, Any] = {"enabled": False}


@pytest.mark.parametrize("protocol", [4, 3])
@pytest.mark.parametrize("daemon_running", [True, False], ids=["daemon", "no-daemon"])
def test_time_and_shift_range_pulls_store_what_the_register_holds(
    tmp_path: Path, protocol: int, daemon_running: bool
) -> None:
    daemon = ServeProcess(tmp_path, pull=NO_SCHEDULE)
    if daemon_running:
        daemon.start()
    try:
        with emulator_fleet("--store", "S1", registers=2, protocol=protocol) as fleet:
            add_fleet(daemon.cli, fleet)
            code, report = pull_json(
                daemon.cli, "--store", "S1", "--from", "2026-01-01", "--to", "2026-01-03"
            )
            assert code == 0, report
            assert report["summary"] == {
                "registers": 2, "shifts": 4, "receipts_stored": 400,
                "receipts_duplicate": 0, "errors": 0,
            }  # fmt: skip
            code, report = pull_json(daemon.cli, "S1/R2", "--shifts", "2-4")
            assert code == 0 and report["registers"][0]["state"] == "READY"
            assert report["summary"]["receipts_stored"] == 200  # shifts 3 and 4 are new
            assert report["summary"]["receipts_duplicate"] == 100
            again = pull_json(daemon.cli, "--all", "--from", "2026-01-01", "--to", "2026-01-03")
            assert again[1]["summary"]["receipts_stored"] == 0
            stored = stored_totals(json.loads(daemon.cli("shifts", "--json").stdout))
            expected = {("R1", n): totals(History("S1", "R1").shift(n)) for n in (1, 2)}
            expected |= {("R2", n): totals(History("S1", "R2").shift(n)) for n in (1, 2, 3, 4)}
            assert stored == expected
            listed = json.loads(daemon.cli("registers", "list", "--json").stdout)
            assert [r["state"] for r in listed] == ["READY", "READY"]
            assert listed[1]["last_sale_at"].startswith("2026-01-04T")
            assert listed[0]["last_load_at"] is not None
            finished = daemon.events("pull.finished")
            assert {e["register_code"] for e in finished} == {"R1", "R2"}
            assert all("duration_s" in e and "shifts" in e for e in finished)
    finally:
        daemon.kill()
    processed = daemon.spool_files("processed")
    assert processed and not daemon.spool_files("incoming")


def test_errors_and_mismatch_set_the_state(tmp_path: Path) -> None:
    daemon = ServeProcess(tmp_path, pull=NO_SCHEDULE)
    with emulator_fleet("--store", "S1", "--fail", "R2", registers=2) as fleet:
        add_fleet(daemon.cli, fleet)
        # A wrong address in the directory: S1/R9 answers as S1/R1.
        daemon.cli("registers", "add", "S1", "R9", "--address", fleet.address(0))
        daemon.cli("registers", "add", "S1", "R8")
        code, report = pull_json(
            daemon.cli, "--store", "S1", "--from", "2026-01-01", "--to", "2026-01-02"
        )
        assert code == 1
        states = {r["register_code"]: r for r in report["registers"]}
        assert states["R1"]["state"] == "READY"
        assert states["R2"]["state"] == "ERROR"
        assert "S1/R2 is failing" in states["R2"]["state_message"]
        assert states["R9"]["state"] == "READY_WITH_ERROR" and states["R9"]["shifts"] == 0
        assert "R8" not in states  # no address: skipped
        assert report["summary"]["errors"] == 1
    listed = {
        r["register_code"]: r for r in json.loads(daemon.cli("registers", "list", "--json").stdout)
    }
    assert listed["R9"]["state"] == "READY_WITH_ERROR" and "R1" in listed["R9"]["state_message"]
    assert listed["R8"]["state"] is None
    assert [e["shift_register_code"] for e in daemon.events("pull.mismatch")] == ["R1"]
    failed = daemon.events("pull.failed")
    assert [e["register_code"] for e in failed] == ["R2"] and "failing" in failed[0]["reason"]
    assert len(json.loads(daemon.cli("shifts", "--json").stdout)) == 1  # R1's shift only


def test_unknown_register_is_usage_error(tmp_path: Path) -> None:
    daemon = ServeProcess(tmp_path, pull=NO_SCHEDULE)
    result = daemon.cli("pull", "S1/NOPE", "--shifts", "1-2", check=False)
    assert result.returncode == 2 and "S1/NOPE" in result.stderr


def _run_on_a_terminal(daemon: ServeProcess, args: list[str], answer: bytes) -> tuple[int, str]:
    """Run ``cashserver pull`` with a pty as its terminal, answering ``answer`` when asked."""
    import os
    import select
    import subprocess
    import sys
    import time

    from tests.e2e.daemon import cli_env

    master, slave = os.openpty()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "cashserver.cli.main",
            "pull",
            *args,
            "--config",
            str(daemon.config),
        ],
        stdin=slave,
        stdout=slave,
        stderr=subprocess.DEVNULL,
        env=cli_env(),
        close_fds=True,
    )
    os.close(slave)
    output = b""
    answered = False
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        ready, _, _ = select.select([master], [], [], 0.1)
        if ready:
            try:
                chunk = os.read(master, 4096)
            except OSError:  # the child closed the terminal
                break
            if not chunk:
                break
            output += chunk
        if not answered and b"[y/N]" in output:
            os.write(master, answer)
            answered = True
        if process.poll() is not None and not ready:
            break
    os.close(master)
    return process.wait(10), output.decode(errors="replace")


def test_a_week_or_more_needs_confirmation(tmp_path: Path) -> None:
    daemon = ServeProcess(tmp_path, pull=NO_SCHEDULE)
    week = ["--store", "S1", "--from", "2026-01-01", "--to", "2026-01-09"]
    with emulator_fleet("--store", "S1", registers=2) as fleet:
        add_fleet(daemon.cli, fleet)
        code, out = _run_on_a_terminal(daemon, week, b"n\n")
        assert "Pull 8 days of sales from 2 registers? [y/N]" in out
        assert code == 0 and "declined: nothing pulled" in out
        assert json.loads(daemon.cli("shifts", "--json").stdout) == []
        refused = daemon.cli("pull", *week, check=False)  # no terminal
        assert refused.returncode == 2 and "--yes" in refused.stderr
        assert json.loads(daemon.cli("shifts", "--json").stdout) == []
        code, out = _run_on_a_terminal(daemon, week, b"y\n")
        assert code == 0, out
        assert "S1/R1: READY shifts=8 stored=800" in out
        assert "] 2/2" in out  # the progress bar
        assert "2 registers: 16 shifts, 1600 receipts stored" in out
        assert len(json.loads(daemon.cli("shifts", "--json").stdout)) == 16
        code, report = pull_json(daemon.cli, *week, "--yes")
        assert code == 0 and report["summary"]["receipts_duplicate"] == 1600
        # A shorter range needs no confirmation.
        short = daemon.cli("pull", "--store", "S1", "--from", "2026-01-01", "--to", "2026-01-07")
        assert "0 receipts stored" in short.stdout

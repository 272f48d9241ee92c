"""What a person sees on a terminal (SPEC 6 and 8): a command's own result and, from the
log, only warnings and errors unless ``--verbose``; ``serve`` logs every event, as
console lines on a terminal unless ``[server] log_format`` says otherwise.

Each command runs as a real subprocess whose standard output and error are a
pseudo-terminal, as when a person types it.
"""

from __future__ import annotations

import json
import os
import pty
import re
import select
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from cashserver.config import load_config
from cashserver.emulator.generate import ShiftPlan, generate_upload
from cashserver.store.engine import open_engine, upgrade
from cashserver.store.repository import Repository
from tests.e2e.daemon import REPO, ServeProcess, cli_env, run_cli
from tests.pg import free_port

DEADLINE_S = 60.0


class Terminal:
    """A command running with a pseudo-terminal as its stdout and stderr."""

    def __init__(self, argv: list[str], env: dict[str, str] | None = None) -> None:
        self.master, slave = pty.openpty()
        self.process = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=slave,
            stderr=slave,
            env={**cli_env(), **(env or {})},
            cwd=REPO,
        )
        os.close(slave)
        self.output = b""

    def read_until(self, wanted: bytes, timeout_s: float = DEADLINE_S) -> bool:
        """Read until ``wanted`` appears (True) or the command closes the terminal (False)."""
        deadline = time.monotonic() + timeout_s
        while wanted not in self.output:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"not within {timeout_s} s: {wanted!r} in {self.text()!r}")
            ready, _, _ = select.select([self.master], [], [], left)
            if not ready:
                continue
            try:
                chunk = os.read(self.master, 65536)
            except OSError:  # EIO: every holder of the terminal's other end has closed it
                chunk = b""
            if not chunk:
                return False
            self.output += chunk
        return True

    def finish(self) -> int:
        """Read everything up to the end and return the exit code."""
        self.read_until(b"\0never printed\0")
        code = self.process.wait(DEADLINE_S)
        os.close(self.master)
        return code

    def text(self) -> str:
        return self.output.decode(errors="replace").replace("\r\n", "\n")


def cashserver(*args: str, env: dict[str, str] | None = None) -> tuple[int, str]:
    terminal = Terminal([sys.executable, "-m", "cashserver.cli.main", *args], env)
    return terminal.finish(), terminal.text()


@pytest.fixture
def stored_shift(tmp_path: Path) -> Iterator[tuple[Path, int]]:
    """A configuration file and the workshift_id of a closed shift stored under it."""
    config_path = tmp_path / "cashserver.toml"
    config_path.write_text(f'[server]\ndata_dir = "{tmp_path / "data"}"\n', encoding="utf-8")
    engine = open_engine(load_config(config_path, environ={}).database_url)
    upgrade(engine)
    try:
        upload = generate_upload(ShiftPlan("S1", "R1", 1, receipts=12, seed=3))
        workshift_id = Repository(engine).load(upload).workshift_id
    finally:
        engine.dispose()
    yield config_path, workshift_id


def test_reexport_on_a_terminal_prints_its_result_and_no_info_event(
    stored_shift: tuple[Path, int],
) -> None:
    config, workshift_id = stored_shift
    code, text = cashserver("reexport", str(workshift_id), "--config", str(config))
    assert code == 0, text
    assert text.splitlines() == [
        f"shift {workshift_id}: written (json)",
        "1 shift(s): 1 written, 0 unchanged, 0 failed",
    ]
    # The event is in the event log all the same.
    logged = json.loads(run_cli("log", "--json", config=config).stdout)
    assert [e["workshift_id"] for e in logged if e["event"] == "shift.exported"] == [workshift_id]


def test_verbose_prints_the_info_events_too(stored_shift: tuple[Path, int]) -> None:
    config, workshift_id = stored_shift
    code, text = cashserver("reexport", str(workshift_id), "--verbose", "--config", str(config))
    assert code == 0, text
    (event_line,) = [line for line in text.splitlines() if "shift.exported" in line]
    assert "[info" in event_line and f"workshift_id={workshift_id}" in event_line  # for people
    assert text.splitlines()[-1] == "1 shift(s): 1 written, 0 unchanged, 0 failed"
    # log_format = "json" on a terminal: one JSON object a line.
    code, text = cashserver(
        "reexport",
        str(workshift_id),
        "--verbose",
        "--config",
        str(config),
        env={"CASHSERVER_SERVER_LOG_FORMAT": "json"},
    )
    assert code == 0, text
    assert text.splitlines()[-1] == "1 shift(s): 0 written, 1 unchanged, 0 failed"
    (event_line,) = [line for line in text.splitlines() if "shift.exported" in line]
    event = json.loads(event_line)
    assert (event["event"], event["level"], event["workshift_id"]) == (
        "shift.exported",
        "info",
        workshift_id,
    )


def test_a_warning_is_printed_without_verbose(stored_shift: tuple[Path, int]) -> None:
    config, _ = stored_shift
    code, text = cashserver("reexport", "999", "--config", str(config))
    assert code == 1
    lines = text.splitlines()
    assert lines[-1] == "1 shift(s): 0 written, 0 unchanged, 1 failed"
    (warning,) = [line for line in lines if "export.failed" in line]
    assert "[warning" in warning and "workshift_id=999" in warning


def _serve(tmp_path: Path, log_format: str | None) -> str:
    """Start ``serve`` on a terminal, wait until it serves, stop it: what it printed."""
    daemon = ServeProcess(tmp_path, server={"log_format": log_format} if log_format else {})
    terminal = Terminal(
        [sys.executable, "-m", "cashserver.cli.main", "serve", "--config", str(daemon.config)]
    )
    try:
        assert terminal.read_until(b"daemon.started"), terminal.text()
        terminal.process.send_signal(signal.SIGTERM)
        assert terminal.finish() == 0, terminal.text()
    finally:
        if terminal.process.poll() is None:
            terminal.process.kill()
            terminal.process.wait()
    return terminal.text()


def test_serve_on_a_terminal_prints_every_event_for_people(tmp_path: Path) -> None:
    text = _serve(tmp_path, None)
    started = [line for line in text.splitlines() if "daemon.started" in line]
    assert started and "[info" in started[0] and not started[0].startswith("{")
    assert any("daemon.stopped" in line for line in text.splitlines())


def test_serve_log_format_json_wins_over_the_terminal(tmp_path: Path) -> None:
    text = _serve(tmp_path, "json")
    events = [json.loads(line) for line in text.splitlines() if line.startswith("{")]
    names = [e["event"] for e in events]
    assert "daemon.started" in names and "daemon.stopped" in names
    assert all("[info" not in line for line in text.splitlines())


def test_serve_log_format_console_off_a_terminal(tmp_path: Path) -> None:
    daemon = ServeProcess(tmp_path, server={"log_format": "console"})
    daemon.start()
    assert daemon.terminate() == 0
    lines = [line for line in daemon.log_text().splitlines() if "daemon.started" in line]
    assert lines and "[info" in lines[0] and not lines[0].startswith("{")


def test_pull_on_a_terminal_shows_warnings_above_its_bar_and_no_info_event(
    stored_shift: tuple[Path, int],
) -> None:
    config, _ = stored_shift
    nobody = f"127.0.0.1:{free_port()}"
    run_cli("registers", "add", "S1", "R9", "--address", nobody, config=config)
    code, text = cashserver("pull", "S1/R9", "--shifts", "1-2", "--config", str(config))
    assert code == 1, text
    assert "pull.started" not in text and "[info" not in text
    lines = [line.split("\r")[-1].replace("\x1b[K", "") for line in text.splitlines()]
    (warning,) = [line for line in lines if "pull.failed" in line]
    assert re.match(r"\d{4}-\d\d-\d\dT\S+ \[warning", warning), warning  # not after the bar
    assert any(line.startswith("S1/R9: ERROR") for line in lines), lines
    assert lines[-1] == "1 registers: 0 shifts, 0 receipts stored, 0 duplicate, 1 errors"


def test_export_of_several_shifts_shows_a_bar_then_its_result(tmp_path: Path) -> None:
    config_path = tmp_path / "cashserver.toml"
    config_path.write_text(f'[server]\ndata_dir = "{tmp_path / "data"}"\n', encoding="utf-8")
    engine = open_engine(load_config(config_path, environ={}).database_url)
    upgrade(engine)
    try:
        for number in (1, 2, 3):
            Repository(engine).load(generate_upload(ShiftPlan("S1", "R1", number, receipts=8)))
    finally:
        engine.dispose()
    code, text = cashserver("export", "--config", str(config_path))
    assert code == 0, text
    assert "] 3/3" in text  # the bar, drawn on the terminal and cleared at the end
    assert "[info" not in text and "shift.exported" not in text
    assert text.splitlines()[-1].split("\r")[-1].replace("\x1b[K", "") == (
        "3 shift(s): 3 written, 0 unchanged, 0 failed"
    )
    code, text = cashserver("export", "--config", str(config_path))
    assert (code, text.strip()) == (
        0,
        "nothing to export: the files of every closed shift are up to date",
    )

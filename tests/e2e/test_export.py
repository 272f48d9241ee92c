"""Exchange files from `cashserver serve`: closed shifts appear in the outbox by themselves,
open ones only on `reexport`, and `export` has nothing left to do."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.daemon import ServeProcess
from tests.waiting import wait_for

FORMATS = ("json", "enterprisedata", "frontol")
EXTENSIONS = {"json": "json", "enterprisedata": "xml", "frontol": "txt"}
WAIT_S = 15.0


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[ServeProcess]:
    daemon = ServeProcess(tmp_path, exchange={"formats": list(FORMATS)})
    daemon.start()
    yield daemon
    daemon.kill()


def outbox_names(daemon: ServeProcess, fmt: str, outbox: Path | None = None) -> set[str]:
    """``store/register/file`` of each exchange file in one format's folder."""
    folder = (outbox or daemon.data_dir / "outbox") / fmt
    if not folder.is_dir():
        return set()
    return {
        str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file() and p.name[0] != "."
    }


def expected_names(fmt: str, shifts: list[tuple[str, str, int]]) -> set[str]:
    return {f"{s}/{r}/shift-{ws}.{EXTENSIONS[fmt]}" for s, r, ws in shifts}


def push(daemon: ServeProcess, register: str, *args: str) -> list[int]:
    """Push generated shifts over protocol 4 with the emulator; their workshift ids."""
    result = daemon.cli(
        "emulator",
        "push",
        "--target",
        daemon.grpc_target,
        "--protocol",
        "4",
        "--store",
        "S1",
        "--register",
        register,
        "--receipts",
        "60",
        "--json",
        *args,
    )
    results = json.loads(result.stdout)["results"]
    assert all(r["status"] == "LOADED" for r in results), results
    return [int(r["workshift_id"]) for r in results]


def rows(daemon: ServeProcess, *args: str) -> list[dict[str, object]]:
    found: list[dict[str, object]] = json.loads(daemon.cli("shifts", "--json", *args).stdout)
    return found


def test_closed_shifts_are_exported_by_serve_and_open_ones_on_reexport(
    serve: ServeProcess,
) -> None:
    first = [("S1", "R1", ws) for ws in push(serve, "R1", "--shifts", "3")]
    second = [("S1", "R2", ws) for ws in push(serve, "R2", "--shifts", "2", "--first-shift", "7")]
    closed = first + second

    # Within a few seconds of the loads: the worker waits DEBOUNCE_S, at most MAX_DELAY_S.
    wait_for(lambda: all(outbox_names(serve, f) == expected_names(f, closed) for f in FORMATS), 5.0)
    wait_for(lambda: rows(serve, "--not-exported") == [])
    assert all(row["exported"] for row in rows(serve))

    [open_id] = push(serve, "R3", "--open")
    # A closed shift pushed after the open one: once its files are there, the worker
    # has seen the open shift's load too, and left it alone.
    later = [("S1", "R4", ws) for ws in push(serve, "R4")]
    wait_for(
        lambda: all(outbox_names(serve, f) == expected_names(f, closed + later) for f in FORMATS),
        5.0,
    )
    [open_row] = [r for r in rows(serve) if r["workshift_id"] == open_id]
    assert (open_row["closed_at"], open_row["exported"]) == (None, False)
    assert rows(serve, "--not-exported") == [open_row]

    result = serve.cli("reexport", str(open_id))
    assert result.stdout.splitlines()[-1] == "1 shift(s): 1 written, 0 unchanged, 0 failed"
    for fmt in FORMATS:
        assert outbox_names(serve, fmt) == expected_names(
            fmt, [*closed, *later, ("S1", "R3", open_id)]
        )
    assert rows(serve, "--not-exported") == []
    document = json.loads(
        (serve.data_dir / "outbox" / "json" / "S1" / "R3" / f"shift-{open_id}.json").read_bytes()
    )
    assert (document["workshift_id"], document["closed_at"]) == (open_id, None)

    done = serve.cli("export")
    assert done.returncode == 0
    assert done.stdout == "nothing to export: the files of every closed shift are up to date\n"
    again = serve.cli("reexport", str(closed[0][2]), "--json")
    assert json.loads(again.stdout)["unchanged"] == 1

    assert serve.terminate() == 0
    events = [e["event"] for e in json.loads(serve.cli("log", "--json").stdout)]
    assert events.count("shift.exported") >= len(closed) + len(later) + 1
    assert "export.failed" not in events


def test_exports_that_failed_are_done_when_serve_starts_again(tmp_path: Path) -> None:
    blocker = tmp_path / "blocker"
    blocker.write_text("a file where the outbox's folder should be")
    outbox = blocker / "outbox"
    daemon = ServeProcess(tmp_path, exchange={"formats": ["json"], "outbox_dir": str(outbox)})
    daemon.start()
    try:
        ids = push(daemon, "R1", "--shifts", "2")
        wait_for(lambda: daemon.log_text().count('"export.failed"') >= len(ids))
        assert len(rows(daemon, "--not-exported")) == len(ids)
        failed = daemon.cli("export", check=False)
        assert failed.returncode == 1
        assert failed.stdout.splitlines()[-1] == "2 shift(s): 0 written, 0 unchanged, 2 failed"
        assert daemon.terminate() == 0

        blocker.unlink()
        daemon.start()
        names = {f"S1/R1/shift-{ws}.json" for ws in ids}
        wait_for(lambda: outbox_names(daemon, "json", outbox) == names)
        wait_for(lambda: rows(daemon, "--not-exported") == [])
    finally:
        daemon.kill()

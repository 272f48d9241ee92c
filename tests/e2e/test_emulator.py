"""The register emulator as integrators use it: push to a daemon, serve RegisterSales."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import grpc
import pytest

from cashserver.clock import DAY_MS
from cashserver.domain import ShiftRange, TimeRange, Upload
from cashserver.emulator.generate import opened_at_for
from cashserver.emulator.history import History
from cashserver.rpc._generated.cashserver.v1 import cashserver_pb2 as pb
from cashserver.rpc.convert_proto import sales_query_to_proto, upload_from_chunks
from cashserver.rpc.services import REGISTER_SALES, Stub
from tests.e2e.daemon import ServeProcess, cli_env, run_cli
from tests.pg import free_port


def test_push_prints_each_result_and_a_summary(serve: ServeProcess) -> None:
    args = ["--target", serve.grpc_target, "--protocol", "4", "--store", "S1", "--register", "R1"]
    first = run_cli("emulator", "push", *args, "--shifts", "3", "--receipts", "200")
    lines = first.stdout.splitlines()
    assert [line.split(":")[0] for line in lines[:3]] == ["shift 1", "shift 2", "shift 3"]
    assert all("LOADED" in line and "stored=200" in line for line in lines[:3])
    assert lines[3].startswith("3 shifts, 600 receipts: 3 loaded")
    again = run_cli("emulator", "push", *args, "--shifts", "3", "--receipts", "200", "--json")
    document = json.loads(again.stdout)
    assert document["summary"]["duplicate"] == 600 and document["summary"]["stored"] == 0
    shifts = json.loads(serve.cli("shifts", "--json").stdout)
    assert [(r["shift_number"], r["status"]) for r in shifts] == [(1, "ok"), (2, "ok"), (3, "ok")]


def test_push_to_nothing_fails_with_exit_1_and_says_why() -> None:
    result = run_cli(
        "emulator",
        "push",
        "--target",
        f"127.0.0.1:{free_port()}",
        "--protocol",
        "4",
        "--store",
        "S1",
        "--register",
        "R1",
        check=False,
    )
    assert result.returncode == 1
    assert "UNAVAILABLE" in result.stderr


@pytest.fixture
def register_server() -> Iterator[str]:
    port = free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "cashserver.cli.main",
            "emulator",
            "serve",
            "--listen",
            f"127.0.0.1:{port}",
            "--protocol",
            "4",
            "--store",
            "S1",
            "--register",
            "R1",
            "--shifts",
            "10",
            "--receipts",
            "30",
            "--seed",
            "4",
            "--first-date",
            "2026-01-01",
        ],
        env=cli_env(),
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    assert "RegisterSales" in process.stdout.readline()
    yield f"127.0.0.1:{port}"
    process.terminate()
    process.wait(10)


def test_serve_answers_shift_ranges_and_time_ranges(register_server: str) -> None:
    history = History("S1", "R1", 10, 30, 3, 4)
    with grpc.insecure_channel(register_server) as channel:
        stub = Stub(channel, REGISTER_SALES)

        def pull(query: ShiftRange | TimeRange) -> list[tuple[int, int]]:
            chunks = list(stub.GetSales(sales_query_to_proto(query), timeout=10))
            uploads: list[Upload] = []
            current: list[pb.UploadChunk] = []
            for chunk in chunks:
                if chunk.WhichOneof("body") == "shift" and current:
                    uploads.append(upload_from_chunks(current))
                    current = []
                current.append(chunk)
            if current:
                uploads.append(upload_from_chunks(current))
            for upload in uploads:
                assert upload.receipts == tuple(
                    r
                    for r in history.shift(upload.shift.shift_number).receipts
                    if r in upload.receipts
                )
            return [(u.shift.shift_number, len(u.receipts)) for u in uploads]

        assert pull(ShiftRange(2, 4)) == [(2, 30), (3, 30), (4, 30)]
        assert pull(ShiftRange(9, 50)) == [(9, 30), (10, 30)]
        day_three = opened_at_for(3)
        assert pull(TimeRange(day_three, day_three + DAY_MS)) == [(3, 30)]
        middle = day_three + 6 * 3600 * 1000
        partial = pull(TimeRange(middle, day_three + DAY_MS))
        assert partial[0][0] == 3 and 0 < partial[0][1] < 30
        with pytest.raises(grpc.RpcError) as bad:
            list(stub.GetSales(sales_query_to_proto(ShiftRange(5, 2)), timeout=10))
        assert bad.value.code() is grpc.StatusCode.INVALID_ARGUMENT


def test_pushed_shifts_are_dated_so_the_last_one_has_just_closed(serve: ServeProcess) -> None:
    before = datetime.now(UTC)
    run_cli(
        "emulator", "push", "--target", serve.grpc_target, "--store", "S1", "--register", "R1",
        "--shifts", "3", "--first-shift", "5", "--receipts", "20",
    )  # fmt: skip
    rows = json.loads(serve.cli("shifts", "--json").stdout)
    closed = [datetime.fromisoformat(r["closed_at"].replace("Z", "+00:00")) for r in rows]
    assert [r["shift_number"] for r in rows] == [5, 6, 7]
    assert before - timedelta(minutes=5) < closed[2] < before  # shortly before, never after
    assert closed[0] == closed[2] - timedelta(days=2)  # a day apart
    # --first-date puts the first pushed shift on that date.
    run_cli(
        "emulator", "push", "--target", serve.grpc_target, "--store", "S1", "--register", "R2",
        "--shifts", "2", "--first-shift", "3", "--first-date", "2026-03-01", "--receipts", "5",
    )  # fmt: skip
    rows = json.loads(serve.cli("shifts", "--register", "R2", "--json").stdout)
    assert [r["opened_at"] for r in rows] == ["2026-03-01T08:00:00Z", "2026-03-02T08:00:00Z"]


def test_a_served_history_ends_shortly_before_now() -> None:
    port = free_port()
    before = datetime.now(UTC)
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "cashserver.cli.main",
            "emulator",
            "serve",
            "--protocol",
            "4",
            "--listen",
            f"127.0.0.1:{port}",
            "--store",
            "S1",
            "--register",
            "R1",
            "--shifts",
            "30",
            "--receipts",
            "10",
        ],
        env=cli_env(),
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        assert "RegisterSales" in process.stdout.readline()
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            stub = Stub(channel, REGISTER_SALES)
            chunks = list(stub.GetSales(sales_query_to_proto(ShiftRange(29, 30)), timeout=10))
        first = next(i for i, c in enumerate(chunks) if i and c.WhichOneof("body") == "shift")
        last = upload_from_chunks(chunks[first:])
        assert last.shift.shift_number == 30 and last.shift.closed_at is not None
        closed = datetime.fromtimestamp(last.shift.closed_at / 1000, UTC)
        assert before - timedelta(minutes=5) < closed < before
        assert all(r.closed_at < last.shift.closed_at for r in last.receipts)
    finally:
        process.terminate()
        process.wait(10)

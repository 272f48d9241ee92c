"""The register emulator as integrators use it: push to a daemon, serve RegisterSales."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator

import grpc
import pytest

from cashserver.domain import ShiftRange, TimeRange, Upload
from cashserver.emulator.generate import DAY_MS, opened_at_for
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

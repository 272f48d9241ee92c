"""`cashserver serve` as a user runs it: files, signals, crashes, faults."""

from __future__ import annotations

import json
import os
import random
import threading
import time
from pathlib import Path

import grpc
import pytest

from cashserver.domain import UploadStatus
from cashserver.emulator.generate import ShiftPlan, generate_upload
from cashserver.emulator.push import GrpcPusher
from cashserver.sales_file import encode_sales_file
from tests.e2e.daemon import ServeProcess
from tests.pg import Cluster
from tests.waiting import wait_for


def shifts_json(daemon: ServeProcess) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = json.loads(daemon.cli("shifts", "--json").stdout)
    return rows


def test_a_sales_file_copied_into_incoming_is_loaded_within_a_second(
    serve: ServeProcess, tmp_path: Path
) -> None:
    upload = generate_upload(ShiftPlan("S1", "R1", 1, 30, seed=4))
    outside = tmp_path / "sales.json"
    outside.write_bytes(encode_sales_file(upload, "file", 0))
    target = serve.data_dir / "spool" / "incoming" / "manual-0001.json"
    os.rename(outside, target)  # same file system: atomic, as the README tells
    started = time.monotonic()
    wait_for(lambda: serve.spool_files("processed") == ["manual-0001.json"], 5)
    assert time.monotonic() - started < 1.0
    [row] = shifts_json(serve)
    assert (row["receipts_count"], row["status"]) == (30, "ok")


def test_sigterm_lets_the_loader_finish_and_exits_0(serve: ServeProcess) -> None:
    pusher = GrpcPusher(serve.grpc_target)
    try:
        results = [
            pusher.upload(generate_upload(ShiftPlan("S1", "R1", n, 200, seed=4)))
            for n in range(1, 4)
        ]
    finally:
        pusher.close()
    assert all(r.status is UploadStatus.LOADED for r in results)
    assert serve.terminate() == 0
    assert serve.spool_files("incoming") == []
    assert '"daemon.stopped"' in serve.log_text()
    assert len(shifts_json(serve)) == 3


def test_a_second_daemon_on_a_taken_port_fails_at_start_with_exit_2(
    serve: ServeProcess, tmp_path: Path
) -> None:
    other = ServeProcess(tmp_path / "other")
    config = other.config.read_text().replace(f"127.0.0.1:{other.grpc_port}", serve.grpc_target)
    other.config.write_text(config)
    result = other.cli("serve", check=False)
    assert result.returncode == 2
    assert serve.grpc_target in result.stderr


def test_sigkill_at_random_moments_loses_nothing_and_stores_nothing_twice(
    tmp_path: Path,
) -> None:
    """20 kills while registers push; each register retries what was not acknowledged."""
    daemon = ServeProcess(tmp_path, spool={"verdict_timeout_s": 0.3})
    rng = random.Random(20)
    uploads = {
        (reg, n): generate_upload(ShiftPlan("S1", reg, n, 40, seed=9))
        for reg in ("R1", "R2", "R3")
        for n in range(1, 16)
    }
    acknowledged: set[tuple[str, int]] = set()
    pending = sorted(uploads)
    lock = threading.Lock()
    stop = threading.Event()
    wrong: list[UploadStatus] = []  # an assertion in a thread could not fail the test

    def register(name: str) -> None:
        mine = [key for key in pending if key[0] == name]
        while mine and not stop.is_set():
            pusher = GrpcPusher(daemon.grpc_target, timeout_s=5)
            try:
                while mine and not stop.is_set():
                    result = pusher.upload(uploads[mine[0]])
                    if result.status not in (UploadStatus.LOADED, UploadStatus.QUEUED):
                        wrong.append(result.status)
                    with lock:
                        acknowledged.add(mine.pop(0))
            except grpc.RpcError:
                time.sleep(0.05)  # the server is down: try again, as a register does
            finally:
                pusher.close()

    daemon.start()
    threads = [threading.Thread(target=register, args=(r,)) for r in ("R1", "R2", "R3")]
    for thread in threads:
        thread.start()
    try:
        for _ in range(20):
            time.sleep(rng.uniform(0.05, 0.6))
            daemon.kill()
            daemon.start()
        for thread in threads:
            thread.join(120)
    finally:
        stop.set()
    assert wrong == []
    assert len(acknowledged) == len(uploads)
    wait_for(lambda: daemon.spool_files("incoming") == [], 30)
    assert daemon.spool_files("error") == [] and daemon.spool_files("broken") == []
    rows = shifts_json(daemon)
    assert sorted((r["register_code"], r["shift_number"]) for r in rows) == sorted(uploads)
    assert all(r["receipts_count"] == 40 and r["status"] == "ok" for r in rows)
    assert daemon.terminate() == 0


def test_a_full_disk_refuses_the_upload_and_acknowledges_nothing(
    tmp_path: Path, tiny_spool: Path
) -> None:
    daemon = ServeProcess(tmp_path, database_url=f"sqlite:///{tmp_path / 'db.sqlite'}")
    config = daemon.config.read_text().replace(str(daemon.data_dir), str(tiny_spool))
    daemon.config.write_text(config)
    daemon.data_dir = tiny_spool
    daemon.start()
    pusher = GrpcPusher(daemon.grpc_target)
    try:
        small = pusher.upload(generate_upload(ShiftPlan("S1", "R1", 1, 5, seed=1)))
        assert small.status is UploadStatus.LOADED
        with pytest.raises(grpc.RpcError) as refused:
            pusher.upload(generate_upload(ShiftPlan("S1", "R1", 2, 2000, seed=1)))
        assert refused.value.code() is grpc.StatusCode.UNAVAILABLE
        assert "not accepted" in (refused.value.details() or "")
        wait_for(lambda: daemon.spool_files("incoming") == [], what="incoming/ empty")
        assert len(shifts_json(daemon)) == 1
    finally:
        pusher.close()
        daemon.kill()


def test_database_down_answers_queued_and_loads_when_it_returns(
    tmp_path: Path, own_pg_cluster: Cluster
) -> None:
    cluster = own_pg_cluster
    daemon = ServeProcess(tmp_path, database_url=cluster.url)
    daemon.start()
    pusher = GrpcPusher(daemon.grpc_target)
    try:
        first = pusher.upload(generate_upload(ShiftPlan("S1", "R1", 1, 20, seed=1)))
        assert first.status is UploadStatus.LOADED
        cluster.stop()
        queued = [
            pusher.upload(generate_upload(ShiftPlan("S1", "R1", n, 20, seed=1))) for n in (2, 3)
        ]
        assert [r.status for r in queued] == [UploadStatus.QUEUED] * 2
        assert all(r.workshift_id == 0 and r.receipts_received == 20 for r in queued)
        cluster.start()
        wait_for(lambda: daemon.spool_files("incoming") == [], 60)
        assert daemon.spool_files("error") == []
        assert len(shifts_json(daemon)) == 3
    finally:
        pusher.close()
        daemon.kill()

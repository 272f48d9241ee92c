"""The admin HTTP listener of a running ``serve``: health, readiness, the start-up rule."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

from cashserver.domain import Shift, Upload, UploadStatus
from cashserver.emulator.generate import ShiftPlan, generate_upload
from cashserver.emulator.push import GrpcPusher
from cashserver.emulator.thrift_push import ThriftPusher
from tests.e2e.daemon import ServeProcess, run_cli, scrape
from tests.fsutil import read_only
from tests.pg import Cluster, PostgresUnavailable, free_port
from tests.waiting import retry, wait_for


def readiness(daemon: ServeProcess) -> tuple[int, dict[str, Any]]:
    status, body = daemon.http("/readyz")
    document: dict[str, Any] = json.loads(body)
    return status, document


def test_healthz_and_readyz_answer_while_serving(serve: ServeProcess) -> None:
    assert serve.http("/healthz") == (200, b'{"status":"ok"}')
    assert readiness(serve) == (200, {"status": "ready"})


def test_readyz_is_503_while_the_sqlite_database_is_locked(serve: ServeProcess) -> None:
    locker = sqlite3.connect(serve.data_dir / "cashserver.db", isolation_level=None)
    try:
        locker.execute("BEGIN IMMEDIATE")  # another program holds the write lock
        status, document = readiness(serve)
        assert status == 503
        problems = document["problems"]
        assert isinstance(problems, dict) and set(problems) == {"database"}
        assert serve.http("/healthz")[0] == 200
    finally:
        locker.execute("ROLLBACK")
        locker.close()
    assert readiness(serve)[0] == 200


def restart(cluster: Cluster, timeout_s: float = 30.0) -> None:
    """Start a stopped cluster again; a killed postmaster's children may still hold
    its lock file for a moment, and then postgres refuses to start."""

    def unavailable(exc: Exception) -> bool:
        cluster.process = None
        return isinstance(exc, PostgresUnavailable)

    retry(cluster.start, unavailable, timeout_s, what="postgres restart")


def test_readyz_is_503_while_postgresql_is_down(tmp_path: Path, own_pg_cluster: Cluster) -> None:
    cluster = own_pg_cluster
    daemon = ServeProcess(tmp_path, database_url=cluster.url)
    daemon.start()
    try:
        assert readiness(daemon)[0] == 200
        cluster.stop()
        status, document = readiness(daemon)
        assert status == 503
        assert set(document["problems"]) == {"database"}
        restart(cluster)
        wait_for(lambda: readiness(daemon)[0] == 200, 20.0)
    finally:
        daemon.kill()


def test_readyz_names_a_spool_that_cannot_be_written(serve: ServeProcess) -> None:
    with read_only(serve.data_dir / "spool" / "incoming"):
        status, document = readiness(serve)
        assert status == 503
        assert set(document["problems"]) == {"spool"}
    assert readiness(serve)[0] == 200


def test_serve_refuses_an_open_listen_without_a_password(tmp_path: Path) -> None:
    daemon = ServeProcess(tmp_path, http={"listen": f"0.0.0.0:{free_port()}"})
    result = run_cli("serve", config=daemon.config, check=False)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "http.listen" in lines[0] and "password_hash" in lines[0]


def test_metrics_move_by_what_was_pushed_stored_duplicated_and_rejected(
    serve: ServeProcess,
) -> None:
    before = scrape(serve)
    grpc_pusher = GrpcPusher(serve.grpc_target)
    thrift_pusher = ThriftPusher(serve.thrift_target)
    try:
        first = generate_upload(ShiftPlan("S1", "R1", 1, 40, seed=7))
        assert grpc_pusher.upload(first).status is UploadStatus.LOADED
        assert grpc_pusher.upload(first).receipts_duplicate == 40  # the same again
        second = generate_upload(ShiftPlan("S1", "R2", 1, 25, seed=8))
        assert thrift_pusher.upload(second).status is UploadStatus.LOADED
        headless = Upload(Shift("S1", "R3", 9), ())
        assert grpc_pusher.upload(headless).status is UploadStatus.LOADED
        assert grpc_pusher.upload(headless).status is UploadStatus.REJECTED
    finally:
        grpc_pusher.close()
        thrift_pusher.close()
    # Loaded files leave incoming/ once their commit is synced, just after the verdict.
    wait_for(lambda: serve.spool_files("incoming") == [], what="incoming/ empty")
    # The front hands each count to the writer, whose listener serves /metrics, in the
    # order counted: the last one (the rejection) there means all of them are.
    rejected = ("cashserver_uploads_total", (("protocol", "grpc"), ("status", "rejected")))
    after = wait_for(
        lambda: (
            found
            if (found := scrape(serve)).get(rejected, 0.0) > before.get(rejected, 0.0)
            else None
        ),
        what="the rejection counted on /metrics",
    )

    def moved(name: str, **labels: str) -> float:
        key = (name, tuple(sorted(labels.items())))
        return after.get(key, 0.0) - before.get(key, 0.0)

    assert moved("cashserver_uploads_total", protocol="grpc", status="loaded") == 3
    assert moved("cashserver_uploads_total", protocol="grpc", status="rejected") == 1
    assert moved("cashserver_uploads_total", protocol="thrift", status="loaded") == 1
    assert moved("cashserver_receipts_stored_total") == 65
    assert moved("cashserver_receipts_duplicate_total") == 40
    assert moved("cashserver_load_duration_seconds_count") >= 3
    assert after[("cashserver_spool_files", (("folder", "error"),))] == 1
    assert after[("cashserver_spool_files", (("folder", "processed"),))] == 4
    assert after[("cashserver_registers", (("state", "none"),))] == 3
    assert ("cashserver_build_info", ()) not in after  # the info series has labels
    assert any(name == "cashserver_build_info" for name, _ in after)
    assert any(name == "process_resident_memory_bytes" for name, _ in after)
    buckets = {dict(labels)["le"] for name, labels in after if name.endswith("_bucket")}
    assert {"0.001", "10.0", "+Inf"} <= buckets
    for _name, labels in after:  # no label may name a store or a register
        assert not {"store_code", "register_code", "store", "register"} & {k for k, _ in labels}

"""Protocol 4 through `cashserver serve`: the upload contract, bad streams, signals."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from msgspec.structs import replace

from cashserver.clock import DAY_MS
from cashserver.domain import Shift, Upload, UploadResult, UploadStatus
from cashserver.emulator.generate import ShiftPlan, generate_upload
from cashserver.emulator.push import GrpcPusher
from cashserver.rpc._generated.cashserver.v1 import cashserver_pb2 as pb
from cashserver.rpc.convert_proto import upload_to_chunks
from cashserver.rpc.services import SALES_LOADER, Stub
from tests.e2e.daemon import REPO, ServeProcess
from tests.waiting import wait_for


def rows(daemon: ServeProcess) -> list[dict[str, object]]:
    result: list[dict[str, object]] = json.loads(daemon.cli("shifts", "--json").stdout)
    return result


@pytest.fixture
def pusher(serve: ServeProcess) -> GrpcPusher:
    return GrpcPusher(serve.grpc_target)


def registers_listed(daemon: ServeProcess) -> set[str]:
    listed = json.loads(daemon.cli("registers", "list", "--json").stdout)
    return {f"{r['store_code']}/{r['register_code']}" for r in listed}


def test_handshake_tells_the_register_how_to_talk(serve: ServeProcess, pusher: GrpcPusher) -> None:
    before = time.time() * 1000
    settings = pusher.handshake("S1", "R1")
    assert settings.protocol_version == 4
    assert settings.grpc_endpoint.endswith(f":{serve.grpc_port}")
    assert settings.thrift_endpoint.endswith(f":{serve.thrift_port}")
    assert settings.tls_required is False and settings.upload_batch_size == 500
    assert abs(settings.server_time - before) < 60_000
    # A register new to the directory joins it with the daemon's next directory round.
    wait_for(lambda: "S1/R1" in registers_listed(serve), 10)
    serve.cli("registers", "set", "S1", "R1", "--protocol", "3")
    # The daemon's directory in memory follows the database within a second or so.
    wait_for(lambda: pusher.handshake("S1", "R1").protocol_version == 3)
    listed = json.loads(serve.cli("registers", "list", "--json").stdout)
    assert [(r["store_code"], r["register_code"], r["protocol_version"]) for r in listed] == [
        ("S1", "R1", 3)
    ]
    assert listed[0]["software_version"] == "cashserver-emulator/1"


def test_push_and_push_again_stores_once(serve: ServeProcess, pusher: GrpcPusher) -> None:
    upload = generate_upload(ShiftPlan("S1", "R1", 1, 300, seed=1))
    first = pusher.upload(upload)
    again = pusher.upload(upload)
    assert (first.status, first.receipts_stored, first.receipts_duplicate) == (
        UploadStatus.LOADED,
        300,
        0,
    )
    assert (again.status, again.workshift_id, again.receipts_stored, again.receipts_duplicate) == (
        UploadStatus.LOADED,
        first.workshift_id,
        0,
        300,
    )
    [row] = rows(serve)
    assert (row["receipts_count"], row["status"]) == (300, "ok")


def test_the_same_shift_pushed_twice_at_once_is_stored_once(serve: ServeProcess) -> None:
    upload = generate_upload(ShiftPlan("S1", "R1", 1, 500, seed=2))
    barrier = threading.Barrier(2)
    results = []

    def push() -> None:
        own = GrpcPusher(serve.grpc_target)
        chunks = upload_to_chunks(upload)
        barrier.wait()
        results.append(own.upload_chunks(chunks))
        own.close()

    threads = [threading.Thread(target=push) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(r.receipts_stored for r in results) == [0, 500]
    assert len({r.workshift_id for r in results}) == 1
    assert [r["receipts_count"] for r in rows(serve)] == [500]


def test_the_48_hour_rule_and_the_null_date_rule_over_the_wire(
    serve: ServeProcess, pusher: GrpcPusher
) -> None:
    base = generate_upload(ShiftPlan("S1", "R1", 5, 3, seed=3))
    opened = base.shift.opened_at
    assert opened is not None
    near = replace(base, shift=replace(base.shift, opened_at=opened + 47 * 3600 * 1000))
    reused = generate_upload(ShiftPlan("S1", "R1", 5, 3, seed=4))
    reused = replace(reused, shift=replace(reused.shift, opened_at=opened + 2 * DAY_MS))
    first = pusher.upload(base)
    assert pusher.upload(near).workshift_id == first.workshift_id
    second = pusher.upload(reused)
    assert second.status is UploadStatus.LOADED and second.workshift_id != first.workshift_id
    headless = Upload(Shift("S1", "R1", 9), base.receipts[:0])
    assert pusher.upload(headless).status is UploadStatus.LOADED
    rejected = pusher.upload(headless)
    assert rejected.status is UploadStatus.REJECTED and rejected.workshift_id == 0
    assert "null" in rejected.message
    assert len(serve.spool_files("error")) == 2  # the file and its .reason
    assert serve.events("shift.rejected")


def test_an_open_shift_pushed_again_with_more_receipts(
    serve: ServeProcess, pusher: GrpcPusher
) -> None:
    full = generate_upload(ShiftPlan("S1", "R1", 1, 100, seed=5))
    early = Upload(replace(full.shift, closed_at=None, counters=None), full.receipts[:60])
    first = pusher.upload(early)
    last = pusher.upload(full)
    assert (first.receipts_stored, last.receipts_stored, last.receipts_duplicate) == (60, 40, 60)
    assert first.workshift_id == last.workshift_id
    [row] = rows(serve)
    assert (row["receipts_count"], row["status"], row["closed_at"] is not None) == (100, "ok", True)


def raw_upload(target: str, chunks: list[pb.UploadChunk]) -> grpc.RpcError:
    with grpc.insecure_channel(target) as channel:
        stub = Stub(channel, SALES_LOADER)
        with pytest.raises(grpc.RpcError) as failure:
            stub.UploadShift(iter(chunks), timeout=10)
    return failure.value


def test_bad_streams_are_refused_with_a_clear_status_and_store_nothing(
    serve: ServeProcess,
) -> None:
    good = upload_to_chunks(generate_upload(ShiftPlan("S1", "R1", 1, 20, seed=6)), 10)
    receipts_first = raw_upload(serve.grpc_target, good[1:])
    assert receipts_first.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert "chunks[0]" in (receipts_first.details() or "")

    def broken(mutate: str) -> list[pb.UploadChunk]:
        chunks = [pb.UploadChunk.FromString(c.SerializeToString()) for c in good]
        receipt = chunks[2].receipts.receipts[2]  # receipts[12]
        if mutate == "kind":
            receipt.kind = 9  # type: ignore[assignment]
        elif mutate == "uid":
            receipt.uid = "not-a-uuid"
        elif mutate == "money":
            receipt.payments[0].amount = -1
        return chunks

    for mutate, expected in [
        ("kind", "receipts[12].kind"),
        ("uid", "receipts[12].uid: not a UUID"),
        ("money", "receipts[12].payments[0].amount"),
    ]:
        error = raw_upload(serve.grpc_target, broken(mutate))
        assert error.code() is grpc.StatusCode.INVALID_ARGUMENT
        assert expected in (error.details() or "")
    assert rows(serve) == []
    assert serve.spool_files("incoming") == [] and serve.spool_files("processed") == []


def test_an_oversized_chunk_is_resource_exhausted(tmp_path: Path) -> None:
    daemon = ServeProcess(tmp_path, grpc={"max_message_bytes": 64 * 1024})
    daemon.start()
    try:
        chunks = upload_to_chunks(generate_upload(ShiftPlan("S1", "R1", 1, 1000, seed=7)), 1000)
        error = raw_upload(daemon.grpc_target, chunks)
        assert error.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
        assert rows(daemon) == []
    finally:
        daemon.kill()


def admitted(pusher: GrpcPusher, upload: Upload) -> UploadResult | None:
    """The upload's result, or None while the register is still refused."""
    try:
        return pusher.upload(upload)
    except grpc.RpcError as exc:
        if exc.code() is grpc.StatusCode.PERMISSION_DENIED:
            return None
        raise


def test_unknown_registers_are_refused_when_auto_register_is_off(tmp_path: Path) -> None:
    daemon = ServeProcess(tmp_path, registers={"auto_register": False})
    daemon.start()
    pusher = GrpcPusher(daemon.grpc_target)
    try:
        upload = generate_upload(ShiftPlan("S1", "R7", 1, 5, seed=8))
        with pytest.raises(grpc.RpcError) as refused:
            pusher.upload(upload)
        assert refused.value.code() is grpc.StatusCode.PERMISSION_DENIED
        assert "S1/R7" in (refused.value.details() or "")
        refused_events = daemon.events("register.refused")
        assert [e["register_code"] for e in refused_events] == ["R7"]
        daemon.cli("registers", "add", "S1", "R7")
        # The daemon's directory in memory follows the database within a second or so.
        assert wait_for(lambda: admitted(pusher, upload)).status is UploadStatus.LOADED
    finally:
        pusher.close()
        daemon.kill()


def test_sigterm_during_uploads_each_gets_a_result_or_unavailable_and_retry_stores_once(
    serve: ServeProcess,
) -> None:
    uploads = [generate_upload(ShiftPlan("S1", f"R{n}", 1, 1000, seed=9)) for n in range(6)]
    outcomes: dict[int, object] = {}

    started: list[int] = []

    def push(n: int) -> None:
        own = GrpcPusher(serve.grpc_target, timeout_s=30)
        started.append(n)
        try:
            outcomes[n] = own.upload(uploads[n]).status
        except grpc.RpcError as exc:
            outcomes[n] = exc.code()
        finally:
            own.close()

    threads = [threading.Thread(target=push, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    # Let the uploads get under way; the outcome must hold at any moment.
    wait_for(lambda: len(started) == 6, what="six uploads started")
    assert serve.terminate() == 0
    for thread in threads:
        thread.join()
    assert set(outcomes.values()) <= {
        UploadStatus.LOADED,
        UploadStatus.QUEUED,
        grpc.StatusCode.UNAVAILABLE,
        grpc.StatusCode.CANCELLED,
    }
    serve.start()
    retry = GrpcPusher(serve.grpc_target)
    for n, upload in enumerate(uploads):
        if outcomes[n] not in (UploadStatus.LOADED, UploadStatus.QUEUED):
            assert retry.upload(upload).status is UploadStatus.LOADED
    retry.close()
    wait_for(lambda: not serve.spool_files("incoming"), 20, what="incoming/ drained")
    assert sorted((r["register_code"], r["receipts_count"]) for r in rows(serve)) == [
        (f"R{n}", 1000) for n in range(6)
    ]


def test_health_is_serving_and_goes_away_on_shutdown(serve: ServeProcess) -> None:
    with grpc.insecure_channel(serve.grpc_target) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        for service in ("", "cashserver.v1.SalesLoader"):
            reply = stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=5)
            assert reply.status == health_pb2.HealthCheckResponse.SERVING
    assert serve.terminate() == 0


GRPCLIB_CLIENT = """
import asyncio, json, sys
from grpclib.client import Channel
from cashserver.v1 import cashserver_pb2 as pb
from cashserver.v1.cashserver_grpc import SalesLoaderStub

async def main() -> None:
    chunks = [pb.UploadChunk.FromString(bytes.fromhex(h)) for h in json.load(sys.stdin)]
    host, port = sys.argv[1].rsplit(":", 1)
    async with Channel(host, int(port)) as channel:
        stub = SalesLoaderStub(channel)
        async with stub.UploadShift.open() as stream:
            for chunk in chunks:
                await stream.send_message(chunk)
            await stream.end()
            reply = await stream.recv_message()
    print(json.dumps({"status": reply.status, "stored": reply.receipts_stored,
                      "workshift_id": reply.workshift_id}))

asyncio.run(main())
"""


def test_an_independent_grpclib_client_pushes_a_shift(serve: ServeProcess, tmp_path: Path) -> None:
    """grpclib (pure Python, h2) with code generated from the same proto gets LOADED."""
    out = tmp_path / "grpclib"
    out.mkdir()
    plugin = Path(sys.executable).with_name("protoc-gen-grpclib_python")
    if not plugin.exists():
        pytest.skip("grpclib's protoc plugin is not installed next to this Python")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "grpc_tools.protoc",
            f"-I{REPO / 'proto'}",
            f"--plugin=protoc-gen-grpclib_python={plugin}",
            f"--python_out={out}",
            f"--grpclib_python_out={out}",
            "cashserver/v1/cashserver.proto",
        ],
        check=True,
    )
    (out / "client.py").write_text(GRPCLIB_CLIENT)
    chunks = upload_to_chunks(generate_upload(ShiftPlan("S1", "G1", 1, 50, seed=10)), 20)
    result = subprocess.run(
        [sys.executable, str(out / "client.py"), serve.grpc_target],
        input=json.dumps([c.SerializeToString().hex() for c in chunks]),
        capture_output=True,
        text=True,
        cwd=out,
        env={"PYTHONPATH": str(out), "PATH": "/usr/bin:/bin"},
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    reply = json.loads(result.stdout)
    assert reply["status"] == pb.LOADED and reply["stored"] == 50 and reply["workshift_id"] > 0

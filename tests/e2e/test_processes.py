"""`cashserver serve` as two processes: the front and the writer child, killed and restarted."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path

import grpc
import pytest
from thriftpy2.transport import TTransportException

from cashserver.domain import Upload, UploadStatus
from cashserver.emulator.generate import ShiftPlan, generate_upload
from cashserver.emulator.push import GrpcPusher, Pusher
from cashserver.emulator.thrift_push import ThriftPusher
from cashserver.validate import ValidationError, validate_upload
from tests.e2e.daemon import ServeProcess
from tests.waiting import wait_for


def shift_rows(daemon: ServeProcess) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = json.loads(daemon.cli("shifts", "--json").stdout)
    return rows


def gone(pid: int) -> bool:
    """The process no longer runs (never existed, reaped, or a zombie nobody reaped yet)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return True
    return stat.rsplit(")", 1)[1].split()[0] in ("Z", "X")


def writer_pid(daemon: ServeProcess, other_than: int | None = None) -> int:
    """The writer child's pid, once there is exactly one (and not ``other_than``)."""
    found: list[int] = []

    def one() -> bool:
        found[:] = [pid for pid in daemon.children() if pid != other_than]
        return len(found) == 1

    wait_for(one, 30)
    return found[0]


def valid_uploads(count: int, receipts: int) -> list[Upload]:
    """``count`` generated shifts that pass validation (a small generated shift can
    return more than it sold, which the register would not send)."""
    found: list[Upload] = []
    n = 0
    while len(found) < count:
        n += 1
        upload = generate_upload(ShiftPlan("S1", f"R{n % 8}", n, receipts, seed=11))
        try:
            validate_upload(upload)
        except ValidationError:
            continue
        found.append(upload)
    return found


def push_all(
    make: Callable[[], Pusher], uploads: list[Upload], results: list[UploadStatus]
) -> None:
    """Push each upload until it is acknowledged, reconnecting as a register does."""
    pending = list(uploads)
    while pending:
        pusher = make()
        try:
            while pending:
                results.append(pusher.upload(pending[0]).status)
                pending.pop(0)
        except grpc.RpcError as exc:
            if exc.code() is not grpc.StatusCode.UNAVAILABLE:
                raise
            time.sleep(0.05)
        except (TTransportException, OSError):
            time.sleep(0.05)
        finally:
            pusher.close()


def test_serve_runs_the_writer_in_one_child_process(serve: ServeProcess) -> None:
    child = writer_pid(serve)
    assert Path(f"/proc/{child}/cmdline").read_bytes().split(b"\0")[1:3] == [
        b"-m",
        b"cashserver.writer.child",
    ]
    pusher = GrpcPusher(serve.grpc_target)
    try:
        result = pusher.upload(generate_upload(ShiftPlan("S1", "R1", 1, 50, seed=3)))
    finally:
        pusher.close()
    assert result.status is UploadStatus.LOADED and result.workshift_id > 0
    assert serve.terminate() == 0
    assert gone(child)


def test_serve_with_one_process_loads_over_both_protocols(tmp_path: Path) -> None:
    # The writer side's modules are imported only on this road in the front's process.
    daemon = ServeProcess(tmp_path, server={"processes": 1})
    daemon.start()
    try:
        assert daemon.children() == []
        pushers: list[Pusher] = [GrpcPusher(daemon.grpc_target), ThriftPusher(daemon.thrift_target)]
        results = []
        for n, pusher in enumerate(pushers, 1):
            try:
                results.append(pusher.upload(generate_upload(ShiftPlan("S1", "R1", n, 50, seed=3))))
            finally:
                pusher.close()
        assert [r.status for r in results] == [UploadStatus.LOADED] * 2
        assert daemon.http("/readyz")[0] == 200
        assert daemon.terminate() == 0
    finally:
        daemon.kill()


def test_the_writer_killed_during_a_load_restarts_and_nothing_is_lost_or_doubled(
    tmp_path: Path,
) -> None:
    daemon = ServeProcess(tmp_path, spool={"verdict_timeout_s": 0.5})
    daemon.start()
    try:
        first = writer_pid(daemon)
        uploads = [
            generate_upload(ShiftPlan("S1", f"R{n % 4}", n, 400, seed=5)) for n in range(1, 41)
        ]
        statuses: list[UploadStatus] = []
        pushers = [
            threading.Thread(
                target=push_all,
                args=(lambda: GrpcPusher(daemon.grpc_target), uploads[i::4], statuses),
            )
            for i in range(4)
        ]
        for thread in pushers:
            thread.start()
        wait_for(lambda: len(daemon.spool_files("processed")) >= 5, 60)
        wait_for(lambda: bool(daemon.spool_files("incoming")), 30)  # a load under way
        os.kill(first, signal.SIGKILL)
        second = writer_pid(daemon, other_than=first)
        for thread in pushers:
            thread.join(120)
        assert len(statuses) == len(uploads)
        assert set(statuses) <= {UploadStatus.LOADED, UploadStatus.QUEUED}
        wait_for(lambda: daemon.spool_files("incoming") == [], 60)
        rows = shift_rows(daemon)
        assert sorted((r["register_code"], r["shift_number"]) for r in rows) == sorted(
            (u.shift.register_code, u.shift.shift_number) for u in uploads
        )
        assert all(r["receipts_count"] == 400 and r["status"] == "ok" for r in rows)
        assert daemon.spool_files("error") == [] and daemon.spool_files("broken") == []
        assert '"writer.restarted"' in daemon.log_text()
        assert daemon.terminate() == 0
        assert gone(second)
    finally:
        daemon.kill()


def test_a_parent_killed_with_sigkill_leaves_no_child_running(serve: ServeProcess) -> None:
    children = serve.children()
    assert children
    serve.kill()
    wait_for(lambda: all(gone(pid) for pid in children), 10)


def test_a_writer_that_keeps_dying_ends_the_daemon_with_exit_1(tmp_path: Path) -> None:
    daemon = ServeProcess(tmp_path)
    daemon.start()
    try:
        killed: set[int] = set()
        assert daemon.process is not None
        while daemon.process.poll() is None:
            children = [pid for pid in daemon.children() if pid not in killed]
            for pid in children:
                os.kill(pid, signal.SIGKILL)
                killed.add(pid)
            time.sleep(0.05)
        assert daemon.process.returncode == 1
        assert '"writer.gave_up"' in daemon.log_text()
        wait_for(lambda: all(gone(pid) for pid in killed), 10)
    finally:
        daemon.kill()


@pytest.mark.timeout(600)
def test_1000_uploads_over_both_protocols_while_the_writer_restarts_three_times(
    tmp_path: Path,
) -> None:
    daemon = ServeProcess(tmp_path, spool={"verdict_timeout_s": 0.5})
    daemon.start()
    try:
        uploads = valid_uploads(1000, receipts=5)
        statuses: list[UploadStatus] = []
        makers: list[Callable[[], Pusher]] = [
            lambda: GrpcPusher(daemon.grpc_target),
            lambda: ThriftPusher(daemon.thrift_target),
        ]
        pushers = [
            threading.Thread(target=push_all, args=(makers[i % 2], uploads[i::8], statuses))
            for i in range(8)
        ]
        for thread in pushers:
            thread.start()
        pid = writer_pid(daemon)
        for round_ in range(3):
            wait_for(lambda r=round_: len(statuses) >= 150 * (r + 1), 120)  # type: ignore[misc]
            os.kill(pid, signal.SIGKILL)
            pid = writer_pid(daemon, other_than=pid)
        for thread in pushers:
            thread.join(300)
        assert len(statuses) == 1000
        assert set(statuses) <= {UploadStatus.LOADED, UploadStatus.QUEUED}
        wait_for(lambda: daemon.spool_files("incoming") == [], 60)
        rows = shift_rows(daemon)
        assert len(rows) == 1000
        assert sorted((r["register_code"], r["shift_number"]) for r in rows) == sorted(
            (u.shift.register_code, u.shift.shift_number) for u in uploads
        )
        assert all(r["receipts_count"] == 5 for r in rows)
        assert daemon.log_text().count('"writer.restarted"') == 3
        assert daemon.terminate() == 0
    finally:
        daemon.kill()

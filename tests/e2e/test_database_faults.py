"""The database is down or locked: registers are answered all the same (SPEC 4).

Handshake answers within a second and uploads are QUEUED, over both protocols,
for registers the directory holds and for new ones; the uploads load once the
database is back, and the new registers join the directory.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import pytest

from cashserver.domain import Upload, UploadResult, UploadStatus
from cashserver.emulator.generate import ShiftPlan, generate_upload
from cashserver.emulator.push import GrpcPusher, Pusher
from cashserver.emulator.thrift_push import ThriftPusher
from tests.e2e.daemon import ServeProcess
from tests.pg import Cluster, free_port
from tests.waiting import wait_for

HANDSHAKE_LIMIT_S = 1.0
LOCK_HELD_S = 5.0

LOCKER = """
import sqlite3, sys, time
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
conn.execute("BEGIN EXCLUSIVE")
started = time.monotonic()
print("locked", flush=True)
sys.stdin.readline()  # the test is done with the locked database
time.sleep(max(0.0, float(sys.argv[2]) - (time.monotonic() - started)))
conn.execute("COMMIT")
"""


@contextmanager
def sqlite_locked(path: Path, at_least_s: float) -> Iterator[None]:
    """Another program holds the database's write lock, for ``at_least_s`` or longer."""
    locker = subprocess.Popen(
        [sys.executable, "-c", LOCKER, str(path), str(at_least_s)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert locker.stdout is not None and locker.stdout.readline().strip() == "locked"
        yield
        assert locker.stdin is not None
        locker.stdin.write("done\n")
        locker.stdin.flush()
        assert locker.wait(60) == 0
    finally:
        if locker.poll() is None:
            locker.kill()
            locker.wait()


def pusher_for(daemon: ServeProcess, protocol: int) -> Pusher:
    if protocol == 4:
        return GrpcPusher(daemon.grpc_target)
    return ThriftPusher(daemon.thrift_target, timeout_s=30)


def handshake_and_upload(
    daemon: ServeProcess, protocol: int, upload: Upload
) -> tuple[float, UploadResult]:
    """How long the Handshake took, and the upload's result."""
    shift = upload.shift
    pusher = pusher_for(daemon, protocol)
    try:
        started = time.monotonic()
        pusher.handshake(shift.store_code, shift.register_code)
        took = time.monotonic() - started
        return took, pusher.upload(upload)
    finally:
        pusher.close()


def registers_listed(daemon: ServeProcess) -> set[str]:
    listed = json.loads(daemon.cli("registers", "list", "--json").stdout)
    return {f"{r['store_code']}/{r['register_code']}" for r in listed}


def shift_count(daemon: ServeProcess) -> int:
    return len(json.loads(daemon.cli("shifts", "--json").stdout))


def all_loaded(daemon: ServeProcess, expected: int) -> Callable[[], bool]:
    def check() -> bool:
        return daemon.spool_files("incoming") == [] and shift_count(daemon) == expected

    return check


def check_answers(answers: list[tuple[float, UploadResult]], receipts: int) -> None:
    slow = [round(took, 2) for took, _ in answers if took >= HANDSHAKE_LIMIT_S]
    assert slow == [], f"Handshakes slower than {HANDSHAKE_LIMIT_S} s: {slow}"
    for _, result in answers:
        assert result.status is UploadStatus.QUEUED
        assert result.workshift_id == 0 and result.receipts_received == receipts


def test_sqlite_locked_by_another_program(tmp_path: Path) -> None:
    database = tmp_path / "db.sqlite"
    daemon = ServeProcess(tmp_path, database_url=f"sqlite:///{database}")
    # (protocol, register, known to the directory before the lock)
    cases = [(4, "K4", True), (4, "N4", False), (3, "K3", True), (3, "N3", False)]
    for _, register, known in cases:
        if known:
            daemon.cli("registers", "add", "S1", register)
    daemon.start()
    try:
        uploads = {r: generate_upload(ShiftPlan("S1", r, 1, 10, seed=5)) for _, r, _ in cases}
        with sqlite_locked(database, LOCK_HELD_S), ThreadPoolExecutor(len(cases)) as pool:
            answers = list(
                pool.map(lambda c: handshake_and_upload(daemon, c[0], uploads[c[1]]), cases)
            )
            check_answers(answers, 10)
        wait_for(all_loaded(daemon, len(cases)), 60)
        assert daemon.spool_files("error") == []
        assert registers_listed(daemon) == {f"S1/{r}" for _, r, _ in cases}
        assert daemon.terminate() == 0
    finally:
        daemon.kill()


def test_postgresql_stopped_and_started_under_serve(
    tmp_path: Path, own_pg_cluster: Cluster
) -> None:
    cluster = own_pg_cluster
    daemon = ServeProcess(tmp_path, database_url=cluster.url)
    known = [f"K{n}" for n in range(10)]
    new = [f"N{n}" for n in range(10)]
    for register in known:
        daemon.cli("registers", "add", "S1", register)
    daemon.start()
    try:
        cluster.stop()
        # Each protocol carries half the known and half the new registers.
        cases = [(4 if n % 2 else 3, r) for n, r in enumerate(known + new)]
        uploads = {r: generate_upload(ShiftPlan("S1", r, 1, 10, seed=6)) for _, r in cases}
        with ThreadPoolExecutor(len(cases)) as pool:
            answers = list(
                pool.map(lambda c: handshake_and_upload(daemon, c[0], uploads[c[1]]), cases)
            )
        check_answers(answers, 10)
        cluster.start()
        wait_for(lambda: daemon.spool_files("incoming") == [], 30)
        assert shift_count(daemon) == len(cases)
        assert daemon.spool_files("error") == []
        assert registers_listed(daemon) == {f"S1/{r}" for r in known + new}
        assert daemon.terminate() == 0
    finally:
        daemon.kill()


@pytest.mark.parametrize(
    "url",
    ["nonsense", "mysql://db.example/sales", "postgresql+psycopg://postgres@127.0.0.1:{port}/x"],
    ids=["malformed", "unsupported", "unreachable"],
)
def test_a_bad_database_url_stops_serve_with_exit_2_naming_the_key(
    tmp_path: Path, url: str
) -> None:
    daemon = ServeProcess(tmp_path, database_url=url.format(port=free_port()))
    result = daemon.cli("serve", check=False)
    assert result.returncode == 2
    named = [line for line in result.stderr.splitlines() if "server.database_url" in line]
    assert len(named) == 1 and named[0].startswith("cashserver: "), result.stderr

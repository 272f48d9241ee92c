"""What ``serve`` tells systemd: READY, STATUS lines, and watchdog pings that stop
while the loader is wedged (here: blocked behind a PostgreSQL table lock)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest

from cashserver.domain import UploadStatus
from cashserver.emulator.generate import ShiftPlan, generate_upload
from cashserver.emulator.push import GrpcPusher
from tests.e2e.daemon import ServeProcess
from tests.pg import Cluster
from tests.waiting import holds_for, wait_for


class NotifySocket:
    """A stand-in for systemd's notify socket that keeps every datagram with its time."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(path))
        self.sock.settimeout(0.2)
        self.received: list[tuple[float, str]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                data = self.sock.recv(4096)
            except TimeoutError:
                continue
            self.received.append((time.monotonic(), data.decode()))

    def states(self, since: float = 0.0) -> list[str]:
        return [state for at, state in list(self.received) if at >= since]

    def wait_for(
        self, wanted: Callable[[str], bool], since: float = 0.0, timeout_s: float = 30.0
    ) -> str:
        def first() -> str | None:
            return next((state for state in self.states(since) if wanted(state)), None)

        return wait_for(first, timeout_s, what=f"notify state (got {self.states(since)[-10:]})")

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        self.sock.close()


@pytest.fixture
def notify(tmp_path: Path) -> Iterator[NotifySocket]:
    sock = NotifySocket(tmp_path / "notify.sock")
    yield sock
    sock.close()


def test_ready_status_and_watchdog(tmp_path: Path, notify: NotifySocket) -> None:
    daemon = ServeProcess(tmp_path / "d")
    daemon.extra_env = {"NOTIFY_SOCKET": str(notify.path), "WATCHDOG_USEC": "10000000"}
    daemon.start()
    try:
        notify.wait_for(lambda s: s == "READY=1")
        notify.wait_for(lambda s: s == "WATCHDOG=1")
        notify.wait_for(lambda s: s.startswith("STATUS=spool queue 0 file(s)"))
        pusher = GrpcPusher(daemon.grpc_target)
        try:
            for n in (1, 2):
                upload = generate_upload(ShiftPlan("S1", "R1", n, 5))
                assert pusher.upload(upload).status is UploadStatus.LOADED
        finally:
            pusher.close()
        notify.wait_for(lambda s: "2 upload(s) in the last minute" in s)
        assert daemon.terminate() == 0
        assert "STOPPING=1" in notify.states()
    finally:
        daemon.kill()


def test_a_wedged_loader_stops_the_watchdog_pings(
    tmp_path: Path, notify: NotifySocket, own_pg_cluster: Cluster
) -> None:
    cluster = own_pg_cluster
    daemon = ServeProcess(tmp_path / "d", database_url=cluster.url)
    # WatchdogSec=2: the loader may stand still for 4 s before the pings stop.
    daemon.extra_env = {"NOTIFY_SOCKET": str(notify.path), "WATCHDOG_USEC": "2000000"}
    daemon.start()
    pusher = GrpcPusher(daemon.grpc_target)
    locker = psycopg.connect(f"host=127.0.0.1 port={cluster.port} user=postgres dbname=postgres")
    try:
        notify.wait_for(lambda s: s == "WATCHDOG=1")
        locker.execute("LOCK TABLE receipts IN ACCESS EXCLUSIVE MODE")  # held until commit
        queued = pusher.upload(generate_upload(ShiftPlan("S1", "R1", 1, 5)))
        assert queued.status is UploadStatus.QUEUED  # the loader is stuck in its insert
        wait_for(lambda: "watchdog.withheld" in daemon.log_text(), 30, what="pings withheld")
        # From the next tick on no ping comes: watch for a whole watchdog interval.
        withheld = time.monotonic() + 1.5
        holds_for(lambda: "WATCHDOG=1" not in notify.states(since=withheld), 4.0, "no ping")
        locker.commit()  # the lock goes: the loader finishes, the pings come back
        resumed = time.monotonic()
        notify.wait_for(lambda s: s == "WATCHDOG=1", since=resumed)
        wait_for(lambda: daemon.spool_files("incoming") == [], what="incoming/ empty")
    finally:
        locker.close()
        pusher.close()
        daemon.kill()

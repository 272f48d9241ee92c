"""A throwaway PostgreSQL cluster for the test session, from the server binaries.

``initdb`` and ``postgres`` are looked up on PATH and in Debian's
``/usr/lib/postgresql/<version>/bin``. PostgreSQL refuses to run as root, so
when the tests run as root (as CI does) the cluster belongs to the ``postgres``
system user and is started through ``runuser``.
"""

from __future__ import annotations

import glob
import os
import pwd
import random
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path


class PostgresUnavailable(RuntimeError):
    """No server binaries here, or the cluster would not start; the message says why."""


def find_binaries() -> tuple[str, str]:
    initdb, postgres = shutil.which("initdb"), shutil.which("postgres")
    if initdb and postgres:
        return initdb, postgres
    for bindir in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True):
        if os.path.exists(f"{bindir}/initdb") and os.path.exists(f"{bindir}/postgres"):
            return f"{bindir}/initdb", f"{bindir}/postgres"
    raise PostgresUnavailable(
        "PostgreSQL server binaries (initdb, postgres) not found: the PostgreSQL tests are SKIPPED"
    )


_HANDED_OUT: set[int] = set()
LOWEST_PORT = 10_000


def _ephemeral_low() -> int:
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32_768  # Linux's default


def _worker_share(low: int, top: int) -> tuple[int, int]:
    """This test process's own slice of [low, top): with pytest-xdist each worker
    (``PYTEST_XDIST_WORKER`` gw0, gw1, ...) picks from its own, so two workers never
    hand out the same port between a pick and a daemon's bind."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    count = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1") or 1)
    if not worker.startswith("gw") or count <= 1:
        return low, top
    index = int(worker[2:])
    width = (top - low) // count
    return low + index * width, low + (index + 1) * width


def free_port() -> int:
    """A port on 127.0.0.1 that nothing listens on, for a daemon the test starts.

    Not the kernel's pick (bind to port 0): that comes from the ephemeral range,
    which every outgoing connection draws from too, so between the pick and the
    daemon's bind a client socket of this or another test run could take it (seen
    as "Address already in use" under load). A random port below that range is
    never given to an outgoing connection; it is checked free by binding it, and
    never handed out twice by this process.
    """
    low, top = _worker_share(LOWEST_PORT, _ephemeral_low())
    for _ in range(1000):
        port = random.randrange(low, top)
        if port in _HANDED_OUT:
            continue
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
        _HANDED_OUT.add(port)
        return port
    raise RuntimeError(f"no free port found in {low}-{top}")


class Cluster:
    """A running cluster on 127.0.0.1:<port>, user ``postgres``, trust authentication."""

    def __init__(self, fsync: bool = False) -> None:
        self.fsync = fsync
        """Tests run without fsync (nothing they check needs it); benchmarks with it."""
        self.initdb, self.postgres = find_binaries()
        self.as_root = os.getuid() == 0
        self.port = free_port()
        self.root = Path(tempfile.mkdtemp(prefix="cashserver-pg-"))
        self.datadir = self.root / "data"
        self.process: subprocess.Popen[bytes] | None = None
        if self.as_root:
            try:
                entry = pwd.getpwnam("postgres")
            except KeyError:
                raise PostgresUnavailable(
                    "running as root and there is no 'postgres' system user to run the server"
                ) from None
            os.chown(self.root, entry.pw_uid, entry.pw_gid)
        self.root.chmod(0o700)

    def _command(self, *argv: str) -> list[str]:
        return ["runuser", "-u", "postgres", "--", *argv] if self.as_root else list(argv)

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def url_for(self, database: str) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    def start(self) -> None:
        if not self.datadir.exists():
            result = subprocess.run(
                self._command(
                    self.initdb,
                    "-D",
                    str(self.datadir),
                    "-U",
                    "postgres",
                    "--auth=trust",
                    "-E",
                    "UTF8",
                    "--locale=C",
                ),
                capture_output=True,
            )
            if result.returncode != 0:
                raise PostgresUnavailable(f"initdb failed: {result.stderr.decode()[-500:]}")
        log = open(self.root / "server.log", "ab")  # noqa: SIM115 - lives with the server
        self.process = subprocess.Popen(
            self._command(
                self.postgres,
                "-D",
                str(self.datadir),
                "-p",
                str(self.port),
                "-k",
                str(self.root),
                "-c",
                "listen_addresses=127.0.0.1",
                "-c",
                f"fsync={'on' if self.fsync else 'off'}",
                "-c",
                "max_connections=200",
            ),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        self.wait_ready()

    def wait_ready(self, timeout_s: float = 30.0) -> None:
        import psycopg

        deadline = time.monotonic() + timeout_s
        while True:
            try:
                with psycopg.connect(
                    f"host=127.0.0.1 port={self.port} user=postgres dbname=postgres",
                    connect_timeout=2,
                ):
                    return
            except psycopg.OperationalError as exc:
                if self.process is not None and self.process.poll() is not None:
                    tail = (self.root / "server.log").read_text(errors="replace")[-800:]
                    raise PostgresUnavailable(f"postgres exited at start: {tail}") from exc
                if time.monotonic() > deadline:
                    raise PostgresUnavailable(
                        f"postgres did not accept connections: {exc}"
                    ) from exc
                time.sleep(0.1)

    def stop(self) -> None:
        """Stop the server process and wait for it; the data stays.

        As root the process is ``runuser``, which ends its child hard a moment after
        a SIGTERM: backends may be left behind serving their open connections. For
        a real shutdown (and a restart on the same data) use :meth:`fast_shutdown`.
        """
        if self.process is None:
            return
        self.process.terminate()
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.process = None

    def fast_shutdown(self) -> None:
        """What ``pg_ctl stop -m fast`` does: SIGINT to the postmaster itself, which ends
        every session and then itself; waits until it is gone (the data stays)."""
        if self.process is None:
            return
        pid_file = self.datadir / "postmaster.pid"
        try:
            os.kill(int(pid_file.read_text().split()[0]), signal.SIGINT)
        except (FileNotFoundError, ProcessLookupError, ValueError, IndexError):
            self.process.terminate()
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        deadline = time.monotonic() + 30
        while pid_file.exists() and time.monotonic() < deadline:
            time.sleep(0.1)  # the postmaster removes it as its very last step
        self.process = None

    def execute(self, sql: str) -> None:
        import psycopg

        with psycopg.connect(
            f"host=127.0.0.1 port={self.port} user=postgres dbname=postgres", autocommit=True
        ) as conn:
            conn.execute(sql)  # type: ignore[arg-type]

    def destroy(self) -> None:
        self.fast_shutdown()  # no backend left behind
        shutil.rmtree(self.root, ignore_errors=True)

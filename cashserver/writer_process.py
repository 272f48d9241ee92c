"""The writer side in its own process, and its supervision from the front.

``cashserver serve`` (with ``[server] processes = 2``, the default) is two
processes: the main one runs the front (the listeners) and watches the writer
child, which runs :class:`~cashserver.writer.Writer`'s stages. Only the main
process talks to systemd, so there is one READY and one watchdog.

- The child is a fresh interpreter (``python -m cashserver.writer_process``, no
  copy of the front's threads, and no multiprocessing helper process beside it),
  given one end of a Unix socket pair: the verdict channel, spoken with
  :mod:`multiprocessing.connection`. The first message on it is the configuration.
- It dies with its parent even when the parent is SIGKILLed: it asks the kernel
  for SIGKILL when its parent goes (``PR_SET_PDEATHSIG``), checks that the
  parent is still the one that started it (it may have gone before the request),
  and stops when the channel ends. It ignores SIGTERM and SIGINT: the front
  decides when it stops (systemd, a terminal's Ctrl-C signal the whole group).
- It answers ``("ready", pid)`` once its stages are up, or ``("failed", text)``
  (a start-up error such as a bad database URL or a taken HTTP port), which the
  front turns into exit code 2.
- A child that dies later is restarted from the front's main loop
  (``writer.died``, ``writer.restarted``); more than :data:`MAX_DEATHS` deaths
  within :data:`DEATH_WINDOW_S` end the daemon with exit code 1
  (``writer.gave_up``), so that systemd restarts the whole service.
- Stop: the front sends ``("stop", deadline)`` with the one grace deadline (on
  the monotonic clock, which both processes share), waits for the child until
  then, and SIGKILLs it if it is still there. Nothing in ``incoming/`` is lost by
  a kill: the next start loads it.
"""

from __future__ import annotations

import ctypes
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import deque
from multiprocessing.connection import Connection
from typing import Any

from cashserver.config import Config
from cashserver.domain import UploadResult
from cashserver.front import WriterLink
from cashserver.lifecycle import Deadline, Stages, StartupError
from cashserver.log import Journal, configure_logging, get_logger, set_journal, set_node_name
from cashserver.metrics import count_upload
from cashserver.tuning import collect_on_tick, limit_malloc_arenas, manual_gc

log = get_logger(__name__)

PR_SET_PDEATHSIG = 1
START_TIMEOUT_S = 120.0
"""Migrations run in the child at start; a big one may take a while."""
MAX_DEATHS = 5
DEATH_WINDOW_S = 60.0
POLL_S = 0.1
TICK_S = 1.0
STATUS_STALE_S = 5.0
"""A front status older than this means the front is not reporting."""
EXIT_STARTUP = 2


# -- the child ------------------------------------------------------------------------


def die_with_parent(parent_pid: int) -> None:
    """Have the kernel SIGKILL this process when its parent dies (Linux), and exit now
    if the parent is already gone."""
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):
        pass  # not Linux: the closed channel still ends the child
    if os.getppid() != parent_pid:
        os._exit(1)


def writer_main(argv: list[str]) -> None:
    """The writer process (``argv``: the channel's file descriptor, the parent's pid):
    runs until the front says stop or the channel ends."""
    die_with_parent(int(argv[1]))
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    conn = Connection(int(argv[0]))
    config: Config = conn.recv()
    for name in ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID"):
        os.environ.pop(name, None)  # only the main process talks to systemd
    limit_malloc_arenas()
    configure_logging(log_format=config.server.log_format)
    set_node_name(config.cluster.node_name)
    sys.exit(WriterRun(config, conn).run())


class _RemoteVerdict:
    """A verdict that goes back to the front as a message."""

    __slots__ = ("name", "run")

    def __init__(self, run: WriterRun, name: str) -> None:
        self.run = run
        self.name = name

    def resolve(self, result: UploadResult) -> None:
        self.run.send(("verdict", self.name, result))


class WriterRun:
    """The writer process's life: start the stages, serve the channel, stop."""

    def __init__(self, config: Config, conn: Connection) -> None:
        # Imported here: the front imports this module for WriterProcess and must not
        # load the writer side's modules (the scheduler, the exporter, the jobs).
        from cashserver.writer import Writer

        self.config = config
        self.conn = conn
        self.journal = Journal()
        self.writer = Writer(config, self.journal, admission=False)
        self.writer.front_problems = self.front_problems
        self.stages = Stages(self.writer.stages())
        self._send_lock = threading.Lock()
        self._front: dict[str, str] = {}
        self._front_at = 0.0

    def send(self, message: tuple[Any, ...]) -> None:
        try:
            with self._send_lock:
                self.conn.send(message)
        except (OSError, ValueError):
            pass  # the front is gone or the channel broke: it answers QUEUED

    def front_problems(self) -> dict[str, str]:
        """What the front last reported keeping it from taking uploads."""
        if time.monotonic() - self._front_at > STATUS_STALE_S:
            return {"front": "not reporting"}
        return dict(self._front)

    def run(self) -> int:
        set_journal(self.journal)
        try:
            self.stages.start()
        except Exception as exc:
            text = str(exc) if isinstance(exc, StartupError) else f"writer: {exc!r}"
            # Not logged here: the front prints it as the one line naming the fault.
            self.send(("failed", text))
            self.stages.stop(Deadline.after(1.0))
            return EXIT_STARTUP
        manual_gc()
        log.info("writer.ready", pid=os.getpid())
        self.send(("ready", os.getpid()))
        deadline = self.serve()
        self.stages.stop(deadline)
        log.info("writer.stopped", left_in_incoming=len(self.writer.spool.incoming()))
        self.writer.flush_journal()
        set_journal(None)
        return 0

    def serve(self) -> Deadline:
        """Take the front's messages until it says stop (or goes); returns the deadline."""
        incoming = self.writer.spool.folder("incoming")
        ticks = 0
        next_tick = time.monotonic() + TICK_S
        while True:
            try:
                ready = self.conn.poll(POLL_S)
                message = self.conn.recv() if ready else None
            except (EOFError, OSError):
                log.warning("writer.channel_lost")
                return Deadline.after(FRONT_GONE_GRACE_S)
            if message is not None:
                kind = message[0]
                if kind == "spooled":
                    self.writer.loader.enqueue(
                        incoming / message[1], _RemoteVerdict(self, message[1])
                    )
                elif kind == "upload":  # counted by the front, served here at /metrics
                    count_upload(message[1], message[2])
                elif kind == "events":
                    self.journal.extend(message[1])
                elif kind == "status":
                    self._front, self._front_at = message[1], time.monotonic()
                elif kind == "stop":
                    return Deadline(message[1])
            if time.monotonic() >= next_tick:
                next_tick += TICK_S
                ticks += 1
                collect_on_tick(ticks)
                loader = self.writer.loader
                self.send(("health", loader.stalled_s(), loader.queued, loader.unavailable))


FRONT_GONE_GRACE_S = 5.0
"""With the front gone, finish the batch in hand (the rest waits in incoming/)."""


# -- the front's side ---------------------------------------------------------------------


class WriterProcess:
    """Starts the writer child, restarts it when it dies, stops it within the deadline.

    :meth:`start` and :meth:`watch` must run on the main thread: the kernel's
    parent-death signal follows the thread that started the child.
    """

    def __init__(self, config: Config, link: WriterLink) -> None:
        self.config = config
        self.link = link
        self.process: subprocess.Popen[bytes] | None = None
        self.deaths: deque[float] = deque()
        self.gave_up = False
        self._stopping = False

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process is not None else None

    def start(self) -> None:
        """Start the child and wait for it to be ready; raises StartupError if it fails."""
        ours_socket, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        ours = Connection(ours_socket.detach())
        with theirs:
            process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "cashserver.writer_process",
                    str(theirs.fileno()),
                    str(os.getpid()),
                ],
                pass_fds=[theirs.fileno()],
            )
        try:
            ours.send(self.config)
            self._await_ready(process, ours)
        except BaseException as exc:
            ours.close()
            if process.poll() is None:
                process.kill()
            process.wait(5)
            if isinstance(exc, OSError | EOFError):  # it died before it read its config
                raise StartupError(f"writer process lost at start: {exc}") from exc
            raise
        self.process = process
        self.link.attach(ours)
        log.info("writer.started", pid=process.pid)

    def _await_ready(self, process: subprocess.Popen[bytes], conn: Connection) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            try:
                message = conn.recv() if conn.poll(POLL_S) else None
            except (EOFError, OSError):
                message = None
                process.wait(5)
            if message is not None and message[0] == "ready":
                return
            if message is not None and message[0] == "failed":
                raise StartupError(message[1])
            if process.poll() is not None:
                raise StartupError(f"writer process exited with {process.returncode} at start")
        raise StartupError(f"writer process not ready within {START_TIMEOUT_S:.0f} s")

    def watch(self) -> None:
        """On the main loop's tick: replace a writer that died or lost its channel."""
        process = self.process
        if self._stopping or self.gave_up or process is None:
            return
        alive = process.poll() is None
        if alive and not self.link.lost:
            return
        if alive:  # the channel broke under a live writer: replace both
            process.kill()
        process.wait(5)
        self.link.detach()
        log.error("writer.died", pid=process.pid, exitcode=process.returncode)
        self.process = None
        now = time.monotonic()
        self.deaths.append(now)
        while self.deaths and now - self.deaths[0] > DEATH_WINDOW_S:
            self.deaths.popleft()
        if len(self.deaths) > MAX_DEATHS:
            log.error("writer.gave_up", deaths=len(self.deaths), window_s=DEATH_WINDOW_S)
            self.gave_up = True
            return
        try:
            self.start()
        except StartupError as exc:
            log.error("writer.restart_failed", error=str(exc))
            self.process = process  # dead: the next tick counts it and tries again
            return
        log.info("writer.restarted", pid=self.pid, deaths=len(self.deaths))

    def stop(self, deadline: Deadline) -> None:
        """Ask the writer to finish within ``deadline``; kill it if it has not by then."""
        self._stopping = True
        process = self.process
        if process is None:
            return
        self.link.closing()
        self.link.send(("stop", deadline.at))
        if not deadline.wait_for(lambda: process.poll() is not None):
            log.warning("writer.killed", pid=process.pid, reason="grace period over")
            process.kill()
        process.wait(5)
        self.link.detach()
        log.info("writer.exited", pid=process.pid, exitcode=process.returncode)


if __name__ == "__main__":
    writer_main(sys.argv[1:])

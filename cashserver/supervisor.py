"""The front's supervision of the writer child: start, restart when it dies, stop.

``cashserver serve`` (with ``[server] processes = 2``, the default) is two
processes: the main one runs the front (the listeners) and watches the writer
child (:mod:`cashserver.writer.child`), which runs the writer side's stages. Only
the main process talks to systemd, so there is one READY and one watchdog.

- The child is a fresh interpreter (``python -m cashserver.writer.child``), given
  one end of a Unix socket pair: the verdict channel, spoken with
  :mod:`multiprocessing.connection`. The first message on it is the configuration.
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

This module imports nothing of the writer side: the front never loads it.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections import deque
from multiprocessing.connection import Connection

from cashserver.config import Config
from cashserver.front.link import WriterLink
from cashserver.lifecycle import Deadline, StartupError
from cashserver.log import get_logger

log = get_logger(__name__)

START_TIMEOUT_S = 120.0
"""Migrations run in the child at start; a big one may take a while."""
MAX_DEATHS = 5
DEATH_WINDOW_S = 60.0
POLL_S = 0.1


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
                    "cashserver.writer.child",
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

"""The writer side as the daemon sees it, and the supervision of the writer child.

``cashserver serve`` (with ``[server] processes = 2``, the default) is two
processes: the main one runs the front (the listeners) and watches the writer
child (:mod:`cashserver.writer.child`), which runs the writer side's stages. Only
the main process talks to systemd, so there is one READY and one watchdog.

- The child is a fresh interpreter (``python -m cashserver.writer.child``), given
  one end of a Unix socket pair: the verdict channel, spoken with
  :mod:`multiprocessing.connection`. The first message on it is the configuration.
- It answers ``Ready`` once its stages are up (after the registers directory as it
  loaded it, ``DirectoryChanged``), or ``Failed``
  (a start-up error such as a bad database URL or a taken HTTP port), which the
  front turns into exit code 2.
- A child that dies later is restarted from the front's main loop
  (``writer.died``, ``writer.restarted``); more than :data:`MAX_DEATHS` deaths
  within :data:`DEATH_WINDOW_S` end the daemon with exit code 1
  (``writer.gave_up``), so that systemd restarts the whole service.
- Stop: the front sends ``Stop`` with the one grace deadline (on
  the monotonic clock, which both processes share), waits for the child until
  then, and SIGKILLs it if it is still there. Nothing in ``incoming/`` is lost by
  a kill: the next start loads it.

The daemon sees either arrangement through one interface, :class:`WriterSide`:
:class:`InProcessWriter` (``processes = 1``) or :class:`ChildWriter`. This module
imports nothing of the writer side at its top: with a child, the front never loads it.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections import deque
from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import Protocol

from cashserver.config import Config
from cashserver.front.admission import Admission
from cashserver.front.link import WriterLink
from cashserver.lifecycle import Deadline, Stage, StartupError
from cashserver.log import Journal, get_logger
from cashserver.metrics import forward_uploads
from cashserver.spool import Spool
from cashserver.verdict import (
    Configure,
    Failed,
    FrontEvents,
    FrontStatus,
    Ready,
    Sightings,
    Stop,
    Submitter,
    UploadCounted,
    encode,
    read_to_front,
)

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
            ours.send_bytes(encode(Configure(self.config)))
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
                message = read_to_front(conn.recv_bytes()) if conn.poll(POLL_S) else None
            except (EOFError, OSError):
                message = None
                process.wait(5)
            match message:
                case Ready():
                    return
                case Failed(text):
                    raise StartupError(text)
                case None:
                    pass
                case _:  # the directory as the writer loaded it, before Ready
                    self.link.take(message)
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
        self.link.send(Stop(deadline.at))
        if not deadline.wait_for(lambda: process.poll() is not None):
            log.warning("writer.killed", pid=process.pid, reason="grace period over")
            process.kill()
        process.wait(5)
        self.link.detach()
        log.info("writer.exited", pid=process.pid, exitcode=process.returncode)


# -- the writer side as the daemon sees it ----------------------------------------------


class WriterSide(Protocol):
    """The writer side, in this process or in a child: what the daemon asks of it."""

    @property
    def pid(self) -> int | None:
        """The writer's process (this one's pid when it runs here)."""

    @property
    def gave_up(self) -> bool:
        """The writer kept dying: the daemon must end (exit code 1)."""

    def stages(self) -> list[Stage]:
        """Its start-up stages, in order (stopped in reverse)."""

    def submitter(self) -> Submitter:
        """Where the accept path hands uploads (once the stages are up)."""

    def stalled_s(self) -> float:
        """How long the loader has not turned (for the watchdog)."""

    def queued(self) -> int:
        """Sales files waiting to be loaded."""

    def in_flight(self) -> dict[str, int]:
        """What is still in hand at stop, for ``daemon.stopping``."""

    def tick(self) -> None:
        """Once a second on the main thread: the front's news handed over, the child watched."""


class InProcessWriter:
    """The writer side's stages in this process (``[server] processes = 1``)."""

    def __init__(
        self,
        config: Config,
        journal: Journal,
        admission: Admission,
        front_problems: Callable[[], dict[str, str]],
    ) -> None:
        # Imported here: with a writer child the front never loads the writer side.
        from cashserver.writer.side import Writer

        self.writer = Writer(config, journal, admission)
        self.writer.front_problems = front_problems
        self.gave_up = False

    @property
    def pid(self) -> int | None:
        return os.getpid()

    def stages(self) -> list[Stage]:
        return self.writer.stages()

    def submitter(self) -> Submitter:
        return self.writer.loader

    def stalled_s(self) -> float:
        return self.writer.loader.stalled_s()

    def queued(self) -> int:
        return self.writer.loader.queued

    def in_flight(self) -> dict[str, int]:
        return {"queued": self.writer.loader.queued} if self.writer.built else {}

    def tick(self) -> None:
        """Nothing to hand over: the writer's own threads read the admission and journal."""


class ChildWriter:
    """The writer side in a child process (``[server] processes = 2``), over the channel.

    Once a second (:meth:`tick`) the front hands over what it gathered: its journal's
    events, what keeps it from taking uploads, and the registers it saw; the child
    sends back verdicts, its health and the registers directory (into ``admission``).
    """

    def __init__(
        self,
        config: Config,
        journal: Journal,
        admission: Admission,
        front_problems: Callable[[], dict[str, str]],
    ) -> None:
        self.journal = journal
        self.admission = admission
        self.front_problems = front_problems
        self.link = WriterLink(Spool(config.spool_dir), on_directory=admission.replace)
        self.process = WriterProcess(config, self.link)

    @property
    def pid(self) -> int | None:
        return self.process.pid

    @property
    def gave_up(self) -> bool:
        return self.process.gave_up

    def stages(self) -> list[Stage]:
        return [Stage("writer_process", self._start, self._stop)]

    def _start(self) -> None:
        forward_uploads(self._forward_upload)
        self.process.start()

    def _forward_upload(self, protocol: str, status: str) -> None:
        self.link.send(UploadCounted(protocol, status))

    def _stop(self, deadline: Deadline) -> None:
        self.hand_over()
        self.process.stop(deadline)
        forward_uploads(None)

    def submitter(self) -> Submitter:
        return self.link

    def stalled_s(self) -> float:
        return self.link.writer_stalled_s()

    def queued(self) -> int:
        return self.link.writer_queued

    def in_flight(self) -> dict[str, int]:
        return {"waiting": self.link.waiting}

    def tick(self) -> None:
        self.process.watch()
        self.hand_over()

    def hand_over(self) -> None:
        """Send the front's events, status and sightings; kept for later if the channel is
        down (the events and sightings; the status is sent fresh each time)."""
        events = self.journal.drain()
        if events and not self.link.send(FrontEvents(events)):
            self.journal.put_back(events)
        seen = self.admission.take_sightings()
        if seen and not self.link.send(Sightings.of(seen)):
            self.admission.restore(seen)
        self.link.send(FrontStatus(self.front_problems()))

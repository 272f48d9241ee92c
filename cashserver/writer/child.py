"""The writer side in its own process: the child's main.

Started by :mod:`cashserver.supervisor` as ``python -m cashserver.writer.child``
with one end of the verdict channel and the parent's pid; runs
:class:`~cashserver.writer.side.Writer`'s stages until the front says stop.

- It dies with its parent even when the parent is SIGKILLed: it asks the kernel
  for SIGKILL when its parent goes (``PR_SET_PDEATHSIG``), checks that the
  parent is still the one that started it (it may have gone before the request),
  and stops when the channel ends. It ignores SIGTERM and SIGINT: the front
  decides when it stops (systemd, a terminal's Ctrl-C signal the whole group).
- It answers ``("ready", pid)`` once its stages are up, or ``("failed", text)``
  for a start-up error; then it serves the channel (see :class:`WriterRun`).
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
import threading
import time
from multiprocessing.connection import Connection
from typing import Any

from cashserver.config import Config
from cashserver.domain import UploadResult
from cashserver.lifecycle import Deadline, Stages, StartupError
from cashserver.log import Journal, configure_logging, get_logger, set_journal, set_node_name
from cashserver.metrics import count_upload
from cashserver.tuning import collect_on_tick, limit_malloc_arenas, manual_gc
from cashserver.writer.side import Writer

log = get_logger(__name__)

PR_SET_PDEATHSIG = 1
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


if __name__ == "__main__":
    writer_main(sys.argv[1:])

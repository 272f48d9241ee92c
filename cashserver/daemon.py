"""The lifecycle of ``cashserver serve``: one object that starts and stops everything.

:class:`Daemon` follows uvicorn's shape: ``startup()`` / ``main_loop()`` /
``shutdown()``, with the signals captured around them.

- ``__init__`` only records what to do; nothing is opened, bound or read.
- ``startup()`` starts the stages in order: the writer side's (store and
  migrations, the registers directory, journal, exporter, loader, jobs; see
  :mod:`cashserver.writer.side`), in this process or in a child, behind one
  interface (:class:`cashserver.supervisor.WriterSide`); then the front (the
  ingest service and the listeners), then tells systemd READY.
  A failure to start (a port taken, a bad database URL) raises
  :class:`StartupError`, which the CLI turns into exit code 2.
- ``main_loop()`` polls the stop flags and, once a second, collects garbage and
  pings the watchdog.
- ``shutdown()`` stops the started stages in reverse, all within one grace
  deadline (:data:`GRACE_S`, inside the unit's ``TimeoutStopSec``): listeners stop
  taking uploads and answer those in flight, the loader finishes what it holds,
  the exporter writes what is queued, the journal is flushed. The signal handler
  only sets flags: the first SIGTERM or SIGINT asks for this graceful stop, a
  second one makes every remaining wait of it end at once.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Protocol

from cashserver.config import Config
from cashserver.config_values import database_url_for_log
from cashserver.front.admission import Admission
from cashserver.front.ingest import Ingest
from cashserver.http.server import open_listen_refusal
from cashserver.lifecycle import (
    Deadline,
    Stage,
    Stages,
    StartupError,
    StopFlags,
    captured_signals,
)
from cashserver.log import Journal, get_logger, set_journal
from cashserver.rpc.tls_log import StderrTap
from cashserver.serve_lock import ServeLock
from cashserver.supervisor import ChildWriter, InProcessWriter, WriterSide
from cashserver.systemd import Notifier
from cashserver.tuning import collect_on_tick, limit_malloc_arenas, manual_gc
from cashserver.watchdog import Watchdog, stall_limit_s

__all__ = ["GRACE_S", "Daemon", "Listener", "ListenerFactory", "StartupError"]

log = get_logger(__name__)

TICK_S = 1.0
POLL_S = 0.1
"""How often the main loop looks at the stop flags."""
GRACE_S = 20.0
"""The whole stop, every stage together; systemd's TimeoutStopSec (40 s) leaves room."""
FAILED_START_GRACE_S = 1.0
EXIT_WRITER_GAVE_UP = 1


class Listener(Protocol):
    """A transport: binds at start, refuses new work and winds down at stop."""

    name: str

    def start(self) -> None: ...

    def stop(self, grace_s: float) -> None: ...

    def alive(self) -> bool:
        """Serving: started, and not stopped or failed since."""
        ...


ListenerFactory = Callable[["Daemon"], Listener]


def default_listeners(config: Config) -> list[ListenerFactory]:
    """The transports the configuration turns on."""
    factories: list[ListenerFactory] = []
    if config.grpc.listen:
        from cashserver.rpc.grpc_server import GrpcListener

        factories.append(lambda daemon: GrpcListener(daemon.config, daemon.ingest))
    if config.thrift.listen:
        from cashserver.rpc.thrift_server import ThriftListener

        factories.append(lambda daemon: ThriftListener(daemon.config, daemon.ingest))
    return factories


def listener_stage(listener: Listener) -> Stage:
    """A listener as a stage: a failure to bind is a start-up error."""

    def start() -> None:
        try:
            listener.start()
        except OSError as exc:
            raise StartupError(str(exc)) from exc

    return Stage(listener.name, start, lambda deadline: listener.stop(deadline.remaining()))


class Daemon:
    ingest: Ingest

    def __init__(
        self,
        config: Config,
        listeners: Sequence[ListenerFactory] = (),
        environ: Mapping[str, str] | None = None,
    ) -> None:
        self.config = config
        self.flags = StopFlags()
        self.notifier = Notifier(os.environ if environ is None else environ)
        self.journal = Journal()
        self.listeners: list[Listener] = []
        self._listener_factories = listeners
        self._tap: StderrTap | None = None
        self.serve_lock = ServeLock(config.data_dir)
        self.exit_code = 0
        self.admission = Admission(config.registers.auto_register)
        """The registers directory in memory, given by the writer side."""
        side = InProcessWriter if config.server.processes == 1 else ChildWriter
        self.writer: WriterSide = side(config, self.journal, self.admission, self.front_problems)
        self.stages = Stages(
            [
                Stage("journal", lambda: set_journal(self.journal), self._stop_journal),
                Stage("tls_tap", self._start_tap, self._stop_tap),
                Stage("serve_lock", self._take_serve_lock, self._release_serve_lock),
                *self.writer.stages(),
                Stage("ingest", self._start_ingest),
                Stage("listeners", self._start_listeners),
                Stage("gc", manual_gc),
            ]
        )

    # -- start -------------------------------------------------------------------

    def startup(self) -> None:
        limit_malloc_arenas()  # before any thread starts
        self.stages.start()
        log.info(
            "daemon.started",
            pid=os.getpid(),
            writer_pid=self.writer.pid,
            data_dir=str(self.config.data_dir),
            database=database_url_for_log(self.config.database_url),
            listeners=[listener.name for listener in self.listeners],
        )
        self.writer.tick()
        self.notifier.ready()

    def _start_tap(self) -> None:
        if self.config.grpc.tls_cert and self.config.grpc.listen:
            self._tap = StderrTap()
            self._tap.start()

    def _stop_tap(self, _deadline: Deadline) -> None:
        if self._tap is not None:
            self._tap.stop()
            self._tap = None

    def _take_serve_lock(self) -> None:
        # Tells the command line to hand its writes to this daemon (see serve_lock.py).
        try:
            self.serve_lock.acquire_for_serve()
        except RuntimeError as exc:
            raise StartupError(str(exc)) from exc

    def _release_serve_lock(self, _deadline: Deadline) -> None:
        self.serve_lock.release()

    def _start_ingest(self) -> None:
        self.ingest = Ingest(self.config, self.writer.submitter(), self.admission)

    def _start_listeners(self) -> None:
        # Each listener is its own stage, so one that fails to bind stops the others.
        for factory in self._listener_factories:
            listener = factory(self)
            stage = listener_stage(listener)
            stage.start()
            self.listeners.append(listener)
            self.stages.started.append(stage)

    def _stop_journal(self, _deadline: Deadline) -> None:
        set_journal(None)

    # -- what the front tells the writer side ---------------------------------------

    def front_problems(self) -> dict[str, str]:
        """What keeps the front from taking uploads, by name (for /readyz)."""
        problems: dict[str, str] = {}
        if self.flags.should_exit:
            problems["daemon"] = "stopping"
        for listener in self.listeners:
            if not listener.alive():
                problems[listener.name] = "listener down"
        return problems

    # -- run and stop ------------------------------------------------------------

    def main_loop(self) -> None:
        """Wait for a stop request; on each tick collect garbage and tell systemd how we
        are (the watchdog ping only while the loader is alive, see :mod:`cashserver.watchdog`)."""
        watchdog = Watchdog(
            self.notifier.notify,
            self.writer.stalled_s,
            self.writer.queued,
            ping=self.notifier.watchdog_enabled,
            stall_limit_s=stall_limit_s(self.notifier.watchdog_s),
        )
        ticks = 0
        next_tick = time.monotonic() + TICK_S
        while not self.flags.should_exit:
            time.sleep(POLL_S)
            if time.monotonic() >= next_tick:
                next_tick += TICK_S
                ticks += 1
                self.tick(ticks)
                watchdog.tick(ticks)
                if self.writer.gave_up:
                    self.exit_code = EXIT_WRITER_GAVE_UP
                    return

    def tick(self, ticks: int) -> None:
        """Once a second: the writer side's turn (the child watched, the front's news
        handed over), garbage collected."""
        self.writer.tick()
        collect_on_tick(ticks)

    def request_stop(self) -> None:
        self.flags.should_exit = True

    def deadline(self, grace_s: float = GRACE_S) -> Deadline:
        """A grace deadline from now that ends at once when a second signal forces exit."""
        return Deadline.after(grace_s, forced=lambda: self.flags.force_exit)

    def shutdown(self, deadline: Deadline | None = None) -> None:
        deadline = deadline or self.deadline()
        self.notifier.stopping()
        if self.flags.signals:
            log.info("daemon.signal", signal=signal.Signals(self.flags.signals[0]).name)
        log.info("daemon.stopping", **self.writer.in_flight())
        self.stages.stop(deadline)
        if self.flags.force_exit:
            log.warning("daemon.forced_exit")
        log.info("daemon.stopped")

    def run(self) -> int:
        """Start, serve until asked to stop, stop; returns the exit code (0, or
        :data:`EXIT_WRITER_GAVE_UP` when the writer process kept dying)."""
        refusal = open_listen_refusal(self.config)
        if refusal:  # before anything starts, so that the operator sees this one line
            raise StartupError(refusal)
        with captured_signals(self.flags):
            try:
                self.startup()
            except BaseException:
                self.shutdown(self.deadline(FAILED_START_GRACE_S))
                raise
            try:
                self.main_loop()
            finally:
                self.shutdown()
        return self.exit_code

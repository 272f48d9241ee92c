"""The lifecycle of ``cashserver serve``: one object that starts and stops everything.

:class:`Daemon` follows uvicorn's shape: ``startup()`` / ``main_loop()`` /
``shutdown()``, with the signals captured around them.

- ``__init__`` only records what to do; nothing is opened, bound or read.
- ``startup()`` starts the stages in order: the writer side's (store and
  migrations, journal, exporter, loader, jobs; see :mod:`cashserver.writer`),
  then the front (the ingest service and the listeners), then tells systemd READY.
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
from typing import TYPE_CHECKING, Protocol

from sqlalchemy.engine import make_url

from cashserver.admission import Admission
from cashserver.config import Config
from cashserver.front import WriterLink
from cashserver.http.server import open_listen_refusal
from cashserver.ingest import Ingest
from cashserver.lifecycle import (
    Deadline,
    Stage,
    Stages,
    StartupError,
    StopFlags,
    captured_signals,
)
from cashserver.log import Journal, get_logger, set_journal
from cashserver.metrics import forward_uploads
from cashserver.pull.handoff import ServeLock
from cashserver.rpc.tls_log import StderrTap
from cashserver.spool import Spool
from cashserver.store.engine import READER_CACHE_KIB, normalize_url, open_engine
from cashserver.store.registers import Registers
from cashserver.systemd import Notifier
from cashserver.tuning import collect_on_tick, limit_malloc_arenas, manual_gc
from cashserver.watchdog import Watchdog, stall_limit_s
from cashserver.writer_process import WriterProcess

if TYPE_CHECKING:
    from cashserver.writer import Writer

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
    admission: Admission

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
        self.writer: Writer | None = None
        """The writer side, when it runs in this process (``[server] processes = 1``)."""
        self.writer_process: WriterProcess | None = None
        """The writer side's child process and its supervision (``processes = 2``)."""
        self.link: WriterLink | None = None
        self.stages = Stages(
            [
                Stage("journal", lambda: set_journal(self.journal), self._stop_journal),
                Stage("tls_tap", self._start_tap, self._stop_tap),
                Stage("serve_lock", self._take_serve_lock, self._release_serve_lock),
                *self._writer_stages(),
                Stage("ingest", self._start_ingest),
                Stage("listeners", self._start_listeners),
                Stage("gc", manual_gc),
            ]
        )

    def _writer_stages(self) -> list[Stage]:
        """The writer side: its stages here, or one stage that runs them in a child."""
        if self.config.server.processes == 1:
            # Only here: with a writer process, the front never loads the writer side.
            from cashserver.writer import Writer

            self.writer = Writer(self.config, self.journal, admission=True)
            self.writer.front_problems = self.front_problems
            return self.writer.stages()
        return [
            Stage("writer_process", self._start_writer_process, self._stop_writer_process),
            Stage("directory", self._open_directory, self._close_directory),
        ]

    # -- start -------------------------------------------------------------------

    def startup(self) -> None:
        limit_malloc_arenas()  # before any thread starts
        self.stages.start()
        log.info(
            "daemon.started",
            pid=os.getpid(),
            writer_pid=self.writer_process.pid if self.writer_process else os.getpid(),
            data_dir=str(self.config.data_dir),
            database=make_url(normalize_url(self.config.database_url)).render_as_string(
                hide_password=True
            ),
            listeners=[listener.name for listener in self.listeners],
        )
        self.report_to_writer()
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
        # Tells ``cashserver pull`` to hand its shifts to this daemon (see pull/handoff.py).
        try:
            self.serve_lock.acquire_for_serve()
        except RuntimeError as exc:
            raise StartupError(str(exc)) from exc

    def _release_serve_lock(self, _deadline: Deadline) -> None:
        self.serve_lock.release()

    def _start_writer_process(self) -> None:
        self.link = WriterLink(Spool(self.config.spool_dir))
        forward_uploads(self._forward_upload)
        self.writer_process = WriterProcess(self.config, self.link)
        self.writer_process.start()

    def _forward_upload(self, protocol: str, status: str) -> None:
        if self.link is not None:
            self.link.send(("upload", protocol, status))

    def _stop_writer_process(self, deadline: Deadline) -> None:
        assert self.writer_process is not None
        self.forward_journal()
        self.writer_process.stop(deadline)
        forward_uploads(None)

    def _open_directory(self) -> None:
        # The front's own registers directory in memory (the accept path's admission),
        # with its own connection for loading it and writing sightings in batches.
        self._front_engine = open_engine(
            self.config.database_url,
            self.config.cluster.node_name,
            sqlite_cache_kib=READER_CACHE_KIB,
        )
        self.admission = Admission(
            Registers(self._front_engine),
            self.config.registers.auto_register,
            max_clock_skew_s=self.config.registers.max_clock_skew_s,
        )
        try:
            self.admission.load()
        except Exception as exc:
            raise StartupError(
                f"server.database_url: cannot open {self._front_engine.url!r}: {exc}".splitlines()[
                    0
                ]
            ) from exc
        self.admission.start()

    def _close_directory(self, deadline: Deadline) -> None:
        self.admission.stop(min(deadline.remaining(), 5.0))
        self._front_engine.dispose()

    def _start_ingest(self) -> None:
        if self.writer is not None:
            self.ingest = Ingest(self.config, self.writer.loader, self.writer.admission)
        else:
            assert self.link is not None
            self.ingest = Ingest(self.config, self.link, self.admission)

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
            alive = getattr(listener, "alive", None)
            down = not alive() if callable(alive) else getattr(listener, "server", True) is None
            if down:
                problems[listener.name] = "listener down"
        return problems

    def forward_journal(self) -> None:
        """Hand the front's events to the writer process, which writes the events table."""
        if self.link is None:
            return
        pending = self.journal.drain()
        if pending and not self.link.send(("events", pending)):
            self.journal.put_back(pending)

    def report_to_writer(self) -> None:
        if self.link is not None:
            self.link.send(("status", self.front_problems()))

    # -- run and stop ------------------------------------------------------------

    def main_loop(self) -> None:
        """Wait for a stop request; on each tick collect garbage and tell systemd how we
        are (the watchdog ping only while the loader is alive, see :mod:`cashserver.watchdog`)."""
        watchdog = Watchdog(
            self.notifier.notify,
            self._loader_stalled_s,
            self._spool_depth,
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
                if self.writer_process is not None and self.writer_process.gave_up:
                    self.exit_code = EXIT_WRITER_GAVE_UP
                    return

    def tick(self, ticks: int) -> None:
        """Once a second: the writer child watched, the front's news sent to it,
        garbage collected, the watchdog pinged."""
        if self.writer_process is not None:
            self.writer_process.watch()
            self.forward_journal()
            self.report_to_writer()
        collect_on_tick(ticks)

    def _loader_stalled_s(self) -> float:
        if self.writer is not None:
            return self.writer.loader.stalled_s()
        assert self.link is not None
        return self.link.writer_stalled_s()

    def _spool_depth(self) -> int:
        if self.writer is not None:
            return self.writer.loader.queued
        assert self.link is not None
        return self.link.writer_queued

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
        log.info("daemon.stopping", **self._in_flight())
        self.stages.stop(deadline)
        if self.flags.force_exit:
            log.warning("daemon.forced_exit")
        log.info("daemon.stopped")

    def _in_flight(self) -> dict[str, int]:
        if self.writer is not None and hasattr(self.writer, "loader"):
            return {"queued": self.writer.loader.queued}
        if self.link is not None:
            return {"waiting": self.link.waiting}
        return {}

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

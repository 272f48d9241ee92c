"""The lifecycle of ``cashserver serve``: one object that starts and stops everything.

Start: open the store and migrate, start the loader (which resumes ``incoming/``),
bind the listeners, start the scheduled jobs, tell systemd READY. Stop (first
SIGTERM or SIGINT): stop taking uploads, let the loader finish what it holds within
the grace period, stop the jobs, flush the event journal. A second SIGINT or
SIGTERM exits at once. A failure to start (a port taken, a bad database URL)
raises :class:`StartupError`, which the CLI turns into exit code 2.
"""

from __future__ import annotations

import ctypes
import gc
import os
import signal
import socket
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from types import FrameType
from typing import Protocol

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.interval import IntervalTrigger

from cashserver.config import Config
from cashserver.exchange.exporter import BACKLOG_INTERVAL_S, Exporter, ExportWorker
from cashserver.http.server import open_listen_refusal
from cashserver.ingest import Ingest
from cashserver.jobs.dicts import daemon_token
from cashserver.jobs.schedule import Housekeeping
from cashserver.loader import Loader
from cashserver.log import Journal, get_logger, set_journal
from cashserver.rpc.tls_log import StderrTap
from cashserver.spool import Spool
from cashserver.store.engine import open_engine, upgrade
from cashserver.store.events import Events
from cashserver.store.registers import Registers
from cashserver.store.repository import LoadOutcome, Repository
from cashserver.watchdog import Watchdog

log = get_logger(__name__)

TICK_S = 1.0
GRACE_S = 20.0


class StartupError(RuntimeError):
    """The daemon cannot start; the message is one line for the operator."""


class Listener(Protocol):
    """A transport: binds at start, refuses new work and winds down at stop."""

    name: str

    def start(self) -> None: ...

    def stop(self, grace_s: float) -> None: ...


ListenerFactory = Callable[["Daemon"], Listener]


YOUNG_GC_EVERY_TICKS = 10
FULL_GC_EVERY_TICKS = 60
M_ARENA_MAX = -8  # glibc's mallopt parameter number


def manual_gc() -> None:
    """Collect garbage on the daemon's tick instead of on allocation counts.

    An upload makes tens of thousands of small objects that the loader holds for
    a moment; Python's automatic collector, triggered by allocation counts, then
    walks them again and again and took half the loader's time. Objects made at
    start-up are frozen out of the collector's sight, the automatic collector is
    off, and :meth:`Daemon.main_loop` collects the young generations every 10
    seconds and everything every minute (cycles are rare here: reference
    counting frees nearly everything at once).
    """
    gc.freeze()
    gc.disable()


def default_listeners(config: Config) -> list[ListenerFactory]:
    """The transports the configuration turns on."""
    factories: list[ListenerFactory] = []
    if config.grpc.listen:
        from cashserver.rpc.grpc_server import GrpcListener

        factories.append(lambda daemon: GrpcListener(daemon.config, daemon.ingest))
    if config.thrift.listen:
        from cashserver.rpc.thrift_server import ThriftListener

        factories.append(lambda daemon: ThriftListener(daemon.config, daemon.ingest))
    if config.http.listen:
        factories.append(lambda daemon: daemon.http_listener())
    return factories


def sd_notify(state: str) -> None:
    """Tell systemd our state (READY=1, STOPPING=1, WATCHDOG=1) if it is listening."""
    address = os.environ.get("NOTIFY_SOCKET")
    if not address:
        return
    if address.startswith("@"):
        address = "\0" + address[1:]
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        try:
            sock.sendto(state.encode(), address)
        except OSError as exc:
            log.warning("systemd.notify_failed", error=str(exc))


class Daemon:
    def __init__(self, config: Config, listeners: Sequence[ListenerFactory] = ()) -> None:
        self.config = config
        self.journal = Journal()
        self.engine = open_engine(config.database_url)
        self.repository = Repository(self.engine)
        self.registers = Registers(self.engine)
        self.events = Events(self.engine)
        self.spool = Spool(config.spool_dir)
        self.housekeeping = Housekeeping(config, self.engine, lambda: daemon_token(config.data_dir))
        self.loaded_hooks: list[Callable[[Sequence[LoadOutcome]], None]] = []
        self.exporter = Exporter(self.engine, config)
        self.export_worker = ExportWorker(self.exporter)
        self.loaded_hooks.append(self.export_worker.shifts_loaded)
        self.loader = Loader(
            self.spool, self.repository, config.spool.batch_files, on_loaded=self._on_loaded
        )
        self.ingest = Ingest(config, self.loader, self.registers)
        self.scheduler = BackgroundScheduler(timezone=config.server.timezone)
        self._listener_factories = listeners
        self.listeners: list[Listener] = []
        self._stop = threading.Event()
        self._tap: StderrTap | None = None

    def _on_loaded(self, outcomes: Sequence[LoadOutcome]) -> None:
        for hook in self.loaded_hooks:
            hook(outcomes)

    def flush_journal(self) -> None:
        pending = self.journal.drain()
        if not pending:
            return
        try:
            self.events.write(pending)
        except Exception as exc:  # the database may be down: keep the events for later
            self.journal.put_back(pending)
            log.debug("journal.flush_failed", error=str(exc))

    # -- start -------------------------------------------------------------------

    def startup(self) -> None:
        limit_malloc_arenas()
        set_journal(self.journal)
        if self.config.grpc.tls_cert and self.config.grpc.listen:
            self._tap = StderrTap()
            self._tap.start()
        try:
            upgrade(self.engine)
        except Exception as exc:
            raise StartupError(f"database {self.engine.url!r}: {exc}".splitlines()[0]) from exc
        self.export_worker.start()
        self.loader.start()
        for factory in self._listener_factories:
            listener = factory(self)
            try:
                listener.start()
            except OSError as exc:
                raise StartupError(str(exc)) from exc
            self.listeners.append(listener)
        self._schedule()
        self.scheduler.start()
        manual_gc()
        log.info(
            "daemon.started",
            pid=os.getpid(),
            data_dir=str(self.config.data_dir),
            database=self.engine.url.render_as_string(hide_password=True),
            listeners=[listener.name for listener in self.listeners],
        )
        sd_notify("READY=1")

    def _schedule(self) -> None:
        self.housekeeping.schedule(self.scheduler)
        self.scheduler.add_job(
            self.export_worker.request_backlog,
            IntervalTrigger(seconds=BACKLOG_INTERVAL_S),
            id="export_backlog",
            coalesce=True,
        )
        self.scheduler.add_job(
            self.flush_journal, IntervalTrigger(seconds=TICK_S), id="flush_journal", coalesce=True
        )

    # -- the admin HTTP listener and what /readyz checks ---------------------------

    def http_listener(self) -> Listener:
        from cashserver.http.app import create_app
        from cashserver.http.context import HttpContext, session_secret
        from cashserver.http.server import HttpListener

        secret = session_secret(self.config.data_dir)
        assert secret is not None
        context = HttpContext(self.config, self.engine, secret, readiness=self.readiness)
        return HttpListener(self.config, create_app(context))

    def readiness(self) -> dict[str, str]:
        """What keeps the daemon from taking uploads, by name; empty when ready."""
        from cashserver.http.readiness import probe_database, probe_spool

        problems: dict[str, str] = {}
        if self._stop.is_set():
            problems["daemon"] = "stopping"
        for listener in self.listeners:
            alive = getattr(listener, "alive", None)
            down = not alive() if callable(alive) else getattr(listener, "server", True) is None
            if down:
                problems[listener.name] = "listener down"
        spool = probe_spool(self.spool.folder("incoming"))
        if spool:
            problems["spool"] = spool
        database = probe_database(self.engine)
        if database:
            problems["database"] = database
        return problems

    # -- run and stop ------------------------------------------------------------

    def main_loop(self) -> None:
        """Wait for a stop request; on each tick collect garbage and ping the watchdog."""
        watchdog = Watchdog(
            sd_notify,
            self.loader.stalled_s,
            lambda: self.loader.queued,
            ping=bool(os.environ.get("WATCHDOG_USEC")),
        )
        ticks = 0
        while not self._stop.wait(TICK_S):
            ticks += 1
            if ticks % YOUNG_GC_EVERY_TICKS == 0:
                gc.collect(2 if ticks % FULL_GC_EVERY_TICKS == 0 else 1)
            watchdog.tick(ticks)

    def request_stop(self) -> None:
        self._stop.set()

    def shutdown(self, grace_s: float = GRACE_S) -> None:
        sd_notify("STOPPING=1")
        log.info("daemon.stopping", queued=self.loader.queued)
        for listener in reversed(self.listeners):
            listener.stop(grace_s / 2)
        self.loader.stop(grace_s)
        self.export_worker.stop(grace_s / 2)
        if self.scheduler.running:
            self.scheduler.shutdown(wait=False)
        self.flush_journal()
        log.info("daemon.stopped")
        self.flush_journal()
        set_journal(None)
        self.engine.dispose()
        if self._tap is not None:
            self._tap.stop()
            self._tap = None

    def run(self) -> None:
        refusal = open_listen_refusal(self.config)
        if refusal:  # before anything starts, so that the operator sees this one line
            raise StartupError(refusal)
        with capture_signals(self.request_stop):
            try:
                self.startup()
            except BaseException:
                self.shutdown(grace_s=1.0)
                raise
            try:
                self.main_loop()
            finally:
                self.shutdown()


@contextmanager
def capture_signals(on_first: Callable[[], None]) -> Iterator[None]:
    """First SIGTERM/SIGINT asks for a graceful stop; a second one exits at once."""
    received: list[int] = []

    def handle(signum: int, _frame: FrameType | None) -> None:
        if received:
            log.warning("daemon.forced_exit", signal=signal.Signals(signum).name)
            os._exit(1)
        received.append(signum)
        log.info("daemon.signal", signal=signal.Signals(signum).name)
        on_first()

    previous = {sig: signal.signal(sig, handle) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def limit_malloc_arenas(arenas: int = 2) -> None:
    """Ask glibc for few malloc arenas: with a thread per register it would make up
    to eight per core, and the daemon's resident memory grows by tens of megabytes.
    Must run before the threads start; does nothing where glibc is not the libc."""
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(M_ARENA_MAX, arenas)
    except (OSError, AttributeError):
        pass

"""The writer side of the daemon: everything that writes the database or the outbox.

The store (migrated at start, the registers directory loaded into memory and kept
current by its own thread, :mod:`cashserver.admission`), the loader (the single writer of shifts and
receipts), the exporter thread, the event journal's flush and the scheduled jobs.
:meth:`Writer.stages` lists them in start order for a lifecycle
(:class:`cashserver.lifecycle.Stages`) to start and stop; a new piece of work that
writes the database (a pull scheduler, a job) is one more stage here.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy import Engine

from cashserver.admission import Admission
from cashserver.config import Config
from cashserver.exchange.exporter import BACKLOG_INTERVAL_S, Exporter, ExportWorker
from cashserver.jobs.completeness import IncompleteDays
from cashserver.jobs.dicts import daemon_token
from cashserver.jobs.schedule import Housekeeping
from cashserver.lifecycle import Deadline, Stage, StartupError
from cashserver.loader import Loader
from cashserver.log import Journal, get_logger
from cashserver.spool import Spool
from cashserver.store.engine import READER_CACHE_KIB, open_engine, open_loader_engine
from cashserver.store.events import Events
from cashserver.store.leases import Leases
from cashserver.store.migrate import upgrade_forked
from cashserver.store.registers import Registers
from cashserver.store.repository import LoadOutcome, Repository

if TYPE_CHECKING:
    from cashserver.forward.forwarder import Forwarder
    from cashserver.http.server import HttpListener
    from cashserver.pull.runner import Puller
    from cashserver.pull.states import StateBuffer

__all__ = ["StartupError", "Writer"]

log = get_logger(__name__)

JOURNAL_FLUSH_S = 1.0


class Writer:
    """The writer side's parts; built by :meth:`build`, started and stopped as stages."""

    engine: Engine
    load_engine: Engine
    """The loader's (:func:`~cashserver.store.engine.open_loader_engine`)."""
    repository: Repository
    registers: Registers
    admission: Admission
    events: Events
    spool: Spool
    leases: Leases
    exporter: Exporter
    export_worker: ExportWorker
    loader: Loader
    scheduler: BackgroundScheduler
    housekeeping: Housekeeping
    incomplete_days: IncompleteDays
    puller: Puller
    forwarder: Forwarder | None = None
    pull_states: StateBuffer
    http: HttpListener

    def __init__(self, config: Config, journal: Journal, admission: bool = True) -> None:
        self.config = config
        self.journal = journal
        self.runs_admission = admission
        """Whether the accept path's directory (:mod:`cashserver.admission`) runs here:
        in the one-process daemon it does; with a front process, the front has its own."""
        self.front_problems: Callable[[], dict[str, str]] = dict
        """What keeps the front from taking uploads (a listener down, stopping), by name."""
        self.loaded_hooks: list[Callable[[Sequence[LoadOutcome]], None]] = []
        """Called on the loader's thread with each committed batch's outcomes."""

    def build(self) -> None:
        """Make the parts (creating an SQLite file's folder, nothing more)."""
        config = self.config
        node = config.cluster.node_name
        self.engine = open_engine(config.database_url, node, sqlite_cache_kib=READER_CACHE_KIB)
        self.load_engine = open_loader_engine(config.database_url, node, self.engine)
        self.repository = Repository(self.load_engine)
        self.registers = Registers(self.engine)
        self.admission = Admission(
            self.registers,
            config.registers.auto_register,
            max_clock_skew_s=config.registers.max_clock_skew_s,
        )
        self.events = Events(self.engine)
        self.spool = Spool(config.spool_dir)
        cluster = config.cluster
        self.leases = Leases(self.engine, cluster.node_name, cluster.lease_ttl_s)
        self.exporter = Exporter(self.engine, config, self.leases)
        self.export_worker = ExportWorker(self.exporter)
        self.loaded_hooks.append(self.export_worker.shifts_loaded)
        if config.upstream.target:
            from cashserver.forward.forwarder import Forwarder

            self.forwarder = Forwarder(self.engine, config, self.leases)
            self.loaded_hooks.append(self.forwarder.shifts_loaded)
        self.loader = Loader(
            self.spool, self.repository, config.spool.batch_files, on_loaded=self._on_loaded
        )
        self.scheduler = BackgroundScheduler(timezone=config.server.timezone)
        self.housekeeping = Housekeeping(
            config, self.engine, lambda: daemon_token(config.data_dir), self.leases
        )
        self.incomplete_days = IncompleteDays(config, self.engine)

    def stages(self) -> list[Stage]:
        """The writer's stages in start order (stopped in reverse). The parts are made by
        the first stage's start, so each stage reaches them only when it runs."""
        return [
            Stage("store", self._open_store, self._close_store),
            Stage("journal", lambda: None, lambda _deadline: self.flush_journal()),
            Stage("leases", lambda: self.leases.start(), lambda _deadline: self.leases.stop()),
            *self._admission_stages(),
            Stage("exporter", lambda: self.export_worker.start(), self._stop_exporter),
            Stage("forwarder", self._start_forwarder, self._stop_forwarder),
            Stage("loader", lambda: self.loader.start(), self._stop_loader),
            Stage("jobs", self._start_jobs, self._stop_jobs),
            Stage("pulls", self._start_pulls, self._stop_pulls),
            *self._http_stages(),
        ]

    def _admission_stages(self) -> list[Stage]:
        if not self.runs_admission:
            return []
        return [Stage("directory", lambda: self.admission.start(), self._stop_directory)]

    def _http_stages(self) -> list[Stage]:
        return [Stage("http", self._start_http, self._stop_http)] if self.config.http.listen else []

    # -- the stages ------------------------------------------------------------------

    def _open_store(self) -> None:
        self.build()
        try:
            upgrade_forked(self.engine)
            if self.runs_admission:
                self.admission.load()
        except Exception as exc:
            raise StartupError(
                f"server.database_url: cannot open {self.engine.url!r}: {exc}".splitlines()[0]
            ) from exc

    def _close_store(self, _deadline: Deadline) -> None:
        self.load_engine.dispose()
        self.engine.dispose()

    def _stop_directory(self, deadline: Deadline) -> None:
        self.admission.stop(min(deadline.remaining(), 5.0))

    def _stop_exporter(self, deadline: Deadline) -> None:
        self.export_worker.stop(deadline.remaining())

    def _start_forwarder(self) -> None:
        if self.forwarder is None:
            return
        from prometheus_client import REGISTRY

        from cashserver.forward.gauges import UpstreamCollector

        self._upstream_gauges = UpstreamCollector(self.forwarder)
        REGISTRY.register(self._upstream_gauges)
        self.forwarder.start()

    def _stop_forwarder(self, deadline: Deadline) -> None:
        if self.forwarder is None:
            return
        from prometheus_client import REGISTRY

        self.forwarder.stop(min(deadline.remaining(), 5.0))
        REGISTRY.unregister(self._upstream_gauges)

    def _stop_loader(self, deadline: Deadline) -> None:
        self.loader.stop(deadline.remaining())

    def _start_jobs(self) -> None:
        self.schedule_jobs()
        self.scheduler.start()

    def _stop_jobs(self, _deadline: Deadline) -> None:
        if self.scheduler.running:
            self.scheduler.shutdown(wait=False)

    def schedule_jobs(self) -> None:
        self.housekeeping.schedule(self.scheduler)
        if self.config.http.listen:  # only /metrics shows it
            self.incomplete_days.schedule(self.scheduler)
        self.scheduler.add_job(
            self.export_worker.request_backlog,
            IntervalTrigger(seconds=BACKLOG_INTERVAL_S),
            id="export_backlog",
            coalesce=True,
        )
        self.scheduler.add_job(
            self.flush_journal,
            IntervalTrigger(seconds=JOURNAL_FLUSH_S),
            id="flush_journal",
            coalesce=True,
        )

    # -- pulls: the third door, whose loads and loading states are writes ---------------

    def _start_pulls(self) -> None:
        from cashserver.pull.runner import Puller
        from cashserver.pull.schedule import PullScheduler
        from cashserver.pull.states import StateBuffer
        from cashserver.store.reading import Reader

        self.pull_states = StateBuffer(self.registers)
        self.pull_states.start()
        self.puller = Puller(self.config, self.loader, self.pull_states, leases=self.leases)
        if self.config.pull.enabled:
            reader = Reader(self.engine, self.config)
            PullScheduler(self.config, self.puller, reader, self.scheduler).start()

    def _stop_pulls(self, _deadline: Deadline) -> None:
        self.puller.close()  # cuts pulls in flight: their whole shifts are spooled already
        self.pull_states.close()

    # -- the admin HTTP listener and what /readyz checks ----------------------------

    def _start_http(self) -> None:
        from cashserver.http.app import create_app
        from cashserver.http.context import HttpContext, session_secret
        from cashserver.http.server import HttpListener

        secret = session_secret(self.config.data_dir)
        assert secret is not None
        from cashserver.http.pull_now import console_pull

        context = HttpContext(
            self.config,
            self.engine,
            secret,
            readiness=self.readiness,
            store_days_incomplete=lambda: self.incomplete_days.value,
            pull=console_pull(self.config, lambda: getattr(self, "puller", None)),
        )
        self.http = HttpListener(self.config, create_app(context))
        try:
            self.http.start()
        except OSError as exc:
            raise StartupError(str(exc)) from exc

    def _stop_http(self, deadline: Deadline) -> None:
        self.http.stop(deadline.remaining())

    def readiness(self) -> dict[str, str]:
        """What keeps the daemon from taking uploads, by name; empty when ready."""
        from cashserver.http.readiness import probe_database, probe_spool

        problems = self.front_problems()
        spool = probe_spool(self.spool.folder("incoming"))
        if spool:
            problems["spool"] = spool
        database = probe_database(self.engine)
        if database:
            problems["database"] = database
        return problems

    # -- work ------------------------------------------------------------------------

    def _on_loaded(self, outcomes: Sequence[LoadOutcome]) -> None:
        for hook in self.loaded_hooks:
            hook(outcomes)

    def flush_journal(self) -> None:
        """Write the journal's pending events; kept for later if the database is down."""
        pending = self.journal.drain()
        if not pending:
            return
        try:
            self.events.write(pending)
        except Exception as exc:  # the database may be down: keep the events for later
            self.journal.put_back(pending)
            log.debug("journal.flush_failed", error=str(exc))

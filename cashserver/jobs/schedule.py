"""When the housekeeping jobs run in ``serve``, and the jobs as one object.

:class:`Housekeeping` holds what the jobs work on; each of its methods is one job
run once, returning what it did (the CLI prints that). :meth:`Housekeeping.schedule`
puts them on the daemon's APScheduler: the nightly run at ``archive_time`` (the
spool archive, then the events trim, then the database trimmer, one after another
so the trimmer runs after the archive), and the dictionary trim at
``dicts_trim_time``. Each scheduled job has ``max_instances=1`` (a run still going
when the next is due makes that one wait, never overlap) and coalesces missed
runs into one; a step that fails is logged as ``job.failed`` and does not stop the
steps after it.

With leases (``serve``), the database trimmer and the dictionary trim run on one
daemon of the cluster a day (see ``jobs/cluster.py``), and a catch-up job every
minute retries them within the hour after their time, should the daemon that
took them have died or failed.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import date, datetime
from zoneinfo import ZoneInfo

from apscheduler.schedulers.base import BaseScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy import Engine

from cashserver.config import Config
from cashserver.jobs.archive import SpoolArchive, archive_spool
from cashserver.jobs.cluster import CATCH_UP_S, ClusterDaily
from cashserver.jobs.dicts import DictsTrim, trim_dicts
from cashserver.jobs.events import trim_events
from cashserver.jobs.trimmer import ShiftsTrim, trim_shifts
from cashserver.log import get_logger
from cashserver.spool import Spool
from cashserver.store.events import Events
from cashserver.store.leases import Leases

log = get_logger(__name__)

MISFIRE_GRACE_S = 3600
LEASES_KEEP_S = 7 * 86_400


def local_today(config: Config) -> date:
    """The daemon's local date: the configured time zone, as the schedule uses."""
    return datetime.now(ZoneInfo(config.server.timezone)).date()


class Housekeeping:
    def __init__(
        self,
        config: Config,
        engine: Engine,
        internal_token: Callable[[], str | None],
        leases: Leases | None = None,
    ) -> None:
        self.config = config
        self.engine = engine
        self.spool = Spool(config.spool_dir)
        self.events = Events(engine)
        self.internal_token = internal_token
        self.cluster = None if leases is None else ClusterDaily(leases)
        """Once a day for the cluster (the scheduled runs only; the CLI's run now)."""
        self._nightly_on: date | None = None

    # -- the jobs, each run once -----------------------------------------------------

    def archive(self, everything: bool = False) -> SpoolArchive:
        return archive_spool(
            self.spool,
            self.config.backup_dir,
            self.config.jobs.archive_keep_days,
            day=local_today(self.config),
            everything=everything,
        )

    def trim_events(self) -> int:
        return trim_events(self.events, self.config.jobs.events_keep_days)

    def trim_shifts(self, dry_run: bool = False) -> ShiftsTrim:
        jobs = self.config.jobs
        return trim_shifts(
            self.engine,
            jobs.keep_shifts_days,
            jobs.trim_batch_receipts,
            dry_run,
            forwarding=bool(self.config.upstream.target),
        )

    def trim_dicts(self, dry_run: bool = False) -> DictsTrim:
        return trim_dicts(self.config, self.internal_token(), dry_run)

    # -- on the schedule -------------------------------------------------------------

    def nightly(self) -> None:
        """The archive, the events trim, then (when on) the database trimmer."""
        steps: list[tuple[str, Callable[[], object]]] = [
            ("archive", self.archive),
            ("trim_events", self.trim_events),
        ]
        if self.config.jobs.keep_shifts_days > 0:
            steps.append(("trim_shifts", lambda: self._once("trim_shifts", self.trim_shifts)))
        if self.cluster is not None:
            # One row a shift ever exported, two a day of daily jobs: keep a week.
            steps.append(
                ("trim_leases", functools.partial(self.cluster.leases.prune, LEASES_KEEP_S))
            )
        self._nightly_on = local_today(self.config)
        for name, step in steps:
            try:
                step()
            except Exception as exc:  # the next step still runs; tomorrow tries again
                log.exception("job.failed", job=name, error=str(exc))

    def dicts(self) -> None:
        try:
            self._once("trim_dicts", self.trim_dicts)
        except Exception as exc:
            log.exception("job.failed", job="trim_dicts", error=str(exc))

    def _once(self, job: str, step: Callable[[], object]) -> None:
        if self.cluster is None:
            step()
        else:
            self.cluster.run(job, step, local_today(self.config))

    def catch_up(self) -> None:
        """Retry the cluster's daily jobs that nobody finished, within the hour after
        their time (the trimmer only once this daemon's nightly run has archived)."""
        if self.cluster is None:
            return
        jobs = self.config.jobs
        if (
            jobs.keep_shifts_days > 0
            and self._nightly_on == local_today(self.config)
            and self.cluster.within_grace(jobs.archive_time, MISFIRE_GRACE_S)
        ):
            try:
                self._once("trim_shifts", self.trim_shifts)
            except Exception as exc:
                log.exception("job.failed", job="trim_shifts", error=str(exc))
        if self.cluster.within_grace(jobs.dicts_trim_time, MISFIRE_GRACE_S):
            self.dicts()

    def schedule(self, scheduler: BaseScheduler) -> None:
        for job_id, run, at in (
            ("nightly", self.nightly, self.config.jobs.archive_time),
            ("trim_dicts", self.dicts, self.config.jobs.dicts_trim_time),
        ):
            hour, minute = (int(x) for x in at.split(":"))
            scheduler.add_job(
                run,
                CronTrigger(hour=hour, minute=minute),
                id=job_id,
                max_instances=1,
                coalesce=True,
                misfire_grace_time=MISFIRE_GRACE_S,
            )
        if self.cluster is not None:
            scheduler.add_job(
                self.catch_up,
                IntervalTrigger(seconds=CATCH_UP_S),
                id="daily_catch_up",
                max_instances=1,
                coalesce=True,
            )

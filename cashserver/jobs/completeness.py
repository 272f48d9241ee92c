"""``cashserver_store_days_incomplete`` (SPEC 16), recomputed on a timer, never per scrape.

Every :data:`REFRESH_S` the daemon counts the store-days of the last ``[reports]
completeness_days`` local days that ended more than 24 hours ago and are not
``complete`` (SPEC 11), and keeps the number for ``/metrics``. The count reads the
totals tables, a few thousand small rows a store and week; a scrape only reads the
number. While the database is down the last number stays, and the failure is
logged once per outage.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime

from apscheduler.schedulers.base import BaseScheduler
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy import Engine

from cashserver.clock import now_ms
from cashserver.config import Config
from cashserver.log import get_logger
from cashserver.reports import Reports

log = get_logger(__name__)

REFRESH_S = 30
"""How often the count is made: twice within SPEC 16's minute."""


class IncompleteDays:
    """The latest count of incomplete store-days; None until first made."""

    def __init__(self, config: Config, engine: Engine) -> None:
        self.reports = Reports(engine, config)
        self.days = config.reports.completeness_days
        self._value: int | None = None
        self._lock = threading.Lock()
        self._failing = False

    @property
    def value(self) -> int | None:
        with self._lock:
            return self._value

    def refresh(self) -> None:
        """Count again now; on a database error keep the last count."""
        try:
            count = self.reports.incomplete_days(now_ms(), self.days)
        except Exception as exc:  # the database is down or locked: next round tries again
            if not self._failing:
                log.warning("completeness.count_failed", error=(str(exc).splitlines() or [""])[0])
            self._failing = True
            return
        self._failing = False
        with self._lock:
            self._value = count

    def schedule(self, scheduler: BaseScheduler) -> None:
        """Count at once, then every :data:`REFRESH_S`."""
        scheduler.add_job(
            self.refresh,
            IntervalTrigger(seconds=REFRESH_S),
            id="store_days_incomplete",
            max_instances=1,
            coalesce=True,
            next_run_time=datetime.now(UTC),
        )

"""Scheduled pulls (SPEC 10) on the daemon's APScheduler.

Every register with an address and a non-zero interval is pulled every
``pull_interval_s`` (or ``[pull] interval_s``), jittered by +-10 %, asking
``[last_sale_at - overlap_s, now)``, or ``[now - first_window_s, now)`` before
its first sale. Each register is one date job that schedules its next run when
it ends, so the wait can grow after errors: after the k-th ERROR in a row the
next pull waits min(2^k, 8) intervals, and a success resets it. Pulls run on an
executor of ``concurrency`` threads, so a register that hangs holds one thread
until ``timeout_s`` and never delays the others; no thread or connection is
kept per register between pulls.

The directory is read again every :data:`REFRESH_S` seconds: a new register is
first pulled within a tenth of its interval, a changed interval takes effect at
once, and a removed register (or one whose address or interval was cleared to
0) leaves the schedule. A register being pulled on demand is skipped this round.
"""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.triggers.interval import IntervalTrigger

from cashserver.clock import now_ms
from cashserver.config import Config
from cashserver.domain import TimeRange
from cashserver.log import get_logger
from cashserver.pull.runner import Busy, Puller, State, target_of
from cashserver.store.reading import Reader, RegisterInfo

log = get_logger(__name__)

REFRESH_S = 2.0
"""How often the directory is read again (SPEC 10: changes reach serve within 5 s)."""
JITTER = 0.10
MAX_BACKOFF_INTERVALS = 8
EXECUTOR = "pull"


def backoff_intervals(errors_in_a_row: int) -> int:
    """Intervals to wait after ``errors_in_a_row`` ERRORs: min(2^k, 8); 1 after success."""
    return min(2**errors_in_a_row, MAX_BACKOFF_INTERVALS) if errors_in_a_row else 1


def jittered(seconds: float, rng: random.Random) -> float:
    return seconds * rng.uniform(1 - JITTER, 1 + JITTER)


def window(info: RegisterInfo, config: Config, now: int) -> TimeRange:
    """What a scheduled pull asks for: from the last sale (less the overlap) until now."""
    if info.last_sale_at is None:
        return TimeRange(now - config.pull.first_window_s * 1000, now)
    return TimeRange(min(now, info.last_sale_at - config.pull.overlap_s * 1000), now)


@dataclass(slots=True)
class _Entry:
    interval_s: int
    errors: int = 0


class PullScheduler:
    def __init__(self, config: Config, puller: Puller, reader: Reader, scheduler: Any) -> None:
        self.config = config
        self.puller = puller
        self.reader = reader
        self.scheduler = scheduler
        self._entries: dict[tuple[str, str], _Entry] = {}
        self._lock = threading.Lock()
        self._rng = random.Random()

    def start(self) -> None:
        """Add the pull executor and the directory refresh to the (running) scheduler."""
        self.scheduler.add_executor(
            ThreadPoolExecutor(max_workers=self.config.pull.concurrency), alias=EXECUTOR
        )
        self.scheduler.add_job(
            self.refresh,
            IntervalTrigger(seconds=REFRESH_S),
            id="pull_refresh",
            next_run_time=datetime.now(self.scheduler.timezone),
            coalesce=True,
            max_instances=1,
        )

    @staticmethod
    def _job_id(key: tuple[str, str]) -> str:
        return f"pull:{key[0]}/{key[1]}"

    def _interval(self, info: RegisterInfo) -> int:
        if info.pull_interval_s is not None:
            return info.pull_interval_s
        return self.config.pull.interval_s

    def _schedule(self, key: tuple[str, str], delay_s: float) -> None:
        run_at = datetime.now(self.scheduler.timezone) + timedelta(seconds=delay_s)
        self.scheduler.add_job(
            self._run,
            "date",
            run_date=run_at,
            args=[key],
            id=self._job_id(key),
            replace_existing=True,
            executor=EXECUTOR,
            misfire_grace_time=None,
        )

    def refresh(self) -> None:
        """Bring the schedule in line with the directory."""
        try:
            registers = self.reader.registers()
        except Exception as exc:  # the database is down: keep the schedule as it is
            log.warning("pull.directory_unavailable", error=str(exc).splitlines()[0])
            return
        wanted = {
            (r.store_code, r.register_code): self._interval(r)
            for r in registers
            if r.address and self._interval(r) > 0
        }
        with self._lock:
            for key in [k for k in self._entries if k not in wanted]:
                del self._entries[key]
                if self.scheduler.get_job(self._job_id(key)) is not None:
                    self.scheduler.remove_job(self._job_id(key))
            for key, interval in wanted.items():
                entry = self._entries.get(key)
                if entry is None:
                    self._entries[key] = _Entry(interval)
                    self._schedule(key, self._rng.uniform(0, JITTER * interval))
                elif entry.interval_s != interval:
                    entry.interval_s = interval
                    self._schedule(key, jittered(interval, self._rng))

    def _run(self, key: tuple[str, str]) -> None:
        with self._lock:
            entry = self._entries.get(key)
        if entry is None:
            return
        try:
            state = self._pull(key)
        except Exception:  # never lose the register's place in the schedule
            log.exception("pull.crashed", register=f"{key[0]}/{key[1]}")
            state = State.ERROR
        with self._lock:
            if self._entries.get(key) is not entry:
                return  # removed from the schedule meanwhile
            if state is State.ERROR:
                entry.errors += 1
            elif state is not None:
                entry.errors = 0
            delay = jittered(entry.interval_s * backoff_intervals(entry.errors), self._rng)
            self._schedule(key, delay)

    def _pull(self, key: tuple[str, str]) -> State | None:
        """One scheduled pull; its final state, or None if it did not run."""
        try:
            found = self.reader.registers(*key)
        except Exception as exc:
            log.warning("pull.directory_unavailable", error=str(exc).splitlines()[0])
            return None
        target = target_of(found[0], self.config) if found else None
        if target is None:
            return None
        interval_s = self._interval(found[0])
        try:
            result = self.puller.pull(
                target,
                window(found[0], self.config, now_ms()),
                "schedule",
                due=lambda: self._due(key, interval_s),
            )
        except Busy:
            return None
        return result.state

    def _due(self, key: tuple[str, str], interval_s: int) -> bool:
        """Whether no daemon has ended a pull of the register within most of its interval.

        Every daemon schedules every register; the pull lease makes them take turns,
        and this check, read under the lease, makes it one turn per interval.
        """
        try:
            found = self.reader.registers(*key)
        except Exception as exc:  # the database is down: skip this round
            log.warning("pull.directory_unavailable", error=str(exc).splitlines()[0])
            return False
        if not found:
            return False
        ended_at = found[0].state_at
        if ended_at is None or found[0].state == "DURING":
            return True
        return now_ms() - ended_at >= (1 - JITTER) * interval_s * 1000

"""Daily jobs that run on one daemon of the cluster a day (SPEC section 14).

The database trimmer and the dictionary trim act on what all daemons share (the
database, the dictionary folder), so each runs once a day for the cluster. Every
daemon's scheduler still fires them (APScheduler is each node's own clock);
:meth:`ClusterDaily.run` then takes the lease ``(job, local date)``: one daemon
gets it and runs the job, and on success marks the lease done, so nobody takes
it again that day. A job that fails gives its lease back; a daemon that dies
mid-job loses it after ``lease_ttl_s``. Either way :meth:`ClusterDaily.run` is
called again every :data:`CATCH_UP_S` seconds within the hour after the job's
time (APScheduler's misfire grace), so another daemon, or this one, runs it.
The spool archive stays each daemon's own and is not leased.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, timedelta

from cashserver.log import get_logger
from cashserver.store.leases import Leases

log = get_logger(__name__)

CATCH_UP_S = 60.0
"""How often a daemon looks for a daily job that nobody has finished today."""


class ClusterDaily:
    def __init__(self, leases: Leases) -> None:
        self.leases = leases

    def run(self, job: str, step: Callable[[], object], day: date) -> bool:
        """Run ``step`` unless another daemon has done ``job`` for the day or is doing it.

        True when it ran here. Raises what ``step`` raises (the lease is then given
        back for a retry).
        """
        key = day.isoformat()
        lease = self.leases.try_acquire(job, key)
        if lease is None:
            return False
        try:
            step()
        except BaseException:
            self.leases.release(lease)
            raise
        self.leases.complete(lease)
        log.info("job.done", job=job, day=key)
        return True

    def within_grace(self, at: str, grace_s: float) -> bool:
        """Whether today's run of a job due at ``at`` is due and at most ``grace_s``
        late: the window in which the catch-up retries it. ``at`` is on the host's
        clock, as the scheduler's cron triggers are."""
        return within_grace(at, grace_s, datetime.now().astimezone())


def within_grace(at: str, grace_s: float, now: datetime) -> bool:
    """Whether ``now`` lies in ``[at, at + grace_s)`` of its own day (``at`` is HH:MM)."""
    hour, minute = (int(x) for x in at.split(":"))
    due = now.replace(hour=hour, minute=minute, second=0, microsecond=0)
    return due <= now < due + timedelta(seconds=grace_s)

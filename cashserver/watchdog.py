"""What the daemon tells systemd on each tick: the watchdog ping and a STATUS line.

The ping (``WATCHDOG=1``) proves more than a running main loop: it is sent only
while the loader is alive too, its thread running and its loop turning within
twice the unit's ``WatchdogSec`` (:func:`stall_limit_s`). A loader wedged in a call
that never returns then stops the pings, and systemd restarts the daemon one
``WatchdogSec`` later (the loader resumes from ``incoming/``, so nothing is lost).
With the shipped ``WatchdogSec=60`` the limit is 120 s, well above the loader's
longest legitimate pause (SQLite's 30 s busy timeout, then a 15 s backoff).

Every :data:`STATUS_EVERY_TICKS` ticks a ``STATUS=`` line says how deep the spool
queue is and how many uploads were answered in the last minute (``systemctl
status cashserver`` shows it).
"""

from __future__ import annotations

from collections.abc import Callable

from cashserver.log import get_logger
from cashserver.metrics import RECENT_UPLOADS

log = get_logger(__name__)

LOADER_STALL_S = 120.0
"""The limit when the watchdog interval is not known."""
STATUS_EVERY_TICKS = 5


def stall_limit_s(watchdog_s: float) -> float:
    """How long the loader's loop may stand still before the pings stop."""
    return 2 * watchdog_s if watchdog_s > 0 else LOADER_STALL_S


class Watchdog:
    def __init__(
        self,
        notify: Callable[[str], None],
        loader_stalled_s: Callable[[], float],
        spool_depth: Callable[[], int],
        ping: bool,
        recent_uploads: Callable[[], int] = RECENT_UPLOADS.total,
        stall_limit_s: float = LOADER_STALL_S,
    ) -> None:
        self.stall_limit_s = stall_limit_s
        self.notify = notify
        self.loader_stalled_s = loader_stalled_s
        self.spool_depth = spool_depth
        self.ping = ping
        self.recent_uploads = recent_uploads
        self.withheld = False

    def status_line(self) -> str:
        return (
            f"STATUS=spool queue {self.spool_depth()} file(s),"
            f" {self.recent_uploads()} upload(s) in the last minute"
        )

    def tick(self, ticks: int) -> None:
        if ticks % STATUS_EVERY_TICKS == 1:
            self.notify(self.status_line())
        if not self.ping:
            return
        stalled = self.loader_stalled_s()
        if stalled < self.stall_limit_s:
            if self.withheld:
                log.info("watchdog.resumed")
                self.withheld = False
            self.notify("WATCHDOG=1")
        elif not self.withheld:
            self.withheld = True
            log.error("watchdog.withheld", loader_stalled_s=round(stalled, 1))

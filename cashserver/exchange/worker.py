"""The daemon's exporting thread (:class:`ExportWorker`), fed by the loader and the scheduler.

The loader's hook hands it the closed shifts that a batch stored or changed, and
its thread exports them (:class:`~cashserver.exchange.exporter.Exporter`) after a
short quiet period, away from the loader's thread; it also runs the backlog at
start and whenever the scheduler asks, which is how failed exports are retried.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence

from sqlalchemy.exc import SQLAlchemyError

from cashserver.domain import UploadStatus
from cashserver.exchange.exporter import Exporter, ExportStatus, describe_error
from cashserver.log import get_logger
from cashserver.store.repository import LoadOutcome

log = get_logger(__name__)

DEBOUNCE_S = 0.5
"""The worker exports once no new shift has come for this long..."""
MAX_DELAY_S = 3.0
"""...or once the oldest waiting shift has waited this long, whichever comes first."""
BACKLOG_INTERVAL_S = 60.0
"""How often the daemon retries the backlog (failed and missed exports)."""
RETRY_FIRST_S = 30.0
RETRY_MAX_S = 960.0
"""A shift that failed is left out of the worker's backlog runs for 30 s, then 60 s, ...
up to 16 min, so a broken outbox does not log every shift every minute; a new load
of the shift, a restart and ``cashserver export`` try it at once."""


class ExportWorker:
    """The daemon's exporting thread, fed by the loader and by the scheduler.

    :meth:`shifts_loaded` (the loader's hook) only notes the closed shifts a batch
    stored or changed and returns; the thread exports them once no new one has
    come for :data:`DEBOUNCE_S` (or the oldest has waited :data:`MAX_DELAY_S`), so
    a shift uploaded in several batches is written once, and many shifts in one go.
    :meth:`request_backlog` (at start, then every :data:`BACKLOG_INTERVAL_S` from
    the scheduler) makes it export every closed shift not yet exported, but for
    shifts that failed lately (see :data:`RETRY_MAX_S`).
    """

    def __init__(
        self,
        exporter: Exporter,
        debounce_s: float = DEBOUNCE_S,
        max_delay_s: float = MAX_DELAY_S,
        retry_first_s: float = RETRY_FIRST_S,
    ) -> None:
        self.exporter = exporter
        self.debounce_s = debounce_s
        self.max_delay_s = max_delay_s
        self.retry_first_s = retry_first_s
        self._failures: dict[int, tuple[int, float]] = {}
        """Shifts whose last export failed: (failures in a row, monotonic time to retry)."""
        self._cond = threading.Condition()
        self._pending: dict[int, None] = {}  # an ordered set of workshift ids
        self._first_at = 0.0
        self._last_at = 0.0
        self._backlog = False
        self._stop_by: float | None = None
        self._busy = False
        self._thread: threading.Thread | None = None

    # -- the producers' side ---------------------------------------------------------

    def shifts_loaded(self, outcomes: Sequence[LoadOutcome]) -> None:
        """Queue the closed shifts that a loaded batch stored or changed; never blocks."""
        if not self.exporter.formats:
            return
        ids = [
            o.workshift_id
            for o in outcomes
            if o.status is UploadStatus.LOADED and o.changed and o.closed
        ]
        if not ids:
            return
        now = time.monotonic()
        with self._cond:
            if not self._pending:
                self._first_at = now
            self._last_at = now
            self._pending.update(dict.fromkeys(ids))
            self._cond.notify_all()

    def _requeue(self, workshift_id: int) -> None:
        with self._cond:
            if not self._pending:
                self._first_at = self._last_at = time.monotonic()
            self._pending[workshift_id] = None

    def request_backlog(self) -> None:
        """Have the thread export every closed shift not yet exported, soon."""
        with self._cond:
            self._backlog = True
            self._cond.notify_all()

    # -- lifecycle ---------------------------------------------------------------------

    def start(self) -> None:
        """Start the thread; its first work is the backlog left by the last run."""
        self.request_backlog()
        self._thread = threading.Thread(target=self._run, name="exporter", daemon=True)
        self._thread.start()

    def stop(self, grace_s: float) -> None:
        """Export what is queued (not the backlog) within ``grace_s``, then end the thread.

        What is left over is still not exported, so the next start's backlog takes it.
        """
        with self._cond:
            self._stop_by = time.monotonic() + grace_s
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(grace_s + 5.0)
            self._thread = None

    def idle(self, timeout_s: float) -> bool:
        """Wait until nothing is queued or being exported; False if ``timeout_s`` passed."""
        deadline = time.monotonic() + timeout_s
        with self._cond:
            while self._pending or self._backlog or self._busy:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._cond.wait(remaining)
        return True

    # -- the thread ----------------------------------------------------------------------

    def _out_of_time(self) -> bool:
        return self._stop_by is not None and time.monotonic() >= self._stop_by

    def _take(self) -> tuple[list[int], bool] | None:
        """The next shifts to export and whether to add the backlog; None to end."""
        with self._cond:
            while True:
                if self._stop_by is not None:
                    if self._out_of_time() or not self._pending:
                        return None
                    return self._take_pending(backlog=False)
                if self._backlog:
                    return self._take_pending(backlog=True)
                if not self._pending:
                    self._cond.wait()
                    continue
                due = min(self._last_at + self.debounce_s, self._first_at + self.max_delay_s)
                wait_s = due - time.monotonic()
                if wait_s <= 0:
                    return self._take_pending(backlog=False)
                self._cond.wait(wait_s)

    def _take_pending(self, backlog: bool) -> tuple[list[int], bool]:
        ids = list(self._pending)
        self._pending.clear()
        self._backlog = False
        self._busy = True
        return ids, backlog

    def _run(self) -> None:
        while (work := self._take()) is not None:
            ids, backlog = work
            try:
                self._export(ids, backlog)
            except Exception:  # the worker must outlive any one failure; the backlog retries
                log.exception("export.worker_failed", shifts=len(ids), backlog=backlog)
            finally:
                with self._cond:
                    self._busy = False
                    self._cond.notify_all()

    def _export(self, ids: list[int], backlog: bool) -> None:
        """Export the queued shifts (until the stop deadline), then the backlog (until a stop)."""
        for workshift_id in ids:
            if self._out_of_time():
                return
            self._export_one(workshift_id)
        if not backlog:
            return
        try:
            stale = self.exporter.backlog()
        except SQLAlchemyError as exc:  # the database is down: the next run tries again
            log.warning("export.backlog_unavailable", error=describe_error(exc))
            return
        # Forget failures of shifts exported meanwhile (by ``cashserver export``).
        still = set(stale)
        self._failures = {ws: f for ws, f in self._failures.items() if ws in still}
        now = time.monotonic()
        for workshift_id in stale:
            if self._stop_by is not None:
                return
            if self._failures.get(workshift_id, (0, now))[1] <= now:
                self._export_one(workshift_id)

    def _export_one(self, workshift_id: int) -> None:
        outcome = self.exporter.export_shift(workshift_id, only_stale=True)
        if outcome.status is ExportStatus.SKIPPED and outcome.revision is None:
            # Another daemon holds the shift's lease, maybe exporting an older revision
            # than the one just loaded here: look again after the quiet period.
            self._requeue(workshift_id)
        elif outcome.status is ExportStatus.FAILED:
            count = self._failures.get(workshift_id, (0, 0.0))[0] + 1
            delay = min(RETRY_MAX_S, self.retry_first_s * 2 ** (count - 1))
            self._failures[workshift_id] = (count, time.monotonic() + delay)
        else:
            self._failures.pop(workshift_id, None)

"""The forwarder: every stored revision of every shift, to the central server (SPEC 15).

It runs on the writer side, like the exporter, and is an exporter whose outbox is
another cashserver: it keeps no copy of the data, only the revision the central
server acknowledged (:mod:`cashserver.store.forwards`), and the central server's
receipt uids make every resend harmless. So a SIGKILL at any moment loses nothing
(the acknowledgement is written only after LOADED or QUEUED, in one transaction)
and stores nothing twice (a revision sent but not recorded is sent again and
counted duplicate there).

Scheduling. One dispatcher thread reads the backlog (on a wake from the loader's
hook, at least every :data:`RESCAN_S`) and hands each register's waiting shifts,
oldest ``workshift_id`` first, to a pool of ``concurrency`` threads: a register is in
at most one task, so its shifts go one at a time and in order, and no register has a
thread of its own. A task first takes the cluster lease ``("forward", register_id)``,
so several daemons on one PostgreSQL forward each revision once; the acknowledgement
is written with a fence check of that lease, and a daemon that dies holding it loses
it within ``lease_ttl_s``.

Failures. A transient failure (no answer, a transient code) stops every task and
waits min(2^k, ``retry_max_s``) s, +-10 %, k the link's failed tries in a row; any
answer resets k. A permanent answer sets that shift aside with the message and the
task goes on with the register's later shifts.
"""

from __future__ import annotations

import functools
import random
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from cashserver.config import Config
from cashserver.domain import UploadStatus
from cashserver.forward.link import Answer, Link, Result
from cashserver.log import get_logger
from cashserver.metrics import count_forward
from cashserver.store.forwards import Backlog, Forwards
from cashserver.store.leases import Lease, Leases
from cashserver.store.repository import LoadOutcome

log = get_logger(__name__)

RESCAN_S = 5.0
"""The backlog is read at least this often, whatever wakes the dispatcher."""
BACKLOG_EVERY_S = 2.0
"""The gauges' backlog counts are refreshed at most this often (each scan may be sooner)."""
JOB = "forward"
LEASE_LOST = Answer(Result.FAILED, message="forward lease lost")
"""The answer when the central server answered but the register's lease was taken over
meanwhile: nothing is recorded, and the new holder forwards the shift."""


@dataclass(frozen=True, slots=True)
class Sent:
    """What forwarding one shift did (``cashserver forward`` prints these)."""

    workshift_id: int
    answer: Answer


def retry_delay(failures: int, retry_max_s: float, rng: random.Random) -> float:
    """min(2^k, retry_max_s) seconds jittered by +-10 %."""
    return float(min(2.0**failures, retry_max_s) * rng.uniform(0.9, 1.1))


class Forwarder:
    """Forwards shifts; :meth:`forward_shift` is also what ``cashserver forward`` calls."""

    def __init__(self, engine: Engine, config: Config, leases: Leases) -> None:
        self.config = config
        self.upstream = config.upstream
        self.leases = leases
        self.forwards = Forwards(engine)
        self.link = Link(config.upstream, config.cluster.node_name)
        self._rng = random.Random()
        self._cond = threading.Condition()
        self._wake = True
        self._stopping = False
        self._busy: set[int] = set()
        self._failures = 0
        self._retry_at = 0.0
        self.answered: bool | None = None
        """Whether the last try got an answer (None: nothing tried yet)."""
        self.backlog_seen = Backlog(0, 0, None, 0)
        self._thread: threading.Thread | None = None
        self._pool: ThreadPoolExecutor | None = None

    # -- one shift ----------------------------------------------------------------

    def forward_shift(self, workshift_id: int, lease: Lease | None, whole: bool = False) -> Sent:
        """Send the shift's current revision: what is not acknowledged, or ``whole``.

        Records the outcome (acknowledged or set aside), logs its event and counts it.
        Without ``whole``, a revision already acknowledged or set aside is skipped.
        Raises SQLAlchemyError when the store cannot be read.
        """
        snapshot = self.forwards.snapshot(workshift_id)
        if snapshot is None:
            return Sent(workshift_id, Answer(Result.FAILED, message="no such shift"))
        if not whole and snapshot.revision in (snapshot.acked_revision, snapshot.rejected_revision):
            # Read under the register's lease: another daemon dealt with this revision
            # after our backlog scan, so sending it again would only cost the wire.
            return Sent(workshift_id, Answer(Result.SKIPPED))
        after = 0 if whole else snapshot.acked_revision
        ids = self.forwards.receipt_ids(workshift_id, after, snapshot.revision)
        answer = self.link.upload(
            snapshot.shift,
            ids,
            functools.partial(self.forwards.receipts, workshift_id, after, snapshot.revision),
        )
        confirm = None if lease is None else functools.partial(self.leases.confirm, lease=lease)
        if answer.result is Result.ACKNOWLEDGED:
            if not self.forwards.mark_acked(
                workshift_id, snapshot.revision, answer.central_workshift_id or None, confirm
            ):
                return Sent(workshift_id, LEASE_LOST)
            self._answered()
            log.info(
                "forward.sent",
                workshift_id=workshift_id,
                revision=snapshot.revision,
                receipts_sent=answer.receipts_sent,
                status=answer.status,
                central_workshift_id=answer.central_workshift_id,
            )
            count_forward("forwarded")
        elif answer.result is Result.REJECTED:
            if not self.forwards.mark_rejected(
                workshift_id, snapshot.revision, answer.message, confirm
            ):
                return Sent(workshift_id, LEASE_LOST)
            self._answered()
            log.warning("forward.rejected", workshift_id=workshift_id, message=answer.message)
            count_forward("rejected")
        else:
            retry_in = self._failed()
            log.warning(
                "forward.failed",
                workshift_id=workshift_id,
                reason=answer.message,
                retry_in_s=round(retry_in, 1),
            )
            count_forward("failed")
        return Sent(workshift_id, answer)

    def _answered(self) -> None:
        with self._cond:
            self._failures = 0
            self._retry_at = 0.0
            self.answered = True

    def _failed(self) -> float:
        """Count a failed try of the link and return the wait before the next one. Tries
        that fail together (other registers' tasks of the same round) count once."""
        with self._cond:
            now = time.monotonic()
            if self._retry_at > now:
                return self._retry_at - now
            self._failures += 1
            delay = retry_delay(self._failures, self.upstream.retry_max_s, self._rng)
            self._retry_at = now + delay
            self.answered = False
            return delay

    # -- the loader's hook ------------------------------------------------------------

    def shifts_loaded(self, outcomes: Sequence[LoadOutcome]) -> None:
        """Wake the dispatcher when a batch stored a new revision; never blocks long."""
        if any(o.status is UploadStatus.LOADED and o.changed for o in outcomes):
            self.wake()

    def wake(self) -> None:
        with self._cond:
            self._wake = True
            self._cond.notify_all()

    # -- lifecycle -----------------------------------------------------------------------

    def start(self) -> None:
        self._pool = ThreadPoolExecutor(self.upstream.concurrency, thread_name_prefix="forward")
        self._thread = threading.Thread(target=self._run, name="forwarder", daemon=True)
        self._thread.start()

    def stop(self, grace_s: float) -> None:
        """Stop taking work; uploads in flight get ``grace_s`` (their shifts are simply
        not acknowledged if cut, and go again at the next start)."""
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(max(grace_s, 0.1))
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
        self.link.close()

    def idle(self) -> bool:
        with self._cond:
            return not self._busy

    # -- the dispatcher ----------------------------------------------------------------

    def _run(self) -> None:
        last_scan = last_count = -BACKLOG_EVERY_S
        while True:
            with self._cond:
                while not self._stopping:
                    now = time.monotonic()
                    due = last_scan + RESCAN_S
                    if self._retry_at > last_scan:
                        # A try failed since the last scan: wakes wait for its wait's end,
                        # and the scan comes then (not at the next rescan).
                        due = min(due, self._retry_at)
                    elif self._wake:
                        break
                    if now >= due:
                        break
                    self._cond.wait(due - now)
                if self._stopping:
                    return
                self._wake = False
                backing_off = self._retry_at > time.monotonic()
            last_scan = time.monotonic()
            try:
                if last_scan - last_count >= BACKLOG_EVERY_S:  # counts every receipt waiting
                    self.backlog_seen = self.forwards.backlog()
                    last_count = last_scan
                if not backing_off:
                    self._dispatch()
            except SQLAlchemyError as exc:  # the database is away: the next scan retries
                log.warning("forward.backlog_unavailable", error=str(exc).splitlines()[0])
            except Exception:  # the dispatcher must outlive any one failure
                log.exception("forward.dispatch_failed")

    def _dispatch(self) -> None:
        by_register: dict[int, list[int]] = {}
        for pending in self.forwards.pending():
            by_register.setdefault(pending.register_id, []).append(pending.workshift_id)
        pool = self._pool
        assert pool is not None
        for register_id, ids in by_register.items():
            with self._cond:
                if self._stopping or len(self._busy) >= self.upstream.concurrency:
                    return
                if register_id in self._busy:
                    continue
                self._busy.add(register_id)
            pool.submit(self._register, register_id, ids)

    def _register(self, register_id: int, ids: list[int]) -> None:
        """Forward one register's waiting shifts in order, holding its lease."""
        progressed = False
        try:
            with self.leases.holding(JOB, str(register_id)) as lease:
                if lease is None:
                    return  # another daemon forwards this register now
                for workshift_id in ids:
                    with self._cond:
                        if self._stopping or self._retry_at > time.monotonic():
                            break
                    if lease.lost.is_set():
                        break
                    sent = self.forward_shift(workshift_id, lease)
                    if sent.answer.result is Result.FAILED:
                        break
                    progressed = True
        except SQLAlchemyError as exc:
            log.warning("forward.store_unavailable", error=str(exc).splitlines()[0])
        except Exception:
            log.exception("forward.task_failed", register_id=register_id)
        finally:
            with self._cond:
                self._busy.discard(register_id)
                if progressed:  # more may be waiting (this register's, or others')
                    self._wake = True
                self._cond.notify_all()

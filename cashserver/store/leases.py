"""Leases: work that must happen once in the whole cluster is taken through a table row.

Several daemons share one database (SPEC section 14). Before a daemon pulls a
register, exports a shift or runs a daily job, it takes the lease on that work:
the row ``(job, key)`` of the ``leases`` table, with an owner (``[cluster]
node_name``), an expiry and a fencing counter. Taking it is one statement::

    INSERT ... ON CONFLICT (job, key) DO UPDATE ... WHERE leases.expires_at <= now
    RETURNING fence

so of any number of daemons asking at once exactly one gets a row back (PostgreSQL
locks the conflicting row and re-checks the WHERE against its latest version;
SQLite has one writer at a time). The holder renews the lease while it works (a
keeper thread, every third of the time to live) and releases it at the end. A
holder that dies (SIGKILL, a lost network) stops renewing, and the lease is free
for another daemon once it has expired: within ``lease_ttl_s`` (30 s by default).

Why not advisory locks: a session-level advisory lock lives on a connection. A
pool that recycles or replaces the connection drops it silently, and PgBouncer's
transaction pooling hands the session to somebody else between transactions.
A lease is a row, so it survives both and is visible to the operator (``SELECT *
FROM leases``).

Times are the database's clock, never a node's, so nodes whose clocks disagree
still agree on expiry. The fencing counter grows with every taking; writes that
must not come from a holder that lost its lease (one that stalled past its
expiry while another took over) check it inside their own transaction with
:meth:`Leases.confirm`. A released row stays (expired) so the counter keeps
growing; :meth:`Leases.prune` removes long-expired rows. A finished once-a-day job
is :meth:`Leases.complete`: its row never expires, so no daemon takes it again.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, Engine, text

from cashserver.log import get_logger
from cashserver.store.engine import write_transaction

log = get_logger(__name__)

DEFAULT_TTL_S = 30.0
"""A dead holder's lease is free after at most this long: SPEC allows a minute."""
DONE = 2**62
"""The expiry of finished once-only work: never reached, so never taken again."""

_NOW_MS = {
    "postgresql": "CAST(EXTRACT(EPOCH FROM clock_timestamp()) * 1000 AS BIGINT)",
    "sqlite": "CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)",
}


@dataclass(eq=False)
class Lease:
    """A lease this process holds; ``fence`` is unique to this taking of it."""

    job: str
    key: str
    owner: str
    fence: int
    lost: threading.Event = field(default_factory=threading.Event)
    """Set when a renewal found the lease taken by another (or could not renew it in time)."""
    lost_reason: str = ""
    _on_lost: list[Callable[[], None]] = field(default_factory=list)
    _guard: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)
    """Held by the keeper's renewal and by the release, so that a renewal the keeper
    planned before the release cannot land after it and take the lease again."""

    def when_lost(self, hook: Callable[[], None]) -> None:
        """Call ``hook`` when the lease is lost (on the keeper's thread), or now if it is
        lost already; a hook registered as it is lost may run twice: make it idempotent."""
        self._on_lost.append(hook)
        if self.lost.is_set():
            hook()


@dataclass(frozen=True, slots=True)
class Holder:
    """Who holds a lease row, as stored."""

    owner: str
    fence: int
    expires_in_ms: int
    """Negative once expired; huge for finished work."""

    @property
    def done(self) -> bool:
        return self.expires_in_ms > DONE // 2


class Leases:
    """Takes, renews and releases leases for one owner; safe to share between threads."""

    def __init__(self, engine: Engine, owner: str, ttl_s: float = DEFAULT_TTL_S) -> None:
        self.engine = engine
        self.owner = owner
        self.ttl_ms = int(ttl_s * 1000)
        now = _NOW_MS[engine.dialect.name]
        self._take = text(
            "INSERT INTO leases (job, key, owner, fence, acquired_at, expires_at)"
            f" VALUES (:job, :key, :owner, 1, {now}, {now} + :ttl)"
            " ON CONFLICT (job, key) DO UPDATE SET owner = excluded.owner,"
            " fence = leases.fence + 1, acquired_at = excluded.acquired_at,"
            " expires_at = excluded.expires_at"
            f" WHERE leases.expires_at <= {now}"
            " RETURNING fence"
        )
        # Renewal checks the fence, not the expiry: while nobody took the lease over,
        # its fence is unchanged and this holder is still the only one.
        self._renew = text(
            f"UPDATE leases SET expires_at = {now} + :ttl"
            " WHERE job = :job AND key = :key AND fence = :fence AND expires_at < :done"
        )
        # A released lease expires now (so :meth:`prune` measures from its release).
        self._set_expiry = text(
            f"UPDATE leases SET expires_at = COALESCE(:expires, {now})"
            " WHERE job = :job AND key = :key AND fence = :fence"
        )
        self._holder = text(
            f"SELECT owner, fence, expires_at - {now} FROM leases WHERE job = :job AND key = :key"
        )
        self._prune = text(
            f"DELETE FROM leases WHERE expires_at < {now} - :age"
            f" OR (expires_at >= :done AND acquired_at < {now} - :age)"
        )
        self._held: dict[int, tuple[Lease, float]] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._keeper: threading.Thread | None = None

    # -- taking and giving back -------------------------------------------------------

    def acquire_within(self, job: str, key: str, timeout_s: float) -> Lease | None:
        """Take the lease, trying again while another holder has it (its lease ends
        within a time to live, released or expired); None once ``timeout_s`` passed."""
        deadline = time.monotonic() + timeout_s
        while (lease := self.try_acquire(job, key)) is None:
            if time.monotonic() >= deadline:
                return None
            time.sleep(0.2)
        return lease

    def try_acquire(self, job: str, key: str = "") -> Lease | None:
        """Take the lease if it is free (never held, released or expired); else None.

        Not re-entrant: a lease this owner holds is not free either.
        Raises SQLAlchemyError when the database cannot be reached.
        """
        params = {"job": job, "key": key, "owner": self.owner, "ttl": self.ttl_ms}
        with write_transaction(self.engine) as conn:
            fence = conn.execute(self._take, params).scalar()
        if fence is None:
            return None
        lease = Lease(job, key, self.owner, int(fence))
        with self._lock:
            self._held[id(lease)] = (lease, time.monotonic())
        return lease

    def renew(self, lease: Lease) -> bool:
        """Push the expiry a time-to-live ahead; False (and ``lease.lost`` set) if it is gone."""
        with write_transaction(self.engine) as conn:
            ok = self._renew_in(conn, lease)
        if ok:
            with self._lock:
                if id(lease) in self._held:
                    self._held[id(lease)] = (lease, time.monotonic())
        else:
            self._lose(lease, "taken over")
        return ok

    def confirm(self, conn: Connection, lease: Lease) -> bool:
        """Inside the caller's transaction: renew the lease and lock its row until commit.

        True means no other holder can have taken the lease before this transaction
        commits (the fence check). Writes that must come from the holder only go
        in the same transaction, after a True.
        """
        ok = self._renew_in(conn, lease)
        if not ok:
            self._lose(lease, "taken over")
        return ok

    def release(self, lease: Lease) -> None:
        """Give the lease back (it stays as an expired row); a lost lease is left alone."""
        with lease._guard:
            self._forget(lease)
            if not lease.lost.is_set():
                self._expire(lease, None)

    def complete(self, lease: Lease) -> None:
        """Give the lease back as done: nobody takes it again (a daily job's day)."""
        with lease._guard:
            self._forget(lease)
            self._expire(lease, DONE)

    def renew_held(self, lease: Lease) -> bool | None:
        """The keeper's renewal: :meth:`renew` if ``lease`` is still held, else None.

        Renewal checks the fence, not the expiry, so renewing a lease its holder has just
        given back would take it again for a whole time to live, with nobody to give it
        back: the check and the renewal are one step against the release.
        """
        with lease._guard:
            with self._lock:
                if id(lease) not in self._held:
                    return None
            return self.renew(lease)

    @contextmanager
    def holding(self, job: str, key: str = "") -> Iterator[Lease | None]:
        """The lease while the block runs (renewed by the keeper), released after; None
        if another holds it. The block should check ``lease.lost`` between steps."""
        lease = self.try_acquire(job, key)
        try:
            yield lease
        finally:
            if lease is not None:
                self.release(lease)

    def holder(self, job: str, key: str = "") -> Holder | None:
        """The stored holder of a lease, or None if it was never taken (or pruned)."""
        with self.engine.connect() as conn:
            row = conn.execute(self._holder, {"job": job, "key": key}).first()
        return None if row is None else Holder(str(row[0]), int(row[1]), int(row[2]))

    def prune(self, older_than_s: float) -> int:
        """Delete leases expired for longer than ``older_than_s``, and finished work
        taken longer ago than that (a past day's daily job); returns how many."""
        with write_transaction(self.engine) as conn:
            result = conn.execute(self._prune, {"age": int(older_than_s * 1000), "done": DONE})
        return int(result.rowcount or 0)

    # -- the keeper: renews every held lease ------------------------------------------

    def start(self) -> None:
        """Start renewing held leases every third of their time to live."""
        if self._keeper is None:
            self._stop.clear()
            self._keeper = threading.Thread(target=self._keep, name="leases", daemon=True)
            self._keeper.start()

    def stop(self) -> None:
        self._stop.set()
        if self._keeper is not None:
            self._keeper.join(5.0)
            self._keeper = None

    def _keep(self) -> None:
        while not self._stop.wait(self.ttl_ms / 3000):
            with self._lock:
                held = list(self._held.values())
            for lease, renewed_at in held:
                try:
                    self.renew_held(lease)
                except Exception as exc:  # the database is away: retry at the next round
                    if time.monotonic() - renewed_at > self.ttl_ms / 1000:
                        # Past the expiry another daemon may hold it: stop trusting it.
                        self._lose(lease, f"not renewed in time: {exc}".splitlines()[0])

    # -- helpers ---------------------------------------------------------------------

    def _renew_in(self, conn: Connection, lease: Lease) -> bool:
        params: dict[str, Any] = {
            "job": lease.job,
            "key": lease.key,
            "fence": lease.fence,
            "ttl": self.ttl_ms,
            "done": DONE,
        }
        return bool(conn.execute(self._renew, params).rowcount)

    def _expire(self, lease: Lease, expires: int | None) -> None:
        params = {"job": lease.job, "key": lease.key, "fence": lease.fence, "expires": expires}
        with write_transaction(self.engine) as conn:
            conn.execute(self._set_expiry, params)

    def _forget(self, lease: Lease) -> None:
        with self._lock:
            self._held.pop(id(lease), None)

    def _lose(self, lease: Lease, reason: str) -> None:
        self._forget(lease)
        if not lease.lost.is_set():
            lease.lost_reason = reason
            lease.lost.set()
            log.warning("lease.lost", job=lease.job, key=lease.key, reason=reason)
            for hook in list(lease._on_lost):
                hook()

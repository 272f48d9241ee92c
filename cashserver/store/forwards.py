"""Forwarding state (SPEC 15): what the central server acknowledged, shift by shift.

The forwarder is the only writer of ``forwards``; the loader marks each receipt with
the shift revision that stored it (``receipts.revision``). So a shift's backlog is
plain arithmetic on stored numbers, never a second copy of the data:

- a shift is forwarded when ``forwards.acked_revision = shifts.revision``;
- the receipts the central server has not acknowledged are those with
  ``receipts.revision > forwards.acked_revision``;
- a shift is set aside while ``forwards.rejected_revision = shifts.revision``: a new
  revision (the register sent more) is forwarded again, the rejected one is not
  retried by itself.

An acknowledgement only ever moves ``acked_revision`` forward, so a slow answer for an
older revision cannot undo a newer one.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Engine, and_, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite

from cashserver.clock import now_ms
from cashserver.domain import Receipt, Shift, ShiftCounters
from cashserver.store.engine import write_transaction
from cashserver.store.receipt_reads import read_receipt_span
from cashserver.store.schema import COUNTER_COLUMNS, forwards, receipts, registers, shifts

_acked = func.coalesce(forwards.c.acked_revision, 0)
NOT_ACKED = _acked < shifts.c.revision
"""The shift's current revision is not acknowledged (set-aside shifts included)."""
SET_ASIDE = forwards.c.rejected_revision == shifts.c.revision
IN_BACKLOG = and_(NOT_ACKED, or_(forwards.c.rejected_revision.is_(None), ~SET_ASIDE))
"""Waiting to be forwarded: not acknowledged and not set aside."""


def with_forwards(query: Any) -> Any:
    """``query`` (over ``shifts``) joined with the shifts' forwarding rows."""
    return query.outerjoin(forwards, forwards.c.workshift_id == shifts.c.workshift_id)


@dataclass(frozen=True, slots=True)
class Pending:
    """A shift waiting to be forwarded."""

    workshift_id: int
    register_id: int
    revision: int


@dataclass(frozen=True, slots=True)
class Snapshot:
    """A shift header as stored, at ``revision``, and what is already acknowledged."""

    workshift_id: int
    shift: Shift
    revision: int
    acked_revision: int
    rejected_revision: int | None


@dataclass(frozen=True, slots=True)
class Backlog:
    shifts: int
    receipts: int
    oldest_ms: int | None
    rejected: int


def _insert(conn: Connection) -> Any:
    return (sqlite.insert if conn.dialect.name == "sqlite" else postgresql.insert)(forwards)


class Forwards:
    """The forwarding rows on ``engine``."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    # -- reads ---------------------------------------------------------------------

    def pending(self, limit: int = 5000) -> list[Pending]:
        """Shifts waiting to be forwarded, oldest workshift_id first."""
        query = (
            with_forwards(select(shifts.c.workshift_id, shifts.c.register_id, shifts.c.revision))
            .where(IN_BACKLOG)
            .order_by(shifts.c.workshift_id)
            .limit(limit)
        )
        with self.engine.connect() as conn:
            return [Pending(int(a), int(b), int(c)) for a, b, c in conn.execute(query)]

    def snapshot(self, workshift_id: int) -> Snapshot | None:
        """The shift's header as stored now, with its revision; None if there is none."""
        query = with_forwards(
            select(
                shifts,
                registers.c.store_code,
                registers.c.register_code,
                forwards.c.rejected_revision,
                _acked,
            ).join(registers, registers.c.register_id == shifts.c.register_id)
        ).where(shifts.c.workshift_id == workshift_id)
        with self.engine.connect() as conn:
            row = conn.execute(query).first()
        if row is None:
            return None
        counters = (
            ShiftCounters(**{n: getattr(row, f"c_{n}") for n in COUNTER_COLUMNS})
            if row.has_counters
            else None
        )
        shift = Shift(
            store_code=row.store_code,
            register_code=row.register_code,
            shift_number=row.shift_number,
            opened_at=row.opened_at,
            closed_at=row.closed_at,
            counters=counters,
        )
        rejected = row.rejected_revision
        return Snapshot(
            workshift_id,
            shift,
            int(row.revision),
            int(row[-1]),
            None if rejected is None else int(rejected),
        )

    def receipt_ids(self, workshift_id: int, after: int, upto: int) -> list[int]:
        """Ids of the shift's receipts stored by revisions ``after < r <= upto``."""
        query = (
            select(receipts.c.receipt_id)
            .where(receipts.c.workshift_id == workshift_id)
            .where(receipts.c.revision > after)
            .where(receipts.c.revision <= upto)
            .order_by(receipts.c.receipt_id)
        )
        with self.engine.connect() as conn:
            return [int(i) for i in conn.execute(query).scalars()]

    def receipts(
        self, workshift_id: int, after: int, upto: int, receipt_ids: Sequence[int]
    ) -> list[Receipt]:
        """The receipts ``receipt_ids`` (a sorted run of :meth:`receipt_ids`' answer for
        the same shift and revisions): one range read, through the driver."""
        if not receipt_ids:
            return []
        with self.engine.connect() as conn:
            return read_receipt_span(
                conn, workshift_id, after, upto, receipt_ids[0], receipt_ids[-1]
            )

    def backlog(self) -> Backlog:
        """The SPEC 15 counts: backlog shifts, their receipts not acknowledged, the oldest
        unacknowledged revision's time, and the set-aside shifts."""
        # When a never-acknowledged shift was stored is its creation; for one acknowledged
        # before, the first unacknowledged revision was stored after the acknowledged one,
        # so no earlier than the acknowledgement: the later of the two bounds it.
        since = func.coalesce(
            func.max(forwards.c.acked_at, shifts.c.created_at)
            if self.engine.dialect.name == "sqlite"
            else func.greatest(forwards.c.acked_at, shifts.c.created_at),
            shifts.c.created_at,
        )
        waiting = with_forwards(select(func.count(), func.min(since)).select_from(shifts)).where(
            IN_BACKLOG
        )
        waiting_receipts = (
            select(func.count())
            .select_from(receipts)
            .join(shifts, shifts.c.workshift_id == receipts.c.workshift_id)
            .outerjoin(forwards, forwards.c.workshift_id == shifts.c.workshift_id)
            .where(IN_BACKLOG)
            .where(receipts.c.revision > _acked)
        )
        aside = with_forwards(select(func.count()).select_from(shifts)).where(SET_ASIDE)
        with self.engine.connect() as conn:
            count, oldest = conn.execute(waiting).one()
            backlog_receipts = conn.execute(waiting_receipts).scalar_one()
            rejected = conn.execute(aside).scalar_one()
        return Backlog(
            int(count),
            int(backlog_receipts),
            None if oldest is None else int(oldest),
            int(rejected),
        )

    def rejected(self, limit: int = 100) -> list[dict[str, Any]]:
        """The set-aside shifts, oldest first: workshift_id, message, at (ms)."""
        query = (
            with_forwards(select(shifts.c.workshift_id, forwards.c.message, forwards.c.rejected_at))
            .where(SET_ASIDE)
            .order_by(forwards.c.rejected_at, shifts.c.workshift_id)
            .limit(limit)
        )
        with self.engine.connect() as conn:
            return [
                {"workshift_id": int(ws), "message": msg or "", "at": at}
                for ws, msg, at in conn.execute(query)
            ]

    def set_aside_ids(self) -> list[int]:
        query = with_forwards(select(shifts.c.workshift_id)).where(SET_ASIDE)
        with self.engine.connect() as conn:
            return [int(ws) for ws in conn.execute(query.order_by(shifts.c.workshift_id)).scalars()]

    # -- writes (the forwarder's) --------------------------------------------------

    def mark_acked(
        self,
        workshift_id: int,
        revision: int,
        central_workshift_id: int | None,
        confirm: Callable[[Connection], bool] | None = None,
    ) -> bool:
        """Record that the central server acknowledged ``revision``; never moves back.

        ``confirm`` runs first in the same transaction (the lease's fence check); when
        it says False nothing is recorded and False is returned.
        """
        now = now_ms()
        with write_transaction(self.engine) as conn:
            if confirm is not None and not confirm(conn):
                return False
            self._ensure(conn, workshift_id)
            conn.execute(
                update(forwards)
                .where(forwards.c.workshift_id == workshift_id)
                .where(forwards.c.acked_revision < revision)
                .values(
                    acked_revision=revision,
                    acked_at=now,
                    central_workshift_id=central_workshift_id or forwards.c.central_workshift_id,
                )
            )
            conn.execute(
                update(forwards)
                .where(forwards.c.workshift_id == workshift_id)
                .where(forwards.c.rejected_revision <= revision)
                .values(rejected_revision=None, message=None, rejected_at=None)
            )
        return True

    def mark_rejected(
        self,
        workshift_id: int,
        revision: int,
        message: str,
        confirm: Callable[[Connection], bool] | None = None,
    ) -> bool:
        """Set the shift's ``revision`` aside with the central server's answer."""
        with write_transaction(self.engine) as conn:
            if confirm is not None and not confirm(conn):
                return False
            self._ensure(conn, workshift_id)
            conn.execute(
                update(forwards)
                .where(forwards.c.workshift_id == workshift_id)
                .values(rejected_revision=revision, message=message, rejected_at=now_ms())
            )
        return True

    @staticmethod
    def _ensure(conn: Connection, workshift_id: int) -> None:
        statement = _insert(conn).values(workshift_id=workshift_id, acked_revision=0)
        conn.execute(statement.on_conflict_do_nothing(index_elements=["workshift_id"]))

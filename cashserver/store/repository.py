"""Loading uploads into the database: the identity rules, then receipts in bulk.

:meth:`Repository.load_batch` is the only writer of shifts and receipts. It
applies SPEC section 2 to each upload inside one transaction, so a batch is
stored whole or not at all. Receipts, lines and payments go in through
:mod:`cashserver.store.bulk`: executemany on SQLite, ``COPY`` on PostgreSQL, the
receipts with ``ON CONFLICT DO NOTHING`` on the uid either way.

Concurrent loaders are safe: on SQLite the transaction holds the write lock from
its start; on PostgreSQL the register's row is locked ``FOR UPDATE`` before its
shifts are read, so two loads for one register queue up, and a uid raced in by
another register is caught by the insert's conflict clause and its row count.
This holds for loaders in different daemons on one database too: the lock is a
row lock in the database, not in a process.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import BigInteger, Connection, Engine, bindparam, select, update

from cashserver.clock import now_ms
from cashserver.domain import Origin, Receipt, Shift, ShiftCounters, Upload, UploadStatus
from cashserver.log import get_logger
from cashserver.rules import (
    Candidate,
    Conflict,
    MergeInto,
    NewShift,
    Rejected,
    against_stored,
    decide,
    within_upload,
)
from cashserver.store.bulk import bulk_writer
from cashserver.store.engine import loader_transaction, sync_commits
from cashserver.store.reading import read_receipts
from cashserver.store.registers import lock_register, note_loaded
from cashserver.store.schema import (
    COUNTER_COLUMNS,
    receipts,
    shifts,
)
from cashserver.store.statements import HotStatements
from cashserver.store.totals import TotalsWriter, numbers_in_range

log = get_logger(__name__)

IN_CHUNK = 900
"""uids per ``IN (...)`` query: under SQLite's oldest variable limit of 999."""


@dataclass(frozen=True, slots=True)
class LoadOutcome:
    """What loading one upload did."""

    store_code: str
    register_code: str
    shift_number: int
    status: UploadStatus
    workshift_id: int = 0
    receipts_received: int = 0
    receipts_stored: int = 0
    receipts_duplicate: int = 0
    created: bool = False
    changed: bool = False
    closed: bool = False
    reason: str = ""
    conflicts: tuple[Conflict, ...] = field(default=())


# Built once (building a statement costs more than running it from SQLAlchemy's
# compiled cache); the receipts' own statements are in HotStatements.
_STORED_SHIFTS = (
    select(shifts)
    .where(shifts.c.register_id == bindparam("register_id"))
    .where(shifts.c.shift_number == bindparam("shift_number"))
)
_INSERT_SHIFT = shifts.insert()
_first_at = bindparam("first_at", type_=BigInteger)
_FIRST_RECEIPT = (
    update(shifts)
    .where(shifts.c.workshift_id == bindparam("id"))
    .where(shifts.c.first_receipt_at.is_(None) | (shifts.c.first_receipt_at > _first_at))
    .values(first_receipt_at=_first_at)
)


def _chunks(items: Sequence[str], size: int = IN_CHUNK) -> Iterable[Sequence[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


class Repository:
    """The store's write side for shifts and receipts."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.dialect = engine.dialect.name
        self._sql = HotStatements(self.dialect)
        self._totals = TotalsWriter(self.dialect)
        self._bulk = bulk_writer(self.dialect, self._sql)

    # -- loading -----------------------------------------------------------------

    def sync_commits(self) -> None:
        """Make every load committed so far durable against a power cut (a no-op
        where each commit already is): :func:`~cashserver.store.engine.sync_commits`."""
        sync_commits(self.engine)

    def load(self, upload: Upload) -> LoadOutcome:
        """Load one upload in its own transaction."""
        return self.load_batch([upload])[0]

    def load_batch(
        self,
        uploads: Iterable[Upload],
        origins: Sequence[Origin] = (),
        registers: Sequence[tuple[str, str]] | None = None,
    ) -> list[LoadOutcome]:
        """Load uploads in order, all in one transaction; log what happened after commit.

        ``origins`` (one per upload; none: all pushed) go into the ``shift.loaded``
        events. ``registers``, the batch's (store, register) codes, lets ``uploads``
        be an iterator that hands over one upload at a time: the caller then holds
        none, and each upload is freed as soon as it is in the transaction (a batch
        of 1,000-receipt uploads is 2 MB of objects each). Raises whatever the
        database raises; then nothing of the batch is stored.
        """
        if registers is None:
            uploads = list(uploads)
            registers = [(u.shift.store_code, u.shift.register_code) for u in uploads]
        with loader_transaction(self.engine, self._bulk.setup) as conn:
            # Lock the batch's registers in one order, so two nodes loading batches
            # of the same registers queue up instead of deadlocking.
            ids = {codes: lock_register(conn, *codes) for codes in sorted(set(registers))}
            outcomes = [
                self._load_one(conn, u, ids[u.shift.store_code, u.shift.register_code])
                for u in uploads
            ]
        for outcome, origin in zip(outcomes, origins or [Origin()] * len(outcomes), strict=True):
            _log_outcome(outcome, origin)
        return outcomes

    def _load_one(self, conn: Connection, upload: Upload, register_id: int) -> LoadOutcome:
        """Load one upload of a register the batch has locked (``register_id``)."""
        shift = upload.shift
        stored = conn.execute(
            _STORED_SHIFTS, {"register_id": register_id, "shift_number": shift.shift_number}
        ).all()
        decision = decide(shift.opened_at, [Candidate(r.workshift_id, r.opened_at) for r in stored])
        base: dict[str, Any] = {
            "store_code": shift.store_code,
            "register_code": shift.register_code,
            "shift_number": shift.shift_number,
            "receipts_received": len(upload.receipts),
        }
        if isinstance(decision, Rejected):
            return LoadOutcome(status=UploadStatus.REJECTED, reason=decision.reason, **base)

        unique, repeats = within_upload(upload.receipts)
        now = now_ms()
        if isinstance(decision, NewShift):
            workshift_id = self._insert_shift(conn, register_id, shift, now)
            row: Any = None
            revision = 1
        else:
            assert isinstance(decision, MergeInto)
            workshift_id = decision.workshift_id
            row = next(r for r in stored if r.workshift_id == workshift_id)
            revision = int(row.revision) + 1  # what _update_header sets when receipts go in

        inserted, others, stored_last_sale = self._insert_receipts(
            conn, workshift_id, revision, list(unique.values())
        )
        stored_count = len(inserted)
        # ``others``: uids that were stored already (before, or by a racing load). Only
        # those of this very shift are read back, to compare their content.
        same_shift = [rid for ws, rid in others.values() if ws == workshift_id]
        first_versions = {r.uid: r for r in self._stored_receipts(conn, same_shift)}
        repeats += against_stored(
            workshift_id,
            unique,
            {uid: (ws, first_versions.get(uid)) for uid, (ws, _) in others.items()},
        )

        note_loaded(conn, register_id, now, stored_last_sale)
        changed = isinstance(decision, NewShift) or stored_count > 0
        if row is not None:
            changed = self._update_header(conn, row, shift, stored_count > 0, now)
        self._keep_totals(conn, workshift_id, register_id, shift, row, inserted)
        return LoadOutcome(
            status=UploadStatus.LOADED,
            workshift_id=workshift_id,
            receipts_stored=stored_count,
            receipts_duplicate=repeats.duplicate,
            created=isinstance(decision, NewShift),
            changed=changed,
            closed=shift.closed_at is not None or (row is not None and row.closed_at is not None),
            conflicts=repeats.conflicts,
            **base,
        )

    def _known_receipts(self, conn: Connection, uids: list[str]) -> dict[str, tuple[int, int]]:
        """Which of ``uids`` are stored: uid -> (workshift_id, receipt_id)."""
        known: dict[str, tuple[int, int]] = {}
        for chunk in _chunks(uids):
            for uid, workshift_id, receipt_id in conn.exec_driver_sql(
                self._sql.known(len(chunk)), tuple(chunk)
            ):
                known[uid] = (workshift_id, receipt_id)
        return known

    def _stored_receipts(self, conn: Connection, receipt_ids: list[int]) -> list[Receipt]:
        """Stored receipts by id, whole, to compare a re-sent receipt with the first one."""
        stored: list[Receipt] = []
        for start in range(0, len(receipt_ids), IN_CHUNK):
            chunk = receipt_ids[start : start + IN_CHUNK]
            stored.extend(read_receipts(conn, receipts.c.receipt_id.in_(chunk)))
        return stored

    def _insert_shift(self, conn: Connection, register_id: int, shift: Shift, now: int) -> int:
        values: dict[str, Any] = {
            "register_id": register_id,
            "shift_number": shift.shift_number,
            "opened_at": shift.opened_at,
            "closed_at": shift.closed_at,
            "revision": 1,
            "created_at": now,
            "updated_at": now,
            **_counter_values(shift.counters),
        }
        result = conn.execute(_INSERT_SHIFT, values)
        return int(result.inserted_primary_key[0])  # type: ignore[index]

    def _receipt_ids(self, conn: Connection, count: int) -> list[int]:
        """``count`` new receipt ids, increasing, that no other transaction will use."""
        if self.dialect == "sqlite":
            first = int(conn.exec_driver_sql(self._sql.next_ids).scalar_one())
            return list(range(first, first + count))
        return [int(i) for i in conn.exec_driver_sql(self._sql.next_ids, (count,)).scalars()]

    def _insert_receipts(
        self, conn: Connection, workshift_id: int, revision: int, candidates: list[Receipt]
    ) -> tuple[list[Receipt], dict[str, tuple[int, int]], int | None]:
        """Insert the receipts whose uid is not stored yet, with their lines and payments.

        The insert's conflict clause skips stored uids; only when its row count
        says some were skipped are the uids looked up. Returns the receipts
        stored (each marked with ``revision``, the shift's revision this load makes), the
        skipped uids: uid -> (workshift_id, receipt_id) of the
        stored receipt (stored before, or by another transaction meanwhile), and
        the latest ``closed_at`` of the receipts stored now.
        """
        if not candidates:
            return [], {}, None
        ids = self._receipt_ids(conn, len(candidates))
        # Enum members as plain ints: sqlite3 binds an int subclass through its adapter
        # lookup, half again the cost of the whole parameter.
        rows = [
            (rid, r.uid, workshift_id, r.number, int(r.kind), r.closed_at, r.cashier, revision)
            for rid, r in zip(ids, candidates, strict=True)
        ]
        inserted = self._bulk.receipts(conn, rows)
        ours = list(zip(ids, candidates, strict=True))
        others: dict[str, tuple[int, int]] = {}
        if inserted != len(rows):
            known = self._known_receipts(conn, [r.uid for r in candidates])
            mine = {rid for rid, _ in ours}
            others = {uid: seen for uid, seen in known.items() if seen[1] not in mine}
            ours = [(rid, r) for rid, r in ours if r.uid not in others]
        # A line is a named tuple in its table's column order: unpacking it is C-fast.
        line_rows = [(rid, i, *ln) for rid, r in ours for i, ln in enumerate(r.lines)]
        payment_rows = [
            (rid, i, int(method), amount)
            for rid, r in ours
            for i, (method, amount) in enumerate(r.payments)
        ]
        if line_rows:
            self._bulk.lines(conn, line_rows)
        if payment_rows:
            self._bulk.payments(conn, payment_rows)
        stored = [r for _, r in ours]
        if not stored:
            return stored, others, None
        times = [r.closed_at for r in stored]
        conn.execute(_FIRST_RECEIPT, {"id": workshift_id, "first_at": min(times)})
        return stored, others, max(times)

    def _keep_totals(
        self,
        conn: Connection,
        workshift_id: int,
        register_id: int,
        shift: Shift,
        row: Any,
        inserted: list[Receipt],
    ) -> None:
        """Add the inserted receipts to the shift's totals; recount its receipt numbers
        when its receipts or its counters' range changed."""
        before = (
            (row.c_first_receipt_number, row.c_last_receipt_number)
            if row is not None and row.has_counters
            else None
        )
        counters = shift.counters
        span = (counters.first_receipt_number, counters.last_receipt_number) if counters else before
        store_code = shift.store_code
        if row is None:  # a new shift: its numbers are all among the inserted
            numbers = numbers_in_range((r.number for r in inserted), *span) if span else 0
            self._totals.add(conn, workshift_id, register_id, store_code, inserted, numbers)
            return
        self._totals.add(conn, workshift_id, register_id, store_code, inserted)
        if span is not None and (inserted or span != before):
            self._totals.recount(conn, workshift_id, *span)

    def _update_header(
        self,
        conn: Connection,
        row: Any,
        shift: Shift,
        receipts_added: bool,
        now: int,
    ) -> bool:
        """Merge header fields into a stored shift; bump its revision if anything changed."""
        values: dict[str, Any] = {}
        if row.opened_at is None and shift.opened_at is not None:
            values["opened_at"] = shift.opened_at
        if shift.closed_at is not None and shift.closed_at != row.closed_at:
            values["closed_at"] = shift.closed_at
        if shift.counters is not None:
            counters = _counter_values(shift.counters)
            if any(getattr(row, k) != v for k, v in counters.items()):
                values.update(counters)
        if not values and not receipts_added:
            return False
        conn.execute(
            update(shifts)
            .where(shifts.c.workshift_id == row.workshift_id)
            .values(revision=shifts.c.revision + 1, updated_at=now, **values)
        )
        return True


def _counter_values(counters: ShiftCounters | None) -> dict[str, Any]:
    if counters is None:
        return {}
    values: dict[str, Any] = {"has_counters": 1}
    for name in COUNTER_COLUMNS:
        values[f"c_{name}"] = getattr(counters, name)
    return values


def _log_outcome(outcome: LoadOutcome, origin: Origin) -> None:
    where = {
        "store_code": outcome.store_code,
        "register_code": outcome.register_code,
        "shift_number": outcome.shift_number,
    }
    if outcome.status is UploadStatus.REJECTED:
        log.warning("shift.rejected", reason=outcome.reason, **where)
        return
    for conflict in outcome.conflicts:
        log.warning(
            "receipt.conflict",
            uid=conflict.uid,
            workshift_id=outcome.workshift_id,
            stored_workshift_id=conflict.stored_workshift_id or outcome.workshift_id,
            reason=conflict.reason,
        )
    log.info(
        "shift.loaded",
        workshift_id=outcome.workshift_id,
        created=outcome.created,
        receipts_received=outcome.receipts_received,
        receipts_stored=outcome.receipts_stored,
        receipts_duplicate=outcome.receipts_duplicate,
        source=origin.source,
        **where,
        **({"forwarded_by": origin.forwarded_by} if origin.source == "forward" else {}),
    )

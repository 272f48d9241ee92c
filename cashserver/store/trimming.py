"""Deleting old shifts for the database trimmer (SPEC 13): the only deleter of shifts.

A shift may go when its exchange files are up to date (``exports.revision =
shifts.revision``) and its last receipt closed before the cut-off (a shift without
receipts: its close, else open, else creation time). It goes with its receipts,
their lines and payments, its totals and its export record, in write transactions of at most
a given number of receipts, so the loader's transactions get the database between
them. Every transaction checks again, inside itself, that each shift is still
exported: a shift that a late upload changed meanwhile has a new revision and
stays. A shift with more receipts than one transaction takes loses them over
several transactions, the shift row going with the last; a crash in between leaves
an exported shift with fewer receipts, which the next run finishes.

While forwarding is on (SPEC 15, ``forwarding=True``) a shift must also have its
current revision acknowledged by the central server (``forwards.acked_revision =
shifts.revision``), checked the same way inside every transaction. A deleted shift's
forwarding row goes with it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import ColumnElement, Connection, Engine, Select, func, select

from cashserver.store.engine import write_transaction
from cashserver.store.schema import (
    exports,
    forwards,
    lines,
    payments,
    receipts,
    registers,
    shifts,
)
from cashserver.store.totals import ID_CHUNK, TotalsWriter


@dataclass(frozen=True, slots=True)
class TrimCandidate:
    workshift_id: int
    store_code: str
    register_code: str
    shift_number: int
    receipts: int
    last_receipt_at: int


def _last_receipt_at() -> ColumnElement[int]:
    return func.coalesce(
        func.max(receipts.c.closed_at),
        shifts.c.closed_at,
        shifts.c.opened_at,
        shifts.c.created_at,
    )


def _done(forwarding: bool) -> ColumnElement[bool]:
    """The shift's current revision is exported (and, ``forwarding``, acknowledged)."""
    exported = exports.c.revision == shifts.c.revision
    if not forwarding:
        return exported
    acked = (
        select(forwards.c.workshift_id)
        .where(forwards.c.workshift_id == shifts.c.workshift_id)
        .where(forwards.c.acked_revision == shifts.c.revision)
        .exists()
    )
    return exported & acked


def trim_candidates(
    engine: Engine, before_ms: int, forwarding: bool = False
) -> list[TrimCandidate]:
    """Exported (and, ``forwarding``, acknowledged) shifts whose last receipt closed
    before ``before_ms``, oldest id first."""
    last = _last_receipt_at()
    query = (
        select(
            shifts.c.workshift_id,
            registers.c.store_code,
            registers.c.register_code,
            shifts.c.shift_number,
            func.count(receipts.c.receipt_id),
            last,
        )
        .join(exports, exports.c.workshift_id == shifts.c.workshift_id)
        .join(registers, registers.c.register_id == shifts.c.register_id)
        .outerjoin(receipts, receipts.c.workshift_id == shifts.c.workshift_id)
        .where(_done(forwarding))
        .group_by(
            shifts.c.workshift_id,
            registers.c.store_code,
            registers.c.register_code,
            shifts.c.shift_number,
        )
        .having(last < before_ms)
        .order_by(shifts.c.workshift_id)
    )
    with engine.connect() as conn:
        return [
            TrimCandidate(int(ws), str(store), str(register), int(n), int(count), int(at))
            for ws, store, register, n, count, at in conn.execute(query)
        ]


def _still_exported(conn: Connection, ids: Sequence[int], forwarding: bool) -> list[int]:
    query = (
        select(shifts.c.workshift_id)
        .join(exports, exports.c.workshift_id == shifts.c.workshift_id)
        .where(shifts.c.workshift_id.in_(ids), _done(forwarding))
    )
    return [int(ws) for ws in conn.execute(query).scalars()]


def _delete_receipts(conn: Connection, chosen: Select[tuple[int]]) -> int:
    """Delete the receipts that ``chosen`` (a receipt_id query) names, lines first."""
    conn.execute(lines.delete().where(lines.c.receipt_id.in_(chosen)))
    conn.execute(payments.delete().where(payments.c.receipt_id.in_(chosen)))
    return int(conn.execute(receipts.delete().where(receipts.c.receipt_id.in_(chosen))).rowcount)


def delete_some_receipts(
    engine: Engine, workshift_id: int, limit: int, forwarding: bool = False
) -> int:
    """Delete up to ``limit`` receipts of one exported shift; returns how many (0 when
    the shift is no longer exported, or has none left). Its totals lose them first."""
    with write_transaction(engine) as conn:
        if not _still_exported(conn, [workshift_id], forwarding):
            return 0
        ids = [
            int(rid)
            for rid in conn.execute(
                select(receipts.c.receipt_id)
                .where(receipts.c.workshift_id == workshift_id)
                .order_by(receipts.c.receipt_id)
                .limit(limit)
            ).scalars()
        ]
        TotalsWriter(engine.dialect.name).forget_receipts(conn, ids)
        deleted = 0
        for start in range(0, len(ids), ID_CHUNK):  # bounded IN lists on both backends
            chunk = ids[start : start + ID_CHUNK]
            deleted += _delete_receipts(
                conn, select(receipts.c.receipt_id).where(receipts.c.receipt_id.in_(chunk))
            )
        return deleted


def delete_shifts(
    engine: Engine, workshift_ids: Sequence[int], forwarding: bool = False
) -> list[int]:
    """Delete these shifts (those still exported) whole, in one transaction; returns
    the ids deleted."""
    with write_transaction(engine) as conn:
        ids = _still_exported(conn, workshift_ids, forwarding)
        if not ids:
            return []
        TotalsWriter(engine.dialect.name).forget_shifts(conn, ids)
        _delete_receipts(
            conn, select(receipts.c.receipt_id).where(receipts.c.workshift_id.in_(ids))
        )
        conn.execute(exports.delete().where(exports.c.workshift_id.in_(ids)))
        conn.execute(forwards.delete().where(forwards.c.workshift_id.in_(ids)))
        conn.execute(shifts.delete().where(shifts.c.workshift_id.in_(ids)))
    return ids

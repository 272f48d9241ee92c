"""The database trimmer (SPEC 13): old exported shifts leave the database.

Off by default (``[jobs] keep_shifts_days = 0``). When on, it runs daily after the
archive, and on demand as ``cashserver trim [--dry-run]``. What it deletes and how
(exported shifts only, transactions of at most ``trim_batch_receipts`` receipts,
each checking again) is :mod:`cashserver.store.trimming`; this module groups the
shifts into those transactions and logs ``shift.trimmed`` for each shift deleted.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine

from cashserver.clock import DAY_MS, iso_utc, now_ms
from cashserver.log import get_logger
from cashserver.store.trimming import (
    TrimCandidate,
    delete_shifts,
    delete_some_receipts,
    trim_candidates,
)

log = get_logger(__name__)


class TrimmerOff(Exception):
    """``keep_shifts_days`` is 0: the trimmer does nothing."""


@dataclass
class ShiftsTrim:
    """What a trimmer run did (or, with ``dry_run``, would do)."""

    keep_days: int
    before_ms: int
    dry_run: bool
    shifts: list[TrimCandidate] = field(default_factory=list)
    """Deleted (or to be deleted), in workshift_id order."""
    kept: list[int] = field(default_factory=list)
    """Candidates that changed while the trimmer ran (a late upload) and stayed."""
    transactions: int = 0
    longest_transaction_s: float = 0.0

    @property
    def receipts(self) -> int:
        return sum(c.receipts for c in self.shifts)

    def as_json(self) -> dict[str, Any]:
        return {
            "keep_shifts_days": self.keep_days,
            "before": iso_utc(self.before_ms),
            "dry_run": self.dry_run,
            "shifts": [
                {
                    "workshift_id": c.workshift_id,
                    "store_code": c.store_code,
                    "register_code": c.register_code,
                    "shift_number": c.shift_number,
                    "receipts": c.receipts,
                    "last_receipt_at": iso_utc(c.last_receipt_at),
                }
                for c in self.shifts
            ],
            "receipts": self.receipts,
            "kept": self.kept,
            "transactions": self.transactions,
            "longest_transaction_s": round(self.longest_transaction_s, 4),
        }


class _Run:
    def __init__(self, engine: Engine, result: ShiftsTrim, forwarding: bool) -> None:
        self.engine = engine
        self.result = result
        self.forwarding = forwarding

    def timed(self, seconds: float) -> None:
        self.result.transactions += 1
        self.result.longest_transaction_s = max(self.result.longest_transaction_s, seconds)

    def delete_whole(self, group: list[TrimCandidate]) -> None:
        if not group:
            return
        started = time.perf_counter()
        ids = [c.workshift_id for c in group]
        deleted = set(delete_shifts(self.engine, ids, self.forwarding))
        self.timed(time.perf_counter() - started)
        for candidate in group:
            if candidate.workshift_id in deleted:
                self.trimmed(candidate)
            else:
                self.result.kept.append(candidate.workshift_id)

    def delete_large(self, candidate: TrimCandidate, batch: int) -> None:
        """A shift of more than ``batch`` receipts: receipts in chunks, the shift last."""
        left = candidate.receipts
        while left > batch:
            started = time.perf_counter()
            removed = delete_some_receipts(
                self.engine, candidate.workshift_id, batch, self.forwarding
            )
            self.timed(time.perf_counter() - started)
            if removed == 0:  # changed meanwhile, or its receipts went another way
                break
            left -= removed
        self.delete_whole([candidate])

    def trimmed(self, c: TrimCandidate) -> None:
        self.result.shifts.append(c)
        log.info(
            "shift.trimmed",
            workshift_id=c.workshift_id,
            store_code=c.store_code,
            register_code=c.register_code,
            shift_number=c.shift_number,
            receipts=c.receipts,
            last_receipt_at=iso_utc(c.last_receipt_at),
        )


def trim_shifts(
    engine: Engine,
    keep_days: int,
    batch_receipts: int,
    dry_run: bool = False,
    now: int | None = None,
    forwarding: bool = False,
) -> ShiftsTrim:
    """Delete the exported shifts whose last receipt is older than ``keep_days``.

    Raises :class:`TrimmerOff` when ``keep_days`` is 0. ``dry_run`` lists what would
    go, deleting nothing and logging nothing. ``forwarding`` (an ``[upstream] target``
    is set): a shift whose current revision the central server has not acknowledged
    stays too (SPEC 15).
    """
    if keep_days <= 0:
        raise TrimmerOff("jobs.keep_shifts_days is 0: the database trimmer is off")
    before = (now_ms() if now is None else now) - keep_days * DAY_MS
    result = ShiftsTrim(keep_days, before, dry_run)
    candidates = trim_candidates(engine, before, forwarding)
    if dry_run:
        result.shifts = candidates
        return result
    run = _Run(engine, result, forwarding)
    group: list[TrimCandidate] = []
    size = 0
    for candidate in candidates:
        if candidate.receipts > batch_receipts:
            run.delete_large(candidate, batch_receipts)
            continue
        if size + candidate.receipts > batch_receipts:
            run.delete_whole(group)
            group, size = [], 0
        group.append(candidate)
        size += candidate.receipts
    run.delete_whole(group)
    return result

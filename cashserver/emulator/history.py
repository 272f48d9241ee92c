"""A register's deterministic sales history, for ``emulator serve`` (RegisterSales).

Shift ``n`` of the history is ``generate_upload`` of the same plan whatever the
query, so a time-range pull and a shift-range pull see the same receipts.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from msgspec.structs import replace

from cashserver.clock import DAY_MS
from cashserver.domain import SalesQuery, ShiftRange, TimeRange, Upload
from cashserver.emulator.generate import BASE_TIME_MS, ShiftPlan, generate_upload, opened_at_for


@dataclass(frozen=True, slots=True)
class History:
    store_code: str
    register_code: str
    shifts: int = 60
    receipts: int = 100
    lines: int = 3
    seed: int = 0
    day_one_ms: int = BASE_TIME_MS
    """Shift ``n`` opens ``n - 1`` days and 8 hours after this (see :class:`ShiftPlan`)."""

    def shift(self, number: int) -> Upload:
        return generate_upload(
            ShiftPlan(
                self.store_code,
                self.register_code,
                number,
                self.receipts,
                self.lines,
                self.seed,
                day_one_ms=self.day_one_ms,
            )
        )

    def sales(
        self, query: SalesQuery, shift: Callable[[int], Upload] | None = None
    ) -> list[Upload]:
        """The uploads answering ``query``: whole shifts for a shift range; for a time
        range, every shift with a receipt in ``[from, to)`` and only those receipts.
        ``shift`` makes shift ``n`` (default :meth:`shift`; a server may keep them)."""
        make = shift or self.shift
        if isinstance(query, ShiftRange):
            last = min(query.to_shift, self.shifts)
            return [make(n) for n in range(max(1, query.from_shift), last + 1)]
        return self._in_time(query, make)

    def _in_time(self, query: TimeRange, make: Callable[[int], Upload]) -> list[Upload]:
        result = []
        for number in range(1, self.shifts + 1):
            opened = opened_at_for(number, self.day_one_ms)
            if opened >= query.to_ms or opened + DAY_MS <= query.from_ms:
                continue
            upload = make(number)
            inside = tuple(r for r in upload.receipts if query.from_ms <= r.closed_at < query.to_ms)
            if inside:
                result.append(replace(upload, receipts=inside))
        return result

"""Uploads moved back in time, for the database trimmer."""

from __future__ import annotations

from msgspec.structs import replace

from cashserver.domain import Upload

DAY_MS = 86_400_000


def aged(upload: Upload, days_ago: float, now: int) -> Upload:
    """The upload moved in time so that its last receipt closed ``days_ago`` days before now."""
    last = max(r.closed_at for r in upload.receipts)
    delta = now - int(days_ago * DAY_MS) - last
    shift = upload.shift
    return replace(
        upload,
        shift=replace(
            shift,
            opened_at=None if shift.opened_at is None else shift.opened_at + delta,
            closed_at=None if shift.closed_at is None else shift.closed_at + delta,
        ),
        receipts=tuple(replace(r, closed_at=r.closed_at + delta) for r in upload.receipts),
    )

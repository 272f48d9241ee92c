"""The shift identity rules of SPEC section 2, as one pure function.

:func:`decide` looks at an incoming shift's open time and the stored shifts of
the same register with the same number, and says whether the incoming shift is
new, is merged into a stored one, or is not loaded at all.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

SAME_SHIFT_WINDOW_MS = 48 * 3600 * 1000
"""Open times closer than this (strictly) belong to the same shift."""


@dataclass(frozen=True, slots=True)
class Candidate:
    """A stored shift with the incoming shift's register and number."""

    workshift_id: int
    opened_at: int | None


@dataclass(frozen=True, slots=True)
class NewShift:
    """Store as a new shift with a new workshift_id (rules 1 and 5)."""


@dataclass(frozen=True, slots=True)
class MergeInto:
    """Merge into a stored shift (rules 3 and 4)."""

    workshift_id: int
    fill_opened_at: bool
    """The stored open time is null and the incoming one fills it in."""


@dataclass(frozen=True, slots=True)
class Rejected:
    """Not loaded (rule 2)."""

    reason: str


Decision = NewShift | MergeInto | Rejected

NULL_OPEN_REASON = "open time is null here and on every stored shift with this number"


def decide(opened_at: int | None, candidates: Sequence[Candidate]) -> Decision:
    """Apply rules 1-5 in order to an incoming open time and its candidates."""
    if not candidates:
        return NewShift()
    if opened_at is None:
        with_time = [c for c in candidates if c.opened_at is not None]
        if not with_time:
            return Rejected(NULL_OPEN_REASON)
        return MergeInto(max(c.workshift_id for c in with_time), fill_opened_at=False)
    near = [
        (abs(opened_at - c.opened_at), -c.workshift_id)
        for c in candidates
        if c.opened_at is not None and abs(opened_at - c.opened_at) < SAME_SHIFT_WINDOW_MS
    ]
    if near:
        return MergeInto(-min(near)[1], fill_opened_at=False)
    null_open = [c for c in candidates if c.opened_at is None]
    if null_open:
        return MergeInto(max(c.workshift_id for c in null_open), fill_opened_at=True)
    return NewShift()

"""The rules of SPEC section 2 as pure functions: which shift, and which receipts.

:func:`decide` looks at an incoming shift's open time and the stored shifts of
the same register with the same number, and says whether the incoming shift is
new, is merged into a stored one, or is not loaded at all. :func:`within_upload`
and :func:`against_stored` say which of an upload's receipts are duplicates and
which of those conflict.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from cashserver.domain import Receipt

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
    """Merge into a stored shift (rules 3 and 4); a null stored open time is then
    filled in from the incoming one (the store does that when it merges the header)."""

    workshift_id: int


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
        return MergeInto(max(c.workshift_id for c in with_time))
    near = [
        (abs(opened_at - c.opened_at), -c.workshift_id)
        for c in candidates
        if c.opened_at is not None and abs(opened_at - c.opened_at) < SAME_SHIFT_WINDOW_MS
    ]
    if near:
        return MergeInto(-min(near)[1])
    null_open = [c for c in candidates if c.opened_at is None]
    if null_open:
        return MergeInto(max(c.workshift_id for c in null_open))
    return NewShift()


# -- receipts already known: duplicates and conflicts (SPEC 2, "Merging is idempotent") --


@dataclass(frozen=True, slots=True)
class Conflict:
    """A receipt skipped because its uid is known with other content or another shift."""

    uid: str
    stored_workshift_id: int
    """The shift holding the first version; 0 when the first version is in the same upload."""
    reason: str


WITHIN_UPLOAD = "content differs within the upload"
OTHER_SHIFT = "stored under another shift"
CONTENT_DIFFERS = "content differs from the stored"


@dataclass(frozen=True, slots=True)
class Repeats:
    """The receipts of an upload that are skipped: how many, and which conflict."""

    duplicate: int = 0
    conflicts: tuple[Conflict, ...] = ()

    def __add__(self, other: Repeats) -> Repeats:
        return Repeats(self.duplicate + other.duplicate, self.conflicts + other.conflicts)


def within_upload(receipts: Sequence[Receipt]) -> tuple[dict[str, Receipt], Repeats]:
    """The upload's receipts by uid, the first of each uid kept in order, and the repeats.

    A uid repeated inside the upload counts as a duplicate; a conflict too when its
    content differs from the first one's.
    """
    unique: dict[str, Receipt] = {}
    duplicate = 0
    conflicts: list[Conflict] = []
    for receipt in receipts:
        first = unique.get(receipt.uid)
        if first is None:
            unique[receipt.uid] = receipt
            continue
        duplicate += 1
        if first != receipt:
            conflicts.append(Conflict(receipt.uid, 0, WITHIN_UPLOAD))
    return unique, Repeats(duplicate, tuple(conflicts))


def against_stored(
    workshift_id: int,
    incoming: Mapping[str, Receipt],
    stored: Mapping[str, tuple[int, Receipt | None]],
) -> Repeats:
    """The repeats among receipts whose uid the store holds already.

    ``stored`` maps each such uid to the shift holding it and, when that is
    ``workshift_id`` itself, the stored receipt (None otherwise: its content does
    not matter). Each is a duplicate (the first stored version stands); it is a
    conflict too when stored under another shift, or when its content differs.
    """
    elsewhere = [
        Conflict(uid, ws, OTHER_SHIFT) for uid, (ws, _) in stored.items() if ws != workshift_id
    ]
    differs = [
        Conflict(uid, workshift_id, CONTENT_DIFFERS)
        for uid, (ws, receipt) in stored.items()
        if ws == workshift_id and receipt != incoming[uid]
    ]
    return Repeats(len(stored), (*elsewhere, *differs))

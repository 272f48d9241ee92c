"""The forwarding state (SPEC 15) on both backends: what waits, what the central server
acknowledged, what it set aside, and what the trimmer may delete."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from msgspec.structs import replace
from sqlalchemy import Engine

from cashserver.config import Config, parse_config
from cashserver.domain import Upload
from cashserver.emulator.generate import ShiftPlan, generate_upload
from cashserver.forward.status import upstream_status
from cashserver.store.engine import open_engine
from cashserver.store.forwards import Forwards
from cashserver.store.repository import Repository
from cashserver.store.trimming import trim_candidates

SPEC_KEYS = [
    "target",
    "state",
    "backlog_shifts",
    "backlog_receipts",
    "oldest_unforwarded_at",
    "last_forwarded_at",
    "last_error",
    "last_error_at",
    "rejected_shifts",
    "rejected",
]


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    engine = open_engine(db_url)
    yield engine
    engine.dispose()


def config() -> Config:
    return parse_config({"upstream": {"target": "127.0.0.1:1"}})


def open_parts(count: int, per_part: int) -> list[Upload]:
    whole = generate_upload(ShiftPlan("S1", "R1", 1, count * per_part, 2, seed=4))
    header = replace(whole.shift, closed_at=None, counters=None)
    return [Upload(header, whole.receipts[i * per_part : (i + 1) * per_part]) for i in range(count)]


def test_only_receipts_of_unacknowledged_revisions_wait(engine: Engine) -> None:
    repo, store = Repository(engine), Forwards(engine)
    first, second = open_parts(2, 10)
    ws = repo.load(first).workshift_id
    assert [p.workshift_id for p in store.pending()] == [ws]
    backlog = store.backlog()
    assert (backlog.shifts, backlog.receipts, backlog.rejected) == (1, 10, 0)
    assert backlog.oldest_ms is not None

    assert store.mark_acked(ws, 1, 77)
    assert store.pending() == [] and store.backlog().receipts == 0
    repo.load(second)  # revision 2: ten more receipts
    snapshot = store.snapshot(ws)
    assert snapshot is not None and (snapshot.revision, snapshot.acked_revision) == (2, 1)
    new_ids = store.receipt_ids(ws, snapshot.acked_revision, snapshot.revision)
    assert [r.uid for r in store.receipts(new_ids)] == [r.uid for r in second.receipts]
    assert store.backlog().receipts == 10

    repo.load(first)  # all duplicates: no new revision, nothing new to send
    assert store.snapshot(ws).revision == 2  # type: ignore[union-attr]
    store.mark_acked(ws, 2, 77)
    store.mark_acked(ws, 1, 77)  # a late answer for an older revision changes nothing
    assert store.pending() == [] and store.snapshot(ws).acked_revision == 2  # type: ignore[union-attr]


def test_a_rejected_revision_is_set_aside_until_the_shift_changes(engine: Engine) -> None:
    repo, store = Repository(engine), Forwards(engine)
    first, second = open_parts(2, 5)
    ws = repo.load(first).workshift_id
    store.mark_rejected(ws, 1, "PERMISSION_DENIED: not your store")
    assert store.pending() == []
    backlog = store.backlog()
    assert (backlog.shifts, backlog.rejected) == (0, 1)
    assert store.set_aside_ids() == [ws]
    (item,) = store.rejected()
    assert item["workshift_id"] == ws and item["message"].startswith("PERMISSION_DENIED")

    document = upstream_status(engine, config())
    assert list(document) == SPEC_KEYS
    assert document["state"] == "ok" and document["rejected_shifts"] == 1
    assert document["rejected"][0]["at"].endswith("Z")

    repo.load(second)  # new content: forwarded again
    assert [p.workshift_id for p in store.pending()] == [ws]
    assert store.backlog().rejected == 0
    store.mark_acked(ws, 2, 5)
    assert store.rejected() == [] and store.pending() == []


def test_the_trimmer_keeps_unacknowledged_shifts_while_forwarding(engine: Engine) -> None:
    repo, store = Repository(engine), Forwards(engine)
    ws = repo.load(generate_upload(ShiftPlan("S1", "R1", 1, 5, seed=1))).workshift_id
    from cashserver.store.exports import Exports

    Exports(engine).mark_exported(ws, 1, ["json"], "x")
    far_future = 2**62
    assert [c.workshift_id for c in trim_candidates(engine, far_future)] == [ws]
    assert trim_candidates(engine, far_future, forwarding=True) == []
    store.mark_acked(ws, 1, 9)
    assert [c.workshift_id for c in trim_candidates(engine, far_future, True)] == [ws]

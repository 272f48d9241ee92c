"""The database trimmer (SPEC 13) on both backends, with uploads loading meanwhile."""

from __future__ import annotations

import threading
import time

from msgspec.structs import replace
from sqlalchemy import Engine, func, select
from structlog.testing import capture_logs

from cashserver.clock import now_ms
from cashserver.config import Config
from cashserver.domain import UploadStatus
from cashserver.emulator.generate import ShiftPlan, generate_upload
from cashserver.exchange.exporter import Exporter
from cashserver.jobs.trimmer import trim_shifts
from cashserver.store.repository import Repository
from cashserver.store.schema import lines, metadata, payments, receipts, shifts
from tests.aging import DAY_MS, aged
from tests.waiting import wait_for

KEEP_DAYS = 30
BATCH = 50


def count(engine: Engine, query: object) -> int:
    with engine.connect() as conn:
        return int(conn.execute(query).scalar_one())  # type: ignore[call-overload]


def shift_ids(engine: Engine) -> set[int]:
    with engine.connect() as conn:
        return {int(ws) for ws in conn.execute(select(shifts.c.workshift_id)).scalars()}


class Pusher(threading.Thread):
    """Loads fresh shifts of its own register one after another until stopped."""

    def __init__(self, repository: Repository, now: int) -> None:
        super().__init__(daemon=True)
        self.repository = repository
        self.now = now
        self.stop = threading.Event()
        self.errors: list[BaseException] = []
        self.loaded = 0
        self.longest_s = 0.0

    def run(self) -> None:
        number = 1
        while not self.stop.is_set():
            upload = aged(generate_upload(ShiftPlan("P", "LIVE", number, 20, seed=9)), 0, self.now)
            started = time.perf_counter()
            try:
                [outcome] = self.repository.load_batch([upload])
                assert outcome.status is UploadStatus.LOADED
                self.loaded += 1
            except BaseException as exc:
                self.errors.append(exc)
                return
            self.longest_s = max(self.longest_s, time.perf_counter() - started)
            number += 1


def test_fifty_shifts_over_a_hundred_days_only_the_old_exported_ones_go(
    engine: Engine, config: Config
) -> None:
    now = now_ms()
    repository = Repository(engine)
    plans = []
    for i in range(50):
        days_ago = i * 2 + 0.5  # 0.5 .. 98.5 days
        size = 120 if i == 40 else 5 + (i * 7) % 26  # one shift larger than a batch
        plans.append((ShiftPlan("S1", f"R{i % 5}", i // 5 + 1, size, seed=i), days_ago))
    for plan, days_ago in plans:
        [outcome] = repository.load_batch([aged(generate_upload(plan), days_ago, now)])
        assert outcome.status is UploadStatus.LOADED
    summary = Exporter(engine, config).export_backlog()
    assert summary.written == 50 and summary.failed == 0
    # An old shift loaded after the export: not exported, so it stays.
    late = aged(generate_upload(ShiftPlan("S1", "LATE", 1, 10, seed=1)), 90, now)
    [unexported] = repository.load_batch([late])
    ids_before = shift_ids(engine)

    by_age = {}
    with engine.connect() as conn:
        for ws, last in conn.execute(
            select(receipts.c.workshift_id, func.max(receipts.c.closed_at)).group_by(
                receipts.c.workshift_id
            )
        ):
            by_age[int(ws)] = int(last)
    expected_gone = {
        ws
        for ws, last in by_age.items()
        if last < now - KEEP_DAYS * DAY_MS and ws != unexported.workshift_id
    }
    assert len(expected_gone) == 35  # days 30.5 .. 98.5

    with capture_logs() as logs:
        dry = trim_shifts(engine, KEEP_DAYS, BATCH, dry_run=True, now=now)
    assert {c.workshift_id for c in dry.shifts} == expected_gone
    assert shift_ids(engine) == ids_before and not logs

    pusher = Pusher(repository, now)
    pusher.start()
    try:
        wait_for(lambda: pusher.loaded >= 2 or pusher.errors, 30, what="uploads under way")
        with capture_logs() as logs:
            done = trim_shifts(engine, KEEP_DAYS, BATCH, now=now)
    finally:
        pusher.stop.set()
        pusher.join(30)
    assert pusher.errors == []
    assert pusher.loaded >= 2

    assert {c.workshift_id for c in done.shifts} == expected_gone
    remaining = shift_ids(engine)
    assert remaining & expected_gone == set()
    assert ids_before - expected_gone <= remaining
    assert unexported.workshift_id in remaining
    trimmed_events = [e for e in logs if e["event"] == "shift.trimmed"]
    assert sorted(e["workshift_id"] for e in trimmed_events) == sorted(expected_gone)
    # Nothing of the trimmed shifts is left behind, and every transaction was bounded.
    gone = list(expected_gone)
    assert count(engine, select(func.count()).where(receipts.c.workshift_id.in_(gone))) == 0
    for table in metadata.sorted_tables:  # every table that refers to a shift, now or later
        for fk in table.foreign_keys:
            if fk.column is shifts.c.workshift_id:
                where = fk.parent.in_(gone)
                assert count(engine, select(func.count()).select_from(table).where(where)) == 0
    live = select(receipts.c.receipt_id)
    assert count(engine, select(func.count()).where(lines.c.receipt_id.not_in(live))) == 0
    assert count(engine, select(func.count()).where(payments.c.receipt_id.not_in(live))) == 0
    assert done.transactions >= done.receipts // BATCH
    assert done.kept == []
    # A second run finds nothing more.
    assert trim_shifts(engine, KEEP_DAYS, BATCH, now=now).shifts == []


def test_a_shift_changed_after_it_was_chosen_stays(engine: Engine, config: Config) -> None:
    now = now_ms()
    repository = Repository(engine)
    old = aged(generate_upload(ShiftPlan("S1", "R1", 1, 60, seed=2)), 60, now)
    repository.load_batch([replace(old, receipts=old.receipts[:30])])
    Exporter(engine, config).export_backlog()
    from cashserver.store import trimming

    chosen = trimming.trim_candidates(engine, now - KEEP_DAYS * DAY_MS)
    assert len(chosen) == 1
    repository.load_batch([old])  # the rest of its receipts arrive: a new revision
    assert trimming.delete_shifts(engine, [chosen[0].workshift_id]) == []
    assert trimming.delete_some_receipts(engine, chosen[0].workshift_id, 10) == 0
    assert count(engine, select(func.count()).select_from(receipts)) == 60


def test_receipts_deleted_in_chunks_leave_the_totals_right(engine: Engine, config: Config) -> None:
    from cashserver.store import trimming
    from cashserver.store.reading import Reader, ShiftFilter

    now = now_ms()
    old = aged(generate_upload(ShiftPlan("S1", "R1", 1, 60, seed=3)), 60, now)
    [loaded] = Repository(engine).load_batch([old])
    Exporter(engine, config).export_backlog()
    assert trimming.delete_some_receipts(engine, loaded.workshift_id, 25) == 25
    [row] = Reader(engine, config).shift_rows(ShiftFilter())
    assert row["receipts_count"] == 35
    assert count(engine, select(func.count()).select_from(receipts)) == 35

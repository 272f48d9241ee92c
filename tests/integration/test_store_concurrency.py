"""Concurrent loads on SQLite and PostgreSQL: whatever races, a shift is stored once.

Threads share one engine (its pool gives each its own connection); processes
(``spawn``) each open their own engine on the same URL, as two daemons would.
A barrier releases every loader at the same moment.
"""

from __future__ import annotations

import dataclasses
import multiprocessing
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from sqlalchemy import Engine, func, select

from cashserver.domain import Upload, UploadStatus
from cashserver.emulator.generate import HOUR_MS, ShiftPlan, generate_upload
from cashserver.store.engine import open_engine
from cashserver.store.repository import LoadOutcome, Repository
from cashserver.store.schema import lines, payments, receipts, registers, shifts

THREADS = 8
PROCESSES = 3
BARRIER_TIMEOUT_S = 60.0


def table_counts(engine: Engine) -> dict[str, int]:
    with engine.connect() as conn:
        return {
            t.name: conn.execute(select(func.count()).select_from(t)).scalar_one()
            for t in (registers, shifts, receipts, lines, payments)
        }


def expected_counts(upload: Upload, shifts_count: int = 1) -> dict[str, int]:
    return {
        "registers": 1,
        "shifts": shifts_count,
        "receipts": len(upload.receipts),
        "lines": sum(len(r.lines) for r in upload.receipts),
        "payments": sum(len(r.payments) for r in upload.receipts),
    }


def race(engine: Engine, uploads: Sequence[Upload]) -> list[LoadOutcome]:
    """Load every upload from its own thread, all released at once."""
    repo = Repository(engine)
    barrier = threading.Barrier(len(uploads), timeout=BARRIER_TIMEOUT_S)
    # Open the connections first, so the race is about loading and not about connecting.
    warm = [engine.connect() for _ in uploads]
    for conn in warm:
        conn.close()

    def load(upload: Upload) -> LoadOutcome:
        barrier.wait()
        return repo.load(upload)

    with ThreadPoolExecutor(len(uploads)) as pool:
        return list(pool.map(load, uploads))


def assert_stored_once(outcomes: Sequence[LoadOutcome], received: int) -> int:
    assert all(o.status is UploadStatus.LOADED for o in outcomes)
    (ws,) = {o.workshift_id for o in outcomes}
    assert sum(o.created for o in outcomes) == 1
    assert sum(o.receipts_stored for o in outcomes) == received
    assert sum(o.receipts_stored + o.receipts_duplicate for o in outcomes) == sum(
        o.receipts_received for o in outcomes
    )
    return ws


def test_one_upload_from_many_threads_at_once_is_stored_once(engine: Engine) -> None:
    shift = generate_upload(ShiftPlan("S1", "R1", 3, receipts=60, seed=1))
    outcomes = race(engine, [shift] * THREADS)
    assert_stored_once(outcomes, 60)
    assert table_counts(engine) == expected_counts(shift)


def test_parts_of_one_new_shift_racing_make_one_shift(engine: Engine) -> None:
    for round_no in range(4):
        whole = generate_upload(ShiftPlan("S1", f"R{round_no}", 5, receipts=40, seed=round_no))
        opened_at = whole.shift.opened_at
        assert opened_at is not None
        # Each part carries a slightly different open time (all within 48 h).
        parts = [
            Upload(
                dataclasses.replace(whole.shift, opened_at=opened_at + i * HOUR_MS),
                whole.receipts[i::4],
            )
            for i in range(4)
        ]
        outcomes = race(engine, [*parts, *parts])
        assert_stored_once(outcomes, 40)
        with engine.connect() as conn:
            stored = conn.execute(
                select(shifts.c.opened_at)
                .join(registers, registers.c.register_id == shifts.c.register_id)
                .where(registers.c.register_code == f"R{round_no}")
            ).scalars()
            assert len(list(stored)) == 1
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(receipts)).scalar_one() == 160


def test_the_same_shift_from_two_registers_racing_keeps_each_uid_once(engine: Engine) -> None:
    shift = generate_upload(ShiftPlan("S1", "R1", 3, receipts=30, seed=2))
    twin = Upload(dataclasses.replace(shift.shift, register_code="R2"), shift.receipts)
    outcomes = race(engine, [shift, twin, shift, twin])
    assert sum(o.receipts_stored for o in outcomes) == 30
    assert len({o.workshift_id for o in outcomes}) == 2
    counts = table_counts(engine)
    assert counts["receipts"] == 30
    assert counts["payments"] == sum(len(r.payments) for r in shift.receipts)


# -- processes ---------------------------------------------------------------------------


def _load_in_process(url: str, upload: Upload, barrier: Any, results: Any) -> None:
    """Run in a spawned process: open an engine, wait for the others, load."""
    engine = open_engine(url)
    try:
        with engine.connect():
            pass
        barrier.wait()
        o = Repository(engine).load(upload)
        results.put(
            (int(o.status), o.workshift_id, o.created, o.receipts_stored, o.receipts_duplicate)
        )
    finally:
        engine.dispose()


def run_processes(url: str, uploads: Sequence[Upload]) -> list[tuple[int, int, bool, int, int]]:
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(len(uploads), timeout=BARRIER_TIMEOUT_S)
    results = ctx.Queue()
    workers = [
        ctx.Process(target=_load_in_process, args=(url, upload, barrier, results))
        for upload in uploads
    ]
    for worker in workers:
        worker.start()
    try:
        collected = [results.get(timeout=120) for _ in workers]
    finally:
        for worker in workers:
            worker.join(timeout=30)
    assert [w.exitcode for w in workers] == [0] * len(workers)
    return collected


def test_one_upload_from_several_processes_at_once_is_stored_once(
    db_url: str, engine: Engine
) -> None:
    shift = generate_upload(ShiftPlan("S1", "R1", 3, receipts=50, seed=3))
    results = run_processes(db_url, [shift] * PROCESSES)
    assert all(status == UploadStatus.LOADED for status, *_ in results)
    assert len({ws for _, ws, *_ in results}) == 1
    assert sum(created for _, _, created, _, _ in results) == 1
    assert sum(stored for *_, stored, _ in results) == 50
    assert sum(duplicate for *_, duplicate in results) == 50 * (PROCESSES - 1)
    assert table_counts(engine) == expected_counts(shift)


def test_parts_of_one_new_shift_from_several_processes_make_one_shift(
    db_url: str, engine: Engine
) -> None:
    whole = generate_upload(ShiftPlan("S1", "R1", 8, receipts=30, seed=4))
    parts = [Upload(whole.shift, whole.receipts[i::PROCESSES]) for i in range(PROCESSES)]
    results = run_processes(db_url, parts)
    assert len({ws for _, ws, *_ in results}) == 1
    assert sum(stored for *_, stored, _ in results) == 30
    assert table_counts(engine) == expected_counts(whole)

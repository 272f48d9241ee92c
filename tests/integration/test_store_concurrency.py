"""Concurrent loads on SQLite and PostgreSQL: whatever races, a shift is stored once.

Threads share one engine (its pool gives each its own connection); processes
(``spawn``) each open their own engine on the same URL, as two daemons would.
A barrier releases every loader at the same moment.
"""

from __future__ import annotations

import multiprocessing
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from msgspec import structs
from sqlalchemy import Engine, func, select

from cashserver.clock import HOUR_MS
from cashserver.domain import Upload, UploadStatus
from cashserver.emulator.generate import ShiftPlan, generate_upload
from cashserver.store.engine import open_engine
from cashserver.store.registers import Registers
from cashserver.store.repository import LoadOutcome, Repository
from cashserver.store.schema import lines, payments, receipts, registers, shifts

THREADS = 8
PROCESSES = 3
ROUNDS = 3
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
    known = Registers(engine)
    for register, is_known in (("R1", True), ("R2", False)):
        if is_known:  # the register row exists: only locking keeps the loads apart
            known.add("S1", register, None)
        shift = generate_upload(ShiftPlan("S1", register, 3, receipts=60, seed=1))
        outcomes = race(engine, [shift] * THREADS)
        assert_stored_once(outcomes, 60)
        with engine.connect() as conn:
            query = (
                select(func.count())
                .select_from(shifts.join(registers))
                .where(registers.c.register_code == register)
            )
            assert conn.execute(query).scalar_one() == 1
    counts = table_counts(engine)
    assert (counts["registers"], counts["shifts"], counts["receipts"]) == (2, 2, 120)


def test_parts_of_one_new_shift_racing_make_one_shift(engine: Engine) -> None:
    for round_no in range(4):
        whole = generate_upload(ShiftPlan("S1", f"R{round_no}", 5, receipts=40, seed=round_no))
        opened_at = whole.shift.opened_at
        assert opened_at is not None
        # Each part carries a slightly different open time (all within 48 h).
        parts = [
            Upload(
                structs.replace(whole.shift, opened_at=opened_at + i * HOUR_MS),
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
    twin = Upload(structs.replace(shift.shift, register_code="R2"), shift.receipts)
    outcomes = race(engine, [shift, twin, shift, twin])
    assert sum(o.receipts_stored for o in outcomes) == 30
    assert len({o.workshift_id for o in outcomes}) == 2
    counts = table_counts(engine)
    assert counts["receipts"] == 30
    assert counts["payments"] == sum(len(r.payments) for r in shift.receipts)


# -- processes ---------------------------------------------------------------------------


Outcome = tuple[int, int, bool, int, int]
"""A LoadOutcome as plain data: status, workshift_id, created, stored, duplicate."""


def _load_in_process(url: str, rounds: list[Upload], barrier: Any, results: Any) -> None:
    """Run in a spawned process: for each round, wait for the others, then load."""
    engine = open_engine(url)
    try:
        repo = Repository(engine)
        for round_no, upload in enumerate(rounds):
            barrier.wait()
            o = repo.load(upload)
            outcome = (
                int(o.status),
                o.workshift_id,
                o.created,
                o.receipts_stored,
                o.receipts_duplicate,
            )
            results.put((round_no, outcome))
    finally:
        engine.dispose()


def run_processes(url: str, rounds_per_process: Sequence[list[Upload]]) -> list[list[Outcome]]:
    """Each process loads its uploads round by round, every round released at once."""
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(len(rounds_per_process), timeout=BARRIER_TIMEOUT_S)
    results = ctx.Queue()
    workers = [
        ctx.Process(target=_load_in_process, args=(url, rounds, barrier, results))
        for rounds in rounds_per_process
    ]
    for worker in workers:
        worker.start()
    try:
        collected = [results.get(timeout=120) for rounds in rounds_per_process for _ in rounds]
    finally:
        for worker in workers:
            worker.join(timeout=30)
    assert [w.exitcode for w in workers] == [0] * len(workers)
    by_round: list[list[Outcome]] = [[] for _ in rounds_per_process[0]]
    for round_no, outcome in collected:
        by_round[round_no].append(outcome)
    return by_round


def assert_round_stored_once(outcomes: list[Outcome], receipts_count: int) -> None:
    assert all(status == UploadStatus.LOADED for status, *_ in outcomes)
    assert len({ws for _, ws, *_ in outcomes}) == 1
    assert sum(created for _, _, created, _, _ in outcomes) == 1
    assert sum(stored for *_, stored, _ in outcomes) == receipts_count


def test_one_upload_from_several_processes_at_once_is_stored_once(
    db_url: str, engine: Engine
) -> None:
    Registers(engine).add("S1", "R1", None)
    rounds = [
        generate_upload(ShiftPlan("S1", "R1", number, receipts=20, seed=3))
        for number in range(1, ROUNDS + 1)
    ]
    for outcomes in run_processes(db_url, [rounds] * PROCESSES):
        assert_round_stored_once(outcomes, 20)
        assert sum(duplicate for *_, duplicate in outcomes) == 20 * (PROCESSES - 1)
    expected = {name: 0 for name in ("registers", "shifts", "receipts", "lines", "payments")}
    for upload in rounds:
        for name, count in expected_counts(upload).items():
            expected[name] += count
    expected["registers"] = 1
    assert table_counts(engine) == expected


def test_parts_of_one_new_shift_from_several_processes_make_one_shift(
    db_url: str, engine: Engine
) -> None:
    directory = Registers(engine)
    wholes = []
    for number in range(1, ROUNDS + 1):
        register = f"R{number}"
        if number % 2:  # half the rounds on a register the store already knows
            directory.add("S1", register, None)
        wholes.append(generate_upload(ShiftPlan("S1", register, 8, receipts=21, seed=number)))
    per_process = [
        [Upload(whole.shift, whole.receipts[i::PROCESSES]) for whole in wholes]
        for i in range(PROCESSES)
    ]
    for outcomes in run_processes(db_url, per_process):
        assert_round_stored_once(outcomes, 21)
    counts = table_counts(engine)
    assert (counts["shifts"], counts["receipts"]) == (ROUNDS, 21 * ROUNDS)

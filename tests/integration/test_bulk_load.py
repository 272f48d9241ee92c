"""The bulk paths store the same thing: executemany on SQLite, COPY on PostgreSQL.

One scenario of batches (duplicates, changed content, a uid stored under another
shift, all within one batch, then the batch again) runs on both backends; what the
loader answers, what it logs and what the tables hold (receipts, lines and
payments by uid, totals) must be exactly the expected, and equal between the two.
Two loaders racing with shared uids on PostgreSQL store each uid once.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from sqlalchemy import Engine, func, select, text
from structlog.testing import capture_logs

from cashserver.domain import (
    Line,
    Payment,
    PaymentMethod,
    Receipt,
    ReceiptKind,
    Shift,
    Upload,
    UploadStatus,
)
from cashserver.emulator.generate import ShiftPlan, generate_upload
from cashserver.store.bulk import STAGE_RECEIPTS
from cashserver.store.engine import open_engine
from cashserver.store.repository import LoadOutcome, Repository
from cashserver.store.schema import (
    lines,
    payments,
    receipts,
    shift_quarter_totals,
    shift_totals,
)
from tests.conftest import new_pg_database
from tests.pg import Cluster

T0 = 1_772_348_400_000  # 2026-03-01T07:00:00Z
CASH, NONCASH = PaymentMethod.CASH, PaymentMethod.NONCASH
BARRIER_TIMEOUT_S = 60.0


def uid(number: int) -> str:
    return str(uuid.UUID(int=number, version=4))


def receipt(number: int, amount: int = 0, kind: ReceiptKind = ReceiptKind.SALE) -> Receipt:
    price = amount or 100 * number
    return Receipt(
        uid=uid(number),
        number=number,
        kind=kind,
        closed_at=T0 + number * 60_000,
        cashier="Иванова А.",
        lines=(
            Line(1, f"I{number}", "4600000000001", "Хлеб «Бородинский»", "D1", 1000, price, price),
            Line(2, "I0", "", "Пакет", "", 2000, 5, 10, 1, 2000),
        ),
        payments=(Payment(CASH, price // 2), Payment(NONCASH, price - price // 2 + 10)),
    )


def upload(register: str, *items: Receipt, number: int = 1) -> Upload:
    return Upload(Shift("S1", register, number, T0, None, None), tuple(items))


def scenario() -> list[list[Upload]]:
    """Batches of uploads; the comments say what each receipt must come to."""
    return [
        [
            upload("R1", receipt(1), receipt(2), receipt(3), receipt(4), receipt(2)),
            # The same shift again, in the same batch: 3 a duplicate, 4 changed (a
            # conflict, the first version stays), 5 and 6 new, 6 twice.
            upload("R1", receipt(3), receipt(4, amount=777), receipt(5), receipt(6), receipt(6)),
            # Another register: 1 is stored under R1's shift (skipped, logged), 7 new.
            upload("R2", receipt(1), receipt(7, kind=ReceiptKind.RETURN)),
        ],
        # Everything again, in one batch, and a new receipt after the repeats.
        [
            upload("R1", receipt(1), receipt(2), receipt(3), receipt(4), receipt(5)),
            upload("R2", receipt(7, kind=ReceiptKind.RETURN), receipt(8)),
        ],
        # A batch of one big generated upload, then all of it again with one more.
        [generate_upload(ShiftPlan("S2", "G1", 4, receipts=300, seed=11))],
    ]


def outcome_view(outcome: LoadOutcome) -> tuple[Any, ...]:
    return (
        outcome.status,
        outcome.workshift_id,
        outcome.receipts_received,
        outcome.receipts_stored,
        outcome.receipts_duplicate,
        outcome.created,
        outcome.changed,
        tuple((c.uid, c.stored_workshift_id, c.reason) for c in outcome.conflicts),
    )


def stored(engine: Engine) -> dict[str, list[tuple[Any, ...]]]:
    """The tables by uid (receipt ids differ between backends; their links must not)."""
    r, ln, p = receipts.c, lines.c, payments.c
    with engine.connect() as conn:
        found = {
            "receipts": conn.execute(
                select(r.uid, r.workshift_id, r.number, r.kind, r.closed_at, r.cashier)
            ).all(),
            "lines": conn.execute(
                select(r.uid, *[c for c in lines.c if c.name != "receipt_id"]).join_from(
                    lines, receipts, ln.receipt_id == r.receipt_id
                )
            ).all(),
            "payments": conn.execute(
                select(r.uid, p.payment_no, p.method, p.amount).join_from(
                    payments, receipts, p.receipt_id == r.receipt_id
                )
            ).all(),
            "shift_totals": conn.execute(select(shift_totals)).all(),
            "shift_quarter_totals": conn.execute(select(shift_quarter_totals)).all(),
            "orphans": conn.execute(
                select(func.count())
                .select_from(lines)
                .where(ln.receipt_id.not_in(select(r.receipt_id)))
            ).all(),
        }
    return {name: sorted(tuple(row) for row in rows) for name, rows in found.items()}


def run_scenario(engine: Engine) -> tuple[list[Any], list[Any], dict[str, Any]]:
    repo = Repository(engine)
    views: list[Any] = []
    with capture_logs() as logs:
        for batch in scenario():
            views.extend(outcome_view(o) for o in repo.load_batch(batch))
    conflicts = [
        (e["uid"], e["workshift_id"], e["stored_workshift_id"], e["reason"])
        for e in logs
        if e["event"] == "receipt.conflict"
    ]
    return views, conflicts, stored(engine)


def test_the_scenario_stores_counts_and_logs_what_the_rules_say(engine: Engine) -> None:
    views, conflicts, tables = run_scenario(engine)
    loaded = UploadStatus.LOADED
    r1, r2, g1 = 1, 2, 3  # workshift ids in order of creation
    assert [v[:7] for v in views] == [
        (loaded, r1, 5, 4, 1, True, True),
        (loaded, r1, 5, 2, 3, False, True),
        (loaded, r2, 2, 1, 1, True, True),
        (loaded, r1, 5, 0, 5, False, False),
        (loaded, r2, 2, 1, 1, False, True),
        (loaded, g1, 300, 300, 0, True, True),
    ]
    assert [(uid_, ws, home) for uid_, ws, home, _ in conflicts] == [
        (uid(4), r1, r1),
        (uid(1), r2, r1),
    ]
    homes = {row[0]: row[1] for row in tables["receipts"]}
    assert {n: homes[uid(n)] for n in range(1, 9)} == {
        1: r1, 2: r1, 3: r1, 4: r1, 5: r1, 6: r1, 7: r2, 8: r2,
    }  # fmt: skip
    assert len(homes) == 308
    amounts = {row[0]: row[-1] for row in tables["payments"] if row[1] == 0}
    assert amounts[uid(4)] == 200  # the first version of receipt 4, not the changed one
    assert len(tables["lines"]) == 16 + sum(len(r.lines) for r in scenario()[2][0].receipts)
    assert tables["orphans"] == [(0,)]
    # Totals: R1's six receipts, each half cash and half (plus 10) noncash.
    (r1_totals,) = [t for t in tables["shift_totals"] if t[0] == r1]
    sales = [100 * n for n in range(1, 7)]
    assert r1_totals[1:4] == (6, sum(s // 2 for s in sales), sum(s - s // 2 + 10 for s in sales))


def test_postgresql_copy_stores_what_sqlite_executemany_stores(
    pg_cluster: Cluster, sqlite_engine: Engine
) -> None:
    pg = open_engine(new_pg_database(pg_cluster))
    try:
        assert run_scenario(pg) == run_scenario(sqlite_engine)
    finally:
        pg.dispose()


def backend_pid(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(text("SELECT pg_backend_pid()")).scalar_one())


def test_a_failed_first_load_on_a_connection_does_not_lose_the_staging_table(
    pg_cluster: Cluster,
) -> None:
    """The staging table's creation rolls back with a failed batch; the next load on
    the same connection creates it again."""
    engine = open_engine(new_pg_database(pg_cluster), application_name="staging")
    try:
        repo = Repository(engine)
        pid = backend_pid(engine)
        too_big = Receipt(uid(9), 9, ReceiptKind.SALE, T0, payments=(Payment(CASH, 2**63),))
        with pytest.raises(Exception, match=r"(?i)out of range|too big"):
            repo.load_batch([upload("R1", receipt(2)), upload("R1", too_big, number=2)])
        assert backend_pid(engine) == pid  # the same connection, its transaction undone
        with engine.connect() as conn:
            assert conn.execute(text(f"SELECT to_regclass('{STAGE_RECEIPTS}')")).scalar() is None
        outcome = repo.load(upload("R1", receipt(2), receipt(3)))
        assert (outcome.receipts_stored, outcome.receipts_duplicate) == (2, 0)
        assert backend_pid(engine) == pid
        with engine.connect() as conn:
            assert conn.execute(select(func.count()).select_from(receipts)).scalar() == 2
            # Kept for the next load, and empty between transactions (ON COMMIT DELETE ROWS).
            staged = conn.execute(text(f"SELECT count(*) FROM {STAGE_RECEIPTS}")).scalar()
            assert staged == 0
    finally:
        engine.dispose()


def race(engines: Sequence[Engine], batches: Sequence[list[Upload]]) -> list[LoadOutcome]:
    """Each batch loaded by its own Repository on its own engine, all released at once."""
    barrier = threading.Barrier(len(batches), timeout=BARRIER_TIMEOUT_S)

    def load(engine: Engine, batch: list[Upload]) -> list[LoadOutcome]:
        repo = Repository(engine)
        barrier.wait()
        return repo.load_batch(batch)

    with ThreadPoolExecutor(len(batches)) as pool:
        done = list(pool.map(load, engines, batches))
    return [o for outcomes in done for o in outcomes]


def test_two_loaders_racing_with_shared_uids_store_each_once(pg_cluster: Cluster) -> None:
    """Two daemons' loaders (two engines) load batches of two uploads each, of two
    registers, sharing uids, at the same moment: no register lock orders them, only
    the uid's conflict clause does. Each batch meets the shared uids in one order, as
    the registers' own receipts would be (crossed orders can deadlock, on any insert
    path: the loader retries that as a transient error)."""
    url = new_pg_database(pg_cluster)
    engines = [open_engine(url, application_name=f"node-{n}") for n in range(2)]
    try:
        for round_ in range(3):
            base = 10_000 * (round_ + 1)
            shared = [receipt(base + n) for n in range(200)]
            mine = [[receipt(base + 1000 * (k + 1) + n) for n in range(200)] for k in range(2)]
            batches = [
                [
                    upload(f"A{round_}", *shared[:150], *mine[0][:100]),
                    upload(f"A{round_}", *mine[0][100:], *shared[150:], number=2),
                ],
                [
                    upload(f"B{round_}", *mine[1][:100], *shared[50:120]),
                    upload(f"B{round_}", *shared[120:], *mine[1][100:], number=2),
                ],
            ]
            outcomes = race(engines, batches)
            assert all(o.status is UploadStatus.LOADED for o in outcomes)
            received = sum(o.receipts_received for o in outcomes)
            assert sum(o.receipts_stored for o in outcomes) == 600
            assert sum(o.receipts_duplicate for o in outcomes) == received - 600
        with engines[0].connect() as conn:
            total = conn.execute(select(func.count()).select_from(receipts)).scalar()
            distinct = conn.execute(select(func.count(receipts.c.uid.distinct()))).scalar()
            line_count = conn.execute(select(func.count()).select_from(lines)).scalar()
            payment_count = conn.execute(select(func.count()).select_from(payments)).scalar()
        assert total == distinct == 3 * 600
        assert line_count == payment_count == 2 * total
    finally:
        for engine in engines:
            engine.dispose()

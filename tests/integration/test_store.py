"""The store on SQLite and PostgreSQL: the identity rules, idempotence, atomicity, reading.

Every test runs on both backends through the ``engine`` fixture.
"""

from __future__ import annotations

import itertools
import uuid
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from msgspec import structs
from sqlalchemy import Connection, Engine, func, select
from structlog.testing import capture_logs

from cashserver.config import Config, parse_config
from cashserver.domain import (
    Payment,
    PaymentMethod,
    Receipt,
    ReceiptKind,
    Shift,
    ShiftCounters,
    Upload,
    UploadStatus,
)
from cashserver.emulator.generate import ShiftPlan, generate_upload
from cashserver.reconcile import compute_totals, make_report, reconciliation_row
from cashserver.store.exports import Exports
from cashserver.store.reading import Reader, ShiftFilter
from cashserver.store.repository import LoadOutcome, Repository
from cashserver.store.schema import (
    events,
    exports,
    lines,
    payments,
    receipts,
    registers,
    shifts,
    stores,
)
from cashserver.validate import validate_upload

HOUR = 3_600_000
WINDOW = 172_800_000
T0 = 1_772_348_400_000  # 2026-03-01T07:00:00Z
DATA_TABLES = (stores, registers, shifts, receipts, lines, payments, exports, events)
SPEC7_KEYS = {
    "workshift_id",
    "store_code",
    "register_code",
    "shift_number",
    "opened_at",
    "closed_at",
    "receipts_count",
    "sales_cash",
    "sales_noncash",
    "returns_cash",
    "returns_noncash",
    "revenue_cash",
    "revenue_noncash",
    "drawer",
    "cash_in",
    "cash_out",
    "exported",
    "status",
}
CASH, NONCASH = PaymentMethod.CASH, PaymentMethod.NONCASH


# -- helpers ---------------------------------------------------------------------------


def uid(tag: int, number: int) -> str:
    return str(uuid.UUID(int=(tag << 64) | number, version=4))


def receipt(
    number: int,
    kind: ReceiptKind = ReceiptKind.SALE,
    *pays: tuple[PaymentMethod, int],
    at: int = T0,
    tag: int = 0,
) -> Receipt:
    return Receipt(
        uid=uid(tag, number),
        number=number,
        kind=kind,
        closed_at=at + number * 60_000,
        cashier="Иванова А.",
        payments=tuple(Payment(m, a) for m, a in pays) or (Payment(CASH, 100 * number),),
    )


def upload(
    number: int,
    opened_at: int | None,
    *items: Receipt,
    store: str = "S1",
    register: str = "R1",
    closed_at: int | None = None,
    counters: ShiftCounters | None = None,
) -> Upload:
    return Upload(Shift(store, register, number, opened_at, closed_at, counters), tuple(items))


def counts(engine: Engine) -> dict[str, int]:
    with engine.connect() as conn:
        return {
            t.name: conn.execute(select(func.count()).select_from(t)).scalar_one()
            for t in (shifts, receipts, lines, payments)
        }


def snapshot(engine: Engine) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table, in a stable order; a register's ``last_load_at`` is left
    out (SPEC 10: every load sets it, even when every receipt was a duplicate)."""
    with engine.connect() as conn:
        return {
            t.name: sorted(
                (
                    tuple(v for k, v in r._mapping.items() if k != "last_load_at")
                    for r in conn.execute(select(t))
                ),
                key=repr,
            )
            for t in DATA_TABLES
        }


def shift_row(engine: Engine, workshift_id: int) -> Any:
    with engine.connect() as conn:
        return conn.execute(select(shifts).where(shifts.c.workshift_id == workshift_id)).one()


def receipt_home(engine: Engine, receipt_uid: str) -> int:
    with engine.connect() as conn:
        query = select(receipts.c.workshift_id).where(receipts.c.uid == receipt_uid)
        return int(conn.execute(query).scalar_one())


def stored_receipts(engine: Engine, config: Config, workshift_id: int) -> tuple[Receipt, ...]:
    found = Reader(engine, config).report(workshift_id)
    assert found is not None
    return found[0].receipts


def loaded(outcome: LoadOutcome, stored: int, duplicate: int) -> int:
    assert outcome.status is UploadStatus.LOADED
    assert (outcome.receipts_stored, outcome.receipts_duplicate) == (stored, duplicate)
    return outcome.workshift_id


# -- loading and idempotence ------------------------------------------------------------


def test_a_generated_upload_is_loaded_whole(engine: Engine, config: Config) -> None:
    shift = generate_upload(ShiftPlan("S1", "R1", 3, receipts=40, seed=1))
    outcome = Repository(engine).load(shift)
    ws = loaded(outcome, 40, 0)
    assert outcome.created and outcome.receipts_received == 40 and ws > 0
    assert counts(engine) == {
        "shifts": 1,
        "receipts": 40,
        "lines": sum(len(r.lines) for r in shift.receipts),
        "payments": sum(len(r.payments) for r in shift.receipts),
    }
    (row,) = Reader(engine, config).shift_rows()
    totals = compute_totals(shift.receipts)
    assert row["workshift_id"] == ws
    assert row["receipts_count"] == 40
    assert (row["revenue_cash"], row["revenue_noncash"]) == (
        totals.revenue_cash,
        totals.revenue_noncash,
    )
    assert row["drawer"] == totals.drawer
    assert row["status"] == "ok"
    assert stored_receipts(engine, config, ws) == shift.receipts


def test_the_same_payload_again_stores_nothing_new(engine: Engine) -> None:
    shift = generate_upload(ShiftPlan("S1", "R1", 3, receipts=25, seed=2))
    repo = Repository(engine)
    ws = loaded(repo.load(shift), 25, 0)
    before = snapshot(engine)
    for _ in range(2):
        again = repo.load(shift)
        assert loaded(again, 0, 25) == ws
        assert not again.created and not again.changed
    assert snapshot(engine) == before


def test_a_batch_holding_one_upload_twice_stores_it_once(engine: Engine) -> None:
    shift = generate_upload(ShiftPlan("S1", "R1", 3, receipts=10, seed=2))
    first, second = Repository(engine).load_batch([shift, shift])
    assert loaded(first, 10, 0) == loaded(second, 0, 10)
    assert counts(engine)["receipts"] == 10


def test_a_receipt_repeated_inside_one_upload_is_a_duplicate(engine: Engine) -> None:
    one = receipt(1)
    outcome = Repository(engine).load(upload(1, T0, one, one, receipt(2)))
    loaded(outcome, 2, 1)
    assert counts(engine)["receipts"] == 2


def test_an_upper_case_uid_is_stored_lower_case(engine: Engine) -> None:
    lower = upload(1, T0, receipt(1), receipt(2))
    upper = Upload(
        lower.shift, tuple(structs.replace(r, uid=r.uid.upper()) for r in lower.receipts)
    )
    repo = Repository(engine)
    ws = loaded(repo.load(validate_upload(upper)), 2, 0)
    with engine.connect() as conn:
        assert sorted(conn.execute(select(receipts.c.uid)).scalars()) == sorted(
            r.uid for r in lower.receipts
        )
    assert loaded(repo.load(lower), 0, 2) == ws


# -- the identity rules through the store -------------------------------------------------


def test_the_48_hour_boundary(engine: Engine) -> None:
    repo = Repository(engine)
    ws = loaded(repo.load(upload(7, T0, receipt(1))), 1, 0)
    near = repo.load(upload(7, T0 + WINDOW - 1, receipt(2)))
    assert loaded(near, 1, 0) == ws and not near.created
    near_before = repo.load(upload(7, T0 - WINDOW + 1, receipt(3)))
    assert loaded(near_before, 1, 0) == ws
    assert shift_row(engine, ws).opened_at == T0  # never moved by a merge

    far = repo.load(upload(7, T0 + WINDOW, receipt(4)))
    assert far.created and loaded(far, 1, 0) not in (0, ws)
    far_before = repo.load(upload(7, T0 - WINDOW, receipt(5)))
    assert far_before.created and loaded(far_before, 1, 0) not in (ws, far.workshift_id)
    assert counts(engine)["shifts"] == 3
    assert receipt_home(engine, uid(0, 4)) == far.workshift_id


def test_the_nearest_stored_open_time_wins(engine: Engine) -> None:
    repo = Repository(engine)
    early = loaded(repo.load(upload(7, T0)), 0, 0)
    late = loaded(repo.load(upload(7, T0 + 3 * 24 * HOUR)), 0, 0)
    # 47 h after the early one, 25 h before the late one.
    assert loaded(repo.load(upload(7, T0 + 47 * HOUR, receipt(1))), 1, 0) == late
    assert loaded(repo.load(upload(7, T0 + 23 * HOUR, receipt(2))), 1, 0) == early


def test_another_register_or_number_is_another_shift(engine: Engine) -> None:
    repo = Repository(engine)
    ids = {
        loaded(repo.load(upload(7, T0)), 0, 0),
        loaded(repo.load(upload(8, T0)), 0, 0),
        loaded(repo.load(upload(7, T0, register="R2")), 0, 0),
        loaded(repo.load(upload(7, T0, store="S2")), 0, 0),
    }
    assert len(ids) == 4


def test_a_null_open_time_against_only_null_open_times_is_rejected(engine: Engine) -> None:
    repo = Repository(engine)
    ws = loaded(repo.load(upload(4, None, receipt(1))), 1, 0)
    assert shift_row(engine, ws).opened_at is None
    before = snapshot(engine)
    with capture_logs() as logs:
        outcome = repo.load(upload(4, None, receipt(2)))
    assert outcome.status is UploadStatus.REJECTED
    assert outcome.workshift_id == 0 and outcome.receipts_stored == 0
    assert outcome.reason
    assert snapshot(engine) == before
    rejected = [e for e in logs if e["event"] == "shift.rejected"]
    assert len(rejected) == 1
    assert rejected[0]["shift_number"] == 4 and rejected[0]["register_code"] == "R1"


def test_a_set_open_time_fills_in_the_null_stored_one(engine: Engine) -> None:
    repo = Repository(engine)
    ws = loaded(repo.load(upload(4, None, receipt(1))), 1, 0)
    far_later = T0 + 30 * 24 * HOUR  # no stored open time to be near: rule 4
    assert loaded(repo.load(upload(4, far_later, receipt(2))), 1, 0) == ws
    assert shift_row(engine, ws).opened_at == far_later
    # Set once: a later open time within 48 h merges and does not move it.
    assert loaded(repo.load(upload(4, far_later + HOUR, receipt(3))), 1, 0) == ws
    assert shift_row(engine, ws).opened_at == far_later


def test_a_null_open_time_merges_into_the_latest_shift_with_one(engine: Engine) -> None:
    repo = Repository(engine)
    older = loaded(repo.load(upload(4, T0, receipt(1))), 1, 0)
    newer = loaded(repo.load(upload(4, T0 + 10 * 24 * HOUR, receipt(2))), 1, 0)
    assert newer > older
    merged = repo.load(upload(4, None, receipt(3)))
    assert loaded(merged, 1, 0) == newer
    assert shift_row(engine, newer).opened_at == T0 + 10 * 24 * HOUR
    assert receipt_home(engine, uid(0, 3)) == newer


# -- merging ------------------------------------------------------------------------------


def test_a_known_uid_with_different_content_keeps_the_first_version(
    engine: Engine, config: Config
) -> None:
    repo = Repository(engine)
    first = receipt(1, ReceiptKind.SALE, (CASH, 1000))
    ws = loaded(repo.load(upload(1, T0, first)), 1, 0)
    changed = structs.replace(first, payments=(Payment(NONCASH, 999),))
    with capture_logs() as logs:
        outcome = repo.load(upload(1, T0, changed, receipt(2)))
    assert loaded(outcome, 1, 1) == ws
    assert stored_receipts(engine, config, ws)[0] == first
    conflicts = [e for e in logs if e["event"] == "receipt.conflict"]
    assert [(c["uid"], c["workshift_id"]) for c in conflicts] == [(first.uid, ws)]


def test_a_uid_stored_under_another_shift_is_a_duplicate_and_a_conflict(
    engine: Engine, config: Config
) -> None:
    repo = Repository(engine)
    shared = receipt(1)
    home = loaded(repo.load(upload(1, T0, shared)), 1, 0)
    with capture_logs() as logs:
        outcome = repo.load(upload(1, T0, shared, receipt(2, tag=9), register="R2"))
    other = loaded(outcome, 1, 1)
    assert other != home
    assert receipt_home(engine, shared.uid) == home
    assert [r.uid for r in stored_receipts(engine, config, other)] == [uid(9, 2)]
    conflicts = [e for e in logs if e["event"] == "receipt.conflict"]
    assert len(conflicts) == 1
    assert conflicts[0]["uid"] == shared.uid
    assert conflicts[0]["stored_workshift_id"] == home
    assert conflicts[0]["workshift_id"] == other


def test_an_open_shift_uploaded_again_with_more_receipts(engine: Engine, config: Config) -> None:
    whole = generate_upload(ShiftPlan("S1", "R1", 9, receipts=12, seed=4))
    early = Upload(structs.replace(whole.shift, closed_at=None, counters=None), whole.receipts[:5])
    repo = Repository(engine)
    ws = loaded(repo.load(early), 5, 0)
    (open_row,) = Reader(engine, config).shift_rows()
    assert open_row["closed_at"] is None and open_row["status"] == "no_counters"

    final = repo.load(whole)
    assert loaded(final, 7, 5) == ws and final.changed
    assert counts(engine)["shifts"] == 1
    assert stored_receipts(engine, config, ws) == whole.receipts
    (row,) = Reader(engine, config).shift_rows()
    assert row["receipts_count"] == 12 and row["status"] == "ok"
    assert row["closed_at"] is not None


def test_a_closed_shift_stays_closed_and_keeps_its_counters(engine: Engine, config: Config) -> None:
    whole = generate_upload(ShiftPlan("S1", "R1", 9, receipts=6, seed=5))
    repo = Repository(engine)
    ws = loaded(repo.load(whole), 6, 0)
    before = shift_row(engine, ws)
    reopened = Upload(structs.replace(whole.shift, closed_at=None, counters=None), whole.receipts)
    assert loaded(repo.load(reopened), 0, 6) == ws
    after = shift_row(engine, ws)
    assert after.closed_at == before.closed_at == whole.shift.closed_at
    assert after.has_counters and after.c_drawer == before.c_drawer
    assert after.revision == before.revision
    (row,) = Reader(engine, config).shift_rows()
    assert row["status"] == "ok"


def test_later_header_values_replace_earlier_ones(engine: Engine) -> None:
    repo = Repository(engine)
    ws = loaded(repo.load(upload(2, T0, receipt(1), closed_at=T0 + HOUR)), 1, 0)
    counters = ShiftCounters(receipts_count=1, first_receipt_number=1, last_receipt_number=1)
    assert loaded(repo.load(upload(2, T0, closed_at=T0 + 2 * HOUR, counters=counters)), 0, 0) == ws
    row = shift_row(engine, ws)
    assert row.closed_at == T0 + 2 * HOUR
    assert row.has_counters and row.c_receipts_count == 1


# -- batches in any order ------------------------------------------------------------------

_example = itertools.count()
HEADER = [
    c
    for c in shifts.c
    if c.name not in ("workshift_id", "register_id", "revision", "created_at", "updated_at")
]


def content(engine: Engine, store: str, register: str) -> dict[str, Any]:
    """What is stored for a register's shift, with receipts known by number, not by key."""
    with engine.connect() as conn:
        (ws,) = conn.execute(
            select(shifts.c.workshift_id)
            .join(registers, registers.c.register_id == shifts.c.register_id)
            .where(registers.c.store_code == store, registers.c.register_code == register)
        ).scalars()
        header = conn.execute(select(*HEADER).where(shifts.c.workshift_id == ws)).one()
        stored = conn.execute(select(receipts).where(receipts.c.workshift_id == ws)).all()

        def children(table: Any) -> list[tuple[Any, ...]]:
            (fk,) = table.foreign_keys  # the column that points at its receipt
            number = {getattr(r, fk.column.name): r.number for r in stored}
            query = select(table).where(fk.parent.in_(list(number)))
            return sorted(
                (
                    number[r._mapping[fk.parent]],
                    *(v for c, v in r._mapping.items() if c != fk.parent.name),
                )
                for r in conn.execute(query)
            )

        return {
            "shift": tuple(header),
            "receipts": sorted((r.number, r.kind, r.closed_at, r.cashier) for r in stored),
            "lines": children(lines),
            "payments": children(payments),
        }


def other_uids(shift: Upload, register: str) -> Upload:
    """The same shift under another register, its uids changed so they do not collide."""
    return Upload(
        structs.replace(shift.shift, register_code=register),
        tuple(
            structs.replace(r, uid=str(uuid.uuid5(uuid.NAMESPACE_OID, r.uid)))
            for r in shift.receipts
        ),
    )


@st.composite
def batch_plans(draw: st.DrawFn) -> tuple[int, list[int], list[int], list[bool]]:
    """Receipts, the batch of each receipt, the upload order of batches, and open headers."""
    receipts_count = draw(st.integers(0, 14))
    batches = draw(st.integers(1, 4))
    of = draw(
        st.lists(st.integers(0, batches - 1), min_size=receipts_count, max_size=receipts_count)
    )
    order = draw(st.permutations(range(batches)))
    repeats = draw(st.lists(st.integers(0, batches - 1), max_size=3))
    open_header = draw(st.lists(st.booleans(), min_size=batches, max_size=batches))
    return receipts_count, of, [*order, *repeats], open_header


@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(plan=batch_plans(), seed=st.integers(0, 100))
def test_batches_in_any_order_store_the_same_rows_as_one_upload(
    engine: Engine, plan: tuple[int, list[int], list[int], list[bool]], seed: int
) -> None:
    receipts_count, batch_of, order, open_header = plan
    n = next(_example)
    whole = generate_upload(ShiftPlan(f"H{n}", "ONE", 11, receipts=receipts_count, seed=seed))
    split = other_uids(whole, "SPLIT")
    open_shift = structs.replace(split.shift, closed_at=None, counters=None)
    repo = Repository(engine)
    repo.load(whole)
    for batch in order:
        header = open_shift if open_header[batch] and batch != order[-1] else split.shift
        part = tuple(r for r, b in zip(split.receipts, batch_of, strict=True) if b == batch)
        repo.load(Upload(header, part))
    assert content(engine, f"H{n}", "SPLIT") == content(engine, f"H{n}", "ONE")


# -- a failed load changes nothing -----------------------------------------------------------


def test_a_load_failing_after_its_receipts_went_in_leaves_no_trace(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = Repository(engine)
    first = generate_upload(ShiftPlan("S1", "R1", 5, receipts=8, seed=6))
    early = Upload(
        structs.replace(first.shift, opened_at=None, closed_at=None, counters=None),
        first.receipts[:3],
    )
    ws = loaded(repo.load(early), 3, 0)
    before = snapshot(engine)

    # Fails in the payments insert: receipts and lines of this load are already in,
    # the stored open time is about to be filled, and the header is about to change.
    def failing(conn: Connection, rows: object) -> None:
        conn.exec_driver_sql("INSERT INTO no_such_table VALUES (1)")

    monkeypatch.setattr(repo._bulk, "payments", failing)
    with pytest.raises(Exception, match="no_such_table"):
        repo.load(first)
    assert snapshot(engine) == before
    retried = Repository(engine).load(first)
    assert loaded(retried, 5, 3) == ws
    assert shift_row(engine, ws).opened_at == first.shift.opened_at


def test_a_batch_whose_second_upload_fails_stores_none_of_the_batch(engine: Engine) -> None:
    repo = Repository(engine)
    repo.load(upload(1, T0, receipt(1)))
    before = snapshot(engine)
    good = generate_upload(ShiftPlan("S2", "R9", 3, receipts=10, seed=7))
    more = upload(1, T0, receipt(2))
    too_big = upload(2, T0, receipt(3), receipt(4, ReceiptKind.SALE, (CASH, 2**63)))
    with pytest.raises(Exception):  # noqa: B017 - whatever the driver raises for a bigint overflow
        repo.load_batch([good, more, too_big])
    assert snapshot(engine) == before
    outcomes = repo.load_batch([good, more])
    assert [o.receipts_stored for o in outcomes] == [10, 1]


# -- reading: reconciliation rows --------------------------------------------------------------

# A shift worked out by hand (kopecks): sales cash 1300, noncash 3200; returns cash 200,
# noncash 500; revenue cash 1100, noncash 2700; cash in 5000, out 1500; drawer 4600.
# The CANCELLED receipt's 99900 counts toward nothing but receipts_count (8).
HAND = (
    receipt(1, ReceiptKind.CASH_IN, (CASH, 5000)),
    receipt(2, ReceiptKind.SALE, (CASH, 1000)),
    receipt(3, ReceiptKind.SALE, (NONCASH, 2500)),
    receipt(4, ReceiptKind.SALE, (CASH, 300), (NONCASH, 700)),
    receipt(5, ReceiptKind.CANCELLED, (CASH, 99_900)),
    receipt(6, ReceiptKind.RETURN, (CASH, 200)),
    receipt(7, ReceiptKind.RETURN, (NONCASH, 500)),
    receipt(8, ReceiptKind.CASH_OUT, (CASH, 1500)),
)
HAND_COUNTERS = ShiftCounters(8, 1, 8, 1300, 3200, 200, 500, 5000, 1500, 4600)
HAND_SUMS = {
    "receipts_count": 8,
    "sales_cash": 1300,
    "sales_noncash": 3200,
    "returns_cash": 200,
    "returns_noncash": 500,
    "revenue_cash": 1100,
    "revenue_noncash": 2700,
    "drawer": 4600,
    "cash_in": 5000,
    "cash_out": 1500,
}


def hand_shift(number: int, counters: ShiftCounters | None, items: tuple[Receipt, ...]) -> Upload:
    return upload(
        number,
        T0 + number * 24 * HOUR,
        *(structs.replace(r, uid=uid(number, r.number)) for r in items),
        closed_at=T0 + number * 24 * HOUR + 12 * HOUR,
        counters=counters,
    )


def test_rows_have_the_spec_keys_sums_and_statuses(engine: Engine, config: Config) -> None:
    repo = Repository(engine)
    cases = {
        "ok": hand_shift(1, HAND_COUNTERS, HAND),
        "mismatch": hand_shift(2, structs.replace(HAND_COUNTERS, sales_cash=1301), HAND),
        "incomplete": hand_shift(3, structs.replace(HAND_COUNTERS, last_receipt_number=9), HAND),
        "no_counters": hand_shift(4, None, HAND),
    }
    ids = {status: loaded(repo.load(u), 8, 0) for status, u in cases.items()}
    rows = Reader(engine, config).shift_rows()
    assert [r["workshift_id"] for r in rows] == sorted(ids.values())
    for status, ws in ids.items():
        (row,) = [r for r in rows if r["workshift_id"] == ws]
        assert set(row) == SPEC7_KEYS
        assert {k: row[k] for k in HAND_SUMS} == HAND_SUMS
        assert row["status"] == status
        assert row["exported"] is False
        assert row["store_code"] == "S1" and row["register_code"] == "R1"
    gap = hand_shift(5, HAND_COUNTERS, tuple(r for r in HAND if r.number != 4))
    loaded(repo.load(gap), 7, 0)
    assert Reader(engine, config).shift_rows()[-1]["status"] == "incomplete"


def test_rows_match_the_in_memory_reconciliation(engine: Engine, config: Config) -> None:
    repo = Repository(engine)
    uploads = [
        generate_upload(ShiftPlan("S1", "R1", number, receipts=30, seed=number, closed=closed))
        for number, closed in ((1, True), (2, False), (3, True))
    ]
    expected = []
    for shift in uploads:
        ws = loaded(repo.load(shift), 30, 0)
        report = make_report(ws, shift.shift, shift.receipts)
        expected.append(reconciliation_row(ws, shift.shift, report.totals, report.status))
    rows = Reader(engine, config).shift_rows()
    assert [{k: v for k, v in row.items() if k != "exported"} for row in rows] == expected
    assert [row["status"] for row in rows] == ["ok", "no_counters", "ok"]


def test_a_shift_without_receipts_has_zero_sums(engine: Engine, config: Config) -> None:
    loaded(Repository(engine).load(upload(1, T0)), 0, 0)
    (row,) = Reader(engine, config).shift_rows()
    assert all(row[k] == 0 for k in HAND_SUMS)
    assert row["status"] == "no_counters"


def test_exported_follows_the_stored_revision(engine: Engine, config: Config) -> None:
    repo = Repository(engine)
    ws = loaded(repo.load(upload(1, T0, receipt(1), closed_at=T0 + HOUR)), 1, 0)
    other = loaded(repo.load(upload(2, T0, receipt(2), closed_at=T0 + HOUR)), 1, 0)
    reader = Reader(engine, config)
    report = reader.report(ws)
    assert report is not None
    Exports(engine).mark_exported(ws, report[1], ["json"], "hash")
    assert [r["exported"] for r in reader.shift_rows()] == [True, False]
    assert [r["workshift_id"] for r in reader.shift_rows(ShiftFilter(not_exported=True))] == [other]
    assert reader.export_backlog() == [other]
    loaded(repo.load(upload(1, T0, receipt(3))), 1, 0)  # new content: stale again
    assert [r["exported"] for r in reader.shift_rows()] == [False, False]
    assert reader.export_backlog() == [ws, other]


# -- reading: filters ---------------------------------------------------------------------------

MARCH_1_MSK_LAST = 1_772_398_799_000  # 2026-03-01T20:59:59Z = 23:59:59 Moscow, March 1
MARCH_2_MSK = 1_772_398_800_000  # 2026-03-01T21:00:00Z = 00:00 Moscow, March 2
MARCH_2_VLAT = 1_772_373_600_000  # 2026-03-01T14:00:00Z = 00:00 Vladivostok, March 2
MARCH_3_MSK = 1_772_485_200_000  # 2026-03-02T21:00:00Z = 00:00 Moscow, March 3


@pytest.fixture
def filtered(engine: Engine, tmp_path: Path) -> tuple[Reader, dict[str, int]]:
    """Four shifts around local midnights; S2 keeps Vladivostok time, S1 Moscow (default)."""
    config = parse_config(
        {
            "server": {"data_dir": str(tmp_path), "timezone": "Europe/Moscow"},
            "stores": {"S2": {"timezone": "Asia/Vladivostok"}},
        },
        {},
    )
    repo = Repository(engine)
    first_receipt = structs.replace(receipt(1, tag=4), closed_at=MARCH_3_MSK)
    ids = {
        "S1R1-mar1": loaded(repo.load(upload(1, MARCH_1_MSK_LAST, receipt(1, tag=1))), 1, 0),
        "S1R1-mar2": loaded(repo.load(upload(2, MARCH_2_MSK, receipt(1, tag=2))), 1, 0),
        "S2R1-mar2": loaded(
            repo.load(upload(1, MARCH_2_VLAT, receipt(1, tag=3), store="S2")), 1, 0
        ),
        # No open time: its first receipt's time decides its date (March 3 in Moscow).
        "S1R2-mar3": loaded(
            repo.load(
                upload(1, None, receipt(2, tag=4, at=MARCH_3_MSK), first_receipt, register="R2")
            ),
            2,
            0,
        ),
    }
    return Reader(engine, config), ids


FILTER_CASES = [
    (ShiftFilter(), {"S1R1-mar1", "S1R1-mar2", "S2R1-mar2", "S1R2-mar3"}),
    (ShiftFilter(store_code="S2"), {"S2R1-mar2"}),
    (ShiftFilter(register_code="R1"), {"S1R1-mar1", "S1R1-mar2", "S2R1-mar2"}),
    (ShiftFilter(store_code="S1", register_code="R2"), {"S1R2-mar3"}),
    (ShiftFilter(store_code="S3"), set()),
    (ShiftFilter(date_from=date(2026, 3, 2)), {"S1R1-mar2", "S2R1-mar2", "S1R2-mar3"}),
    (ShiftFilter(date_to=date(2026, 3, 2)), {"S1R1-mar1"}),
    (
        ShiftFilter(date_from=date(2026, 3, 2), date_to=date(2026, 3, 3)),
        {"S1R1-mar2", "S2R1-mar2"},
    ),
    (ShiftFilter(date_from=date(2026, 3, 3)), {"S1R2-mar3"}),
    (ShiftFilter(date_from=date(2026, 3, 1), date_to=date(2026, 3, 1)), set()),
    (ShiftFilter(date_from=date(2026, 3, 4)), set()),
    (ShiftFilter(store_code="S1", date_to=date(2026, 3, 3)), {"S1R1-mar1", "S1R1-mar2"}),
]


def test_filters(filtered: tuple[Reader, dict[str, int]]) -> None:
    reader, ids = filtered
    names = {ws: name for name, ws in ids.items()}
    for flt, expected in FILTER_CASES:
        assert {names[r["workshift_id"]] for r in reader.shift_rows(flt)} == expected, flt

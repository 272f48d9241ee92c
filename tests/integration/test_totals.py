"""Totals and reports against full recomputations from the stored receipts.

The totals tables are kept by the loader and the trimmer's calls; here they are
compared with sums the test computes itself from every stored receipt, after random
loads, re-sent receipts, receipts claimed by two shifts, changed counters and trims.
Store-day rows are compared with the test's own grouping by local date in two
time zones (one with summer time), with receipts on both sides of local midnight.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Sequence
from datetime import date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from alembic import command
from alembic.script import ScriptDirectory
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Connection, Engine, delete, select

from cashserver.config import Config, parse_config
from cashserver.domain import (
    Line,
    Payment,
    PaymentMethod,
    Receipt,
    ReceiptKind,
    Shift,
    ShiftCounters,
    Upload,
)
from cashserver.reconcile import compute_totals, numbers_in_range
from cashserver.reports import STORE_DAY_KEYS, Reports
from cashserver.store.engine import alembic_config, open_engine, upgrade, write_transaction
from cashserver.store.reading import Reader, ShiftFilter, read_receipts
from cashserver.store.registers import Registers
from cashserver.store.repository import Repository
from cashserver.store.schema import (
    TOTAL_COLUMNS,
    exports,
    lines,
    payments,
    receipts,
    registers,
    shift_quarter_totals,
    shift_totals,
    shifts,
)
from cashserver.store.totals import QUARTER_MS, TotalsWriter

# 2026-03-07 20:00 UTC: 23:00 in Moscow, 15:00 in New York; 2026-03-08 is New York's
# first day of summer time, so one of its local days is 23 hours long.
T0 = 1_772_913_600_000
HOUR = 3_600_000
ZONES = {"S1": "Europe/Moscow", "S2": "America/New_York"}
SHIFT_KEYS = [(s, r, n) for s in ZONES for r in ("R1", "R2") for n in (1, 2)]
CASH, NONCASH = PaymentMethod.CASH, PaymentMethod.NONCASH


def make_config() -> Config:
    return parse_config({"stores": {code: {"timezone": zone} for code, zone in ZONES.items()}})


def opened_at(key: tuple[str, str, int]) -> int:
    return T0 + SHIFT_KEYS.index(key) * HOUR


# -- a pool of receipts the operations draw from ----------------------------------------


@st.composite
def receipt_pool(draw: st.DrawFn) -> list[Receipt]:
    size = draw(st.integers(4, 14))
    pool = []
    for i in range(size):
        kind = draw(st.sampled_from(ReceiptKind))
        amount = draw(st.integers(0, 50_000))
        if kind in (ReceiptKind.CASH_IN, ReceiptKind.CASH_OUT):
            pays: tuple[Payment, ...] = (Payment(CASH, amount),)
        else:
            split = draw(st.integers(0, amount))
            pays = tuple(
                p for p in (Payment(CASH, split), Payment(NONCASH, amount - split)) if p.amount
            )
        pool.append(
            Receipt(
                uid=str(uuid.UUID(int=i + 1, version=4)),
                number=draw(st.integers(1, 6)),
                kind=kind,
                # Up to 40 hours either side of T0: several local midnights in both zones.
                closed_at=T0 + draw(st.integers(-40 * 60, 40 * 60)) * 60_000,
                payments=pays,
            )
        )
    return pool


operations = st.lists(
    st.one_of(
        st.tuples(
            st.just("load"),
            st.sampled_from(SHIFT_KEYS),
            st.lists(st.integers(0, 13), max_size=8),
            st.one_of(st.none(), st.tuples(st.integers(1, 3), st.integers(1, 7))),
        ),
        st.tuples(st.just("trim_some"), st.sampled_from(SHIFT_KEYS), st.integers(1, 3)),
        st.tuples(st.just("trim_shift"), st.sampled_from(SHIFT_KEYS)),
    ),
    min_size=1,
    max_size=12,
)


# -- a trimmer's deletions, through the functions the totals offer it -------------------


def delete_receipts(conn: Connection, writer: TotalsWriter, ids: Sequence[int]) -> None:
    writer.forget_receipts(conn, ids)
    for table in (payments, lines, receipts):
        conn.execute(delete(table).where(table.c.receipt_id.in_(list(ids))))


def workshift_of(conn: Connection, key: tuple[str, str, int]) -> int | None:
    found = conn.execute(
        select(shifts.c.workshift_id)
        .join(registers, registers.c.register_id == shifts.c.register_id)
        .where(registers.c.store_code == key[0], registers.c.register_code == key[1])
        .where(shifts.c.shift_number == key[2])
    ).scalar()
    return None if found is None else int(found)


def receipt_ids(conn: Connection, workshift_id: int) -> list[int]:
    query = select(receipts.c.receipt_id).where(receipts.c.workshift_id == workshift_id)
    return [int(i) for i in conn.execute(query.order_by(receipts.c.receipt_id)).scalars()]


def run(engine: Engine, pool: list[Receipt], ops: list[Any]) -> None:
    repo = Repository(engine)
    writer = TotalsWriter(engine.dialect.name)
    for op in ops:
        if op[0] == "load":
            _, key, picks, span = op
            counters = None
            if span is not None:
                counters = ShiftCounters(first_receipt_number=span[0], last_receipt_number=span[1])
            chosen = tuple(pool[i % len(pool)] for i in picks)
            shift = Shift(key[0], key[1], key[2], opened_at=opened_at(key), counters=counters)
            repo.load(Upload(shift, chosen))
            continue
        with write_transaction(engine) as conn:
            ws = workshift_of(conn, op[1])
            if ws is None:
                continue
            ids = receipt_ids(conn, ws)
            if op[0] == "trim_some":
                delete_receipts(conn, writer, ids[:: op[2]])
            else:
                delete_receipts(conn, writer, ids)
                writer.forget_shifts(conn, [ws])
                conn.execute(delete(exports).where(exports.c.workshift_id == ws))
                conn.execute(delete(shifts).where(shifts.c.workshift_id == ws))


# -- full recomputations ----------------------------------------------------------------


def recomputed(engine: Engine) -> tuple[dict[int, tuple[int, ...]], dict[tuple[int, int], Any]]:
    per_shift: dict[int, tuple[int, ...]] = {}
    per_quarter: dict[tuple[int, int], Any] = {}
    with engine.connect() as conn:
        for row in conn.execute(
            select(shifts, registers.c.store_code).join(
                registers, registers.c.register_id == shifts.c.register_id
            )
        ):
            stored = read_receipts(conn, receipts.c.workshift_id == row.workshift_id)
            counters = (
                ShiftCounters(
                    first_receipt_number=row.c_first_receipt_number,
                    last_receipt_number=row.c_last_receipt_number,
                )
                if row.has_counters
                else None
            )
            present = numbers_in_range(counters, (r.number for r in stored))
            per_shift[row.workshift_id] = (*_sums(stored), present)
            by_quarter: defaultdict[int, list[Receipt]] = defaultdict(list)
            for r in stored:
                by_quarter[r.closed_at // QUARTER_MS].append(r)
            for quarter, group in by_quarter.items():
                key = (row.workshift_id, quarter)
                per_quarter[key] = (row.store_code, row.register_id, *_sums(group))
    return per_shift, per_quarter


def _sums(group: Sequence[Receipt]) -> tuple[int, ...]:
    t = compute_totals(group)
    return tuple(getattr(t, name) for name in TOTAL_COLUMNS)


def kept(engine: Engine) -> tuple[dict[int, tuple[int, ...]], dict[tuple[int, int], Any]]:
    with engine.connect() as conn:
        ids = [int(ws) for ws in conn.execute(select(shifts.c.workshift_id)).scalars()]
        rows = {r.workshift_id: r for r in conn.execute(select(shift_totals))}
        zero = (0,) * (len(TOTAL_COLUMNS) + 1)
        per_shift = {
            ws: (
                tuple(getattr(rows[ws], c) for c in (*TOTAL_COLUMNS, "numbers_in_range"))
                if ws in rows
                else zero
            )
            for ws in ids
        }
        assert set(rows) <= set(ids), "totals of a deleted shift are left behind"
        per_quarter = {
            (r.workshift_id, r.quarter): (
                r.store_code,
                r.register_id,
                *(getattr(r, c) for c in TOTAL_COLUMNS),
            )
            for r in conn.execute(select(shift_quarter_totals))
        }
    return per_shift, per_quarter


def clear(engine: Engine) -> None:
    with write_transaction(engine) as conn:
        for table in (shift_quarter_totals, shift_totals, payments, lines, receipts, exports):
            conn.execute(delete(table))
        conn.execute(delete(shifts))


@pytest.fixture(scope="module")
def sqlite_engine(tmp_path_factory: pytest.TempPathFactory) -> Any:
    path: Path = tmp_path_factory.mktemp("totals") / "cashserver.db"
    engine = open_engine(f"sqlite:///{path}")
    upgrade(engine)
    yield engine
    engine.dispose()


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(pool=receipt_pool(), ops=operations)
def test_totals_equal_a_full_recomputation(
    sqlite_engine: Engine, pool: list[Receipt], ops: Any
) -> None:
    clear(sqlite_engine)
    for op in ops:  # compared after every step: an error may be undone by a later trim
        run(sqlite_engine, pool, [op])
        assert kept(sqlite_engine) == recomputed(sqlite_engine), op
    # The store-day report agrees with grouping every stored receipt by its local date.
    assert Reports(sqlite_engine, make_config()).store_days() == independent_store_days(
        sqlite_engine
    )


FIXED_OPS: list[Any] = [
    ("load", ("S1", "R1", 1), [0, 1, 2, 3], (1, 6)),
    ("load", ("S1", "R1", 1), [2, 3, 4, 5], None),
    ("load", ("S2", "R1", 1), [5, 6, 7, 8, 9], None),
    ("load", ("S2", "R2", 2), [9, 10, 11], (1, 3)),
    ("trim_some", ("S1", "R1", 1), 2),
    ("load", ("S1", "R2", 2), [0, 12, 13], (2, 4)),
    ("trim_shift", ("S2", "R1", 1)),
    ("load", ("S2", "R1", 1), [6, 7], (1, 2)),
]


def fixed_pool() -> list[Receipt]:
    kinds = list(ReceiptKind)
    return [
        Receipt(
            uid=str(uuid.UUID(int=1000 + i, version=4)),
            number=1 + i % 5,
            kind=kinds[i % len(kinds)],
            closed_at=T0 + (i * 7 - 40) * HOUR // 2,
            payments=(Payment(CASH, 100 * i), Payment(NONCASH, 7 * i))
            if kinds[i % len(kinds)] in (ReceiptKind.SALE, ReceiptKind.RETURN)
            else (Payment(CASH, 50 * i),),
        )
        for i in range(14)
    ]


def test_totals_on_both_backends(engine: Engine) -> None:
    run(engine, fixed_pool(), FIXED_OPS)
    assert kept(engine) == recomputed(engine)
    assert Reports(engine, make_config()).store_days() == independent_store_days(engine)


# -- reports ------------------------------------------------------------------------------


def independent_store_days(engine: Engine, config: Config | None = None) -> list[dict[str, Any]]:
    """Every stored receipt grouped by store and the local date of its closing; each
    day's completeness from its shifts' reports, made from their stored receipts."""
    config = config or make_config()
    reader = Reader(engine, config)
    groups: defaultdict[tuple[str, date], list[tuple[int, int, Receipt]]] = defaultdict(list)
    with engine.connect() as conn:
        for row in conn.execute(
            select(shifts.c.workshift_id, shifts.c.register_id, registers.c.store_code).join(
                registers, registers.c.register_id == shifts.c.register_id
            )
        ):
            zone = ZoneInfo(ZONES.get(row.store_code, config.server.timezone))
            for r in read_receipts(conn, receipts.c.workshift_id == row.workshift_id):
                day = datetime.fromtimestamp(r.closed_at / 1000, zone).date()
                groups[(row.store_code, day)].append((row.workshift_id, row.register_id, r))
    result = []
    for (store, day), items in sorted(groups.items()):
        t = compute_totals(r for _, _, r in items)
        reports = [reader.report(ws) for ws in {ws for ws, _, _ in items}]
        states = [(r.shift.closed_at is None, r.status != "ok") for r, _ in filter(None, reports)]
        open_shifts = sum(1 for is_open, _ in states if is_open)
        problem_shifts = sum(1 for _, problem in states if problem)
        result.append(
            {
                "store_code": store,
                "date": day.isoformat(),
                "registers_count": len({reg for _, reg, _ in items}),
                "shifts_count": len({ws for ws, _, _ in items}),
                "receipts_count": t.receipts_count,
                "sales_cash": t.sales_cash,
                "sales_noncash": t.sales_noncash,
                "returns_cash": t.returns_cash,
                "returns_noncash": t.returns_noncash,
                "revenue_cash": t.revenue_cash,
                "revenue_noncash": t.revenue_noncash,
                "cash_in": t.cash_in,
                "cash_out": t.cash_out,
                "drawer": t.drawer,
                "complete": open_shifts == 0 and problem_shifts == 0,
                "open_shifts": open_shifts,
                "problem_shifts": problem_shifts,
            }
        )
    return result


def test_store_days_filter_by_local_dates(engine: Engine) -> None:
    run(engine, fixed_pool(), FIXED_OPS)
    reports = Reports(engine, make_config())
    every = independent_store_days(engine)
    assert every and all(list(row) == list(STORE_DAY_KEYS) for row in every)
    got = reports.store_days("S2", date(2026, 3, 7), date(2026, 3, 9))
    assert got == [
        r for r in every if r["store_code"] == "S2" and "2026-03-07" <= r["date"] < "2026-03-09"
    ]
    assert reports.store_days("S1", date(2026, 3, 8), date(2026, 3, 8)) == []


def midnight_free_upload(store: str, register: str, number: int, day: int) -> Upload:
    """A closed shift from 09:00 to 21:00 local time, receipts both hours apart and near 23:59."""
    zone = ZoneInfo(ZONES[store])
    start = int(datetime(2026, 3, 5 + day, 9, tzinfo=zone).timestamp() * 1000)
    items = tuple(
        Receipt(
            uid=str(uuid.uuid5(uuid.NAMESPACE_OID, f"{store}{register}{number}{i}")),
            number=i + 1,
            kind=(ReceiptKind.SALE, ReceiptKind.RETURN, ReceiptKind.CASH_IN)[i % 3],
            closed_at=start + i * 37 * 60_000,
            lines=(Line(1, "A1", "", "milk", "Dairy", 1000, 5000 + i, 5000 + i),),
            payments=(Payment(CASH if i % 2 else NONCASH, 5000 + i),),
        )
        for i in range(19)
    )
    shift = Shift(store, register, number, start, start + 12 * HOUR)
    return Upload(shift, items)


def test_days_of_a_store_add_up_to_its_shifts(engine: Engine) -> None:
    repo = Repository(engine)
    for store in ZONES:
        for register in ("R1", "R2"):
            for day in range(3):
                repo.load(midnight_free_upload(store, register, day + 1, day))
    config = make_config()
    money = [
        k
        for k in STORE_DAY_KEYS
        if k in TOTAL_COLUMNS or k in ("revenue_cash", "revenue_noncash", "drawer")
    ]
    for store in ZONES:
        days = Reports(engine, config).store_days(store)
        rows = Reader(engine, config).shift_rows(ShiftFilter(store_code=store))
        assert len(days) == 3 and len(rows) == 6
        assert all(d["shifts_count"] == 2 and d["registers_count"] == 2 for d in days)
        # Closed shifts without counters: no day is complete, both its shifts a problem.
        assert all(
            (d["complete"], d["open_shifts"], d["problem_shifts"]) == (False, 0, 2) for d in days
        )
        for key in money:
            assert sum(d[key] for d in days) == sum(r[key] for r in rows), key


def test_department_report(engine: Engine, tmp_path: Path) -> None:
    def line(dept: str, qty: int, amount: int) -> Line:
        return Line(1, "I", "", "item", dept, qty, amount, amount)

    items = (
        Receipt(
            str(uuid.UUID(int=1, version=4)),
            1,
            ReceiptKind.SALE,
            T0,
            lines=(line("Dairy", 1000, 500), line("Bread", 2500, 300), line("Dairy", 500, 250)),
            payments=(Payment(CASH, 1050),),
        ),
        Receipt(
            str(uuid.UUID(int=2, version=4)),
            2,
            ReceiptKind.RETURN,
            T0 + 1,
            lines=(line("Dairy", 1000, 500),),
            payments=(Payment(CASH, 500),),
        ),
        Receipt(
            str(uuid.UUID(int=3, version=4)),
            3,
            ReceiptKind.CANCELLED,
            T0 + 2,
            lines=(line("Meat", 1000, 900),),
        ),
    )
    outcome = Repository(engine).load(Upload(Shift("S1", "R1", 1, T0), items))
    report = Reports(engine, make_config()).departments(outcome.workshift_id)
    assert report == {
        "workshift_id": outcome.workshift_id,
        "load_mode": "line",
        "departments": [
            {
                "department": "Bread",
                "receipts_count": 1,
                "quantity_sold": 2500,
                "quantity_returned": 0,
                "sales": 300,
                "returns": 0,
                "revenue": 300,
            },
            {
                "department": "Dairy",
                "receipts_count": 2,
                "quantity_sold": 1500,
                "quantity_returned": 1000,
                "sales": 750,
                "returns": 500,
                "revenue": 250,
            },
        ],
        "total": {
            "receipts_count": 2,
            "quantity_sold": 4000,
            "quantity_returned": 1000,
            "sales": 1050,
            "returns": 500,
            "revenue": 550,
        },
    }
    by_register = parse_config({"reports": {"load_mode": "register"}})
    report = Reports(engine, by_register).departments(outcome.workshift_id)
    assert report is not None and report["load_mode"] == "register"
    assert [d["department"] for d in report["departments"]] == [""]
    assert report["departments"][0]["receipts_count"] == 2
    assert Reports(engine, by_register).departments(outcome.workshift_id + 99) is None
    Registers(engine).update_entry("S1", "R1", {"department": "Grocery"})
    report = Reports(engine, by_register).departments(outcome.workshift_id)
    assert report is not None
    assert [(d["department"], d["sales"]) for d in report["departments"]] == [("Grocery", 1050)]


def test_the_migration_backfills_totals_of_stored_receipts(engine: Engine) -> None:
    run(engine, fixed_pool(), FIXED_OPS)
    before = kept(engine)
    assert any(v[0] for v in before[0].values())
    cfg = alembic_config(engine)
    script = ScriptDirectory.from_config(cfg).get_revision("0005_totals")
    assert script is not None and isinstance(script.down_revision, str)
    command.downgrade(cfg, script.down_revision)
    upgrade(engine)
    assert kept(engine) == before == recomputed(engine)

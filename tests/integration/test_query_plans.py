"""The hot queries' plans on SQLite (issue 21): each uses the index it is meant to.

The real code paths run (the loader, the shift list, the store-day and department
reports, the event log, the exporter, the trimmer) while every statement they send is
recorded; then ``EXPLAIN QUERY PLAN`` of each. A change that makes one of them scan a
big table, or an index that is dropped while a query still needs it, fails here; and
every index of the model is used by at least one of them, so an index nobody uses
shows up as well (migration 0010 dropped ``ix_shifts_opened_at`` this way).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from typing import Any

import pytest
from sqlalchemy import Engine, event

from cashserver.emulator.generate import ShiftPlan, generate_upload
from cashserver.exchange.exporter import Exporter
from cashserver.jobs.trimmer import trim_shifts
from cashserver.store.event_log import EventFilter, event_page
from cashserver.store.events import Events
from cashserver.store.reading import Reader, ShiftFilter
from cashserver.store.reports import Reports
from cashserver.store.repository import Repository
from cashserver.store.schema import metadata
from tests.integration.site import Site

# The tables that grow with the sales: a statement may never read them whole.
BIG_TABLES = ("receipts", "lines", "payments", "shift_quarter_totals", "shift_totals", "events")

# The hot queries: (what runs them, a pattern of the statement, the index its plan uses).
EXPECTED = [
    (
        "load",
        r"^SELECT .* FROM registers WHERE registers.store_code = \?",
        "sqlite_autoindex_registers_1",
    ),
    (
        "load",
        r"^SELECT shifts\..* FROM shifts WHERE shifts.register_id = \?",
        "ix_shifts_register_number",
    ),
    ("load", r"^SELECT receipts.uid, .* WHERE receipts.uid IN", "sqlite_autoindex_receipts_1"),
    ("load", r"^SELECT lines\..* WHERE receipts.receipt_id IN", "sqlite_autoindex_lines_1"),
    ("load", r"^SELECT payments\..* WHERE receipts.receipt_id IN", "sqlite_autoindex_payments_1"),
    ("reports", r"^SELECT shifts\..* WHERE registers.store_code = \?", "ix_shifts_register_number"),
    ("reports", r"^SELECT shift_quarter_totals.quarter", "ix_shift_quarter_totals_store_quarter"),
    ("reports", r"^SELECT shift_totals\.", "sqlite_autoindex_shift_totals_1"),
    (
        "reports",
        r"^SELECT receipts.receipt_id, receipts.kind, lines.department",
        "ix_receipts_workshift_id",
    ),
    ("events", r"^SELECT events\..* ORDER BY events.time DESC", "ix_events_time"),
    ("events", r"^SELECT count\(\*\) .* FROM events", "ix_events_time"),
    ("events", r"^DELETE FROM events WHERE events.time <", "ix_events_time"),
    (
        "export",
        r"^SELECT receipts\..* WHERE receipts.workshift_id = \? ORDER BY",
        "ix_receipts_workshift_id",
    ),
    ("export", r"^SELECT lines\..* WHERE receipts.workshift_id = \?", "ix_receipts_workshift_id"),
    (
        "export",
        r"^SELECT exports\..* WHERE exports.workshift_id = \?",
        "sqlite_autoindex_exports_1",
    ),
    ("export", r"^UPDATE leases SET", "sqlite_autoindex_leases_1"),
    ("trim", r"^SELECT shifts.workshift_id, registers.store_code", "ix_receipts_workshift_id"),
    ("trim", r"^DELETE FROM shift_quarter_totals WHERE", "sqlite_autoindex_shift_quarter_totals_1"),
    ("trim", r"^DELETE FROM lines WHERE .* receipts.workshift_id IN", "ix_receipts_workshift_id"),
]


@dataclass
class Statement:
    phase: str
    sql: str
    parameters: Any
    plan: list[str]


@pytest.fixture
def statements(site: Site, site_engine: Engine) -> Iterator[list[Statement]]:
    config = site.config
    phase = ["load"]
    seen: list[tuple[str, str, Any]] = []

    def record(conn: Any, cursor: Any, sql: str, parameters: Any, context: Any, many: bool) -> None:
        seen.append((phase[0], " ".join(sql.split()), parameters[0] if many else parameters))

    event.listen(site_engine, "before_cursor_execute", record)
    repository = Repository(site_engine)
    repository.load_batch([generate_upload(ShiftPlan("S1", "R1", n, 20)) for n in (1, 2)])
    repository.load_batch([generate_upload(ShiftPlan("S1", "R1", 1, 20))])  # duplicates
    phase[0] = "reports"
    reader = Reader(site_engine, config)
    reader.shift_rows(ShiftFilter())
    reader.shift_rows(
        ShiftFilter("S1", "R1", date(2020, 1, 1), date(2040, 1, 1), not_exported=True)
    )
    reports = Reports(site_engine, config)
    reports.store_days("S1", date(2020, 1, 1), date(2040, 1, 1))
    assert reports.departments(1) is not None
    phase[0] = "events"
    log = Events(site_engine)
    log.write([(1, "pull.finished", "{}")])
    assert event_page(site_engine, EventFilter("pull.", 0, 10), 10)[1] == 1
    assert log.trim(10) == 1
    phase[0] = "export"
    assert Exporter(site_engine, config).export_backlog().written == 2
    phase[0] = "trim"
    assert trim_shifts(site_engine, 1, 5, now=10**13).receipts == 40
    event.remove(site_engine, "before_cursor_execute", record)

    result: list[Statement] = []
    with site_engine.connect() as conn:
        for name, sql, parameters in seen:
            if not sql.startswith(("SELECT", "UPDATE", "DELETE")):
                continue
            rows = conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}", parameters).all()
            result.append(Statement(name, sql, parameters, [str(r[-1]) for r in rows]))
    yield result


def test_no_statement_reads_a_big_table_whole(statements: list[Statement]) -> None:
    scans = [
        (s.sql, step)
        for s in statements
        for step in s.plan
        if re.match(rf"SCAN ({'|'.join(BIG_TABLES)})\b", step)
    ]
    assert scans == []


@pytest.mark.parametrize(("phase", "pattern", "index"), EXPECTED)
def test_a_hot_query_uses_its_index(
    statements: list[Statement], phase: str, pattern: str, index: str
) -> None:
    matching = [s for s in statements if s.phase == phase and re.search(pattern, s.sql)]
    assert matching, f"no {phase} statement matches {pattern}"
    for s in matching:
        assert any(f" INDEX {index} " in f"{step} " for step in s.plan), (s.sql, s.plan)


def test_every_index_of_the_model_serves_a_query(statements: list[Statement]) -> None:
    used = {
        m.group(1) for s in statements for step in s.plan for m in re.finditer(r"INDEX (\w+)", step)
    }
    named = {index.name for table in metadata.tables.values() for index in table.indexes}
    assert named - used == set()

"""The benchmarks' raw limits insert the loader's rows into the project's schema: a
column added to a hot table must reach them, or ``make bench`` breaks unseen."""

from __future__ import annotations

from benchmarks.common import raw_sqlite_receipts_per_s, rows_of
from cashserver.emulator.generate import ShiftPlan, generate_upload
from cashserver.store.schema import lines, payments, receipts


def test_rows_have_every_column_of_the_hot_tables() -> None:
    upload = generate_upload(ShiftPlan("S1", "R1", 1, 5, seed=1))
    rows = rows_of([upload])
    for table, table_rows in zip((receipts, lines, payments), rows, strict=True):
        assert table_rows, table.name
        assert {len(row) for row in table_rows} == {len(table.c)}, table.name


def test_raw_sqlite_limit_runs_on_the_migrated_schema() -> None:
    upload = generate_upload(ShiftPlan("S1", "R1", 1, 20, seed=2))
    assert raw_sqlite_receipts_per_s([upload]) > 0

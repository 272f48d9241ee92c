"""Shared pieces of the benchmarks: the raw SQLite limit, percentiles, and a
throwaway PostgreSQL cluster.

The raw limit inserts the same rows the loader stores (receipts, lines, payments,
in the project's own schema) with the plain ``sqlite3`` module's executemany, in
one transaction: what a loader with no work of its own could reach on this disk.
"""

from __future__ import annotations

import json
import os
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cashserver.domain import Upload
from cashserver.store.engine import open_engine, upgrade

if TYPE_CHECKING:
    from tests.pg import Cluster


def rows_of(uploads: Sequence[Upload]) -> tuple[list[tuple[Any, ...]], ...]:
    """The receipts, lines and payments rows the loader would insert, every column of
    the schema in its order (``tests/unit/test_benchmark_rows.py`` checks them)."""
    receipts: list[tuple[Any, ...]] = []
    lines: list[tuple[Any, ...]] = []
    payments: list[tuple[Any, ...]] = []
    rid = 0
    for upload in uploads:
        for r in upload.receipts:
            rid += 1
            receipts.append((rid, r.uid, 1, r.number, int(r.kind), r.closed_at, r.cashier, 1))
            lines.extend((rid, i, *ln) for i, ln in enumerate(r.lines))
            payments.extend((rid, i, int(p.method), p.amount) for i, p in enumerate(r.payments))
    return receipts, lines, payments


def raw_sqlite_receipts_per_s(uploads: Sequence[Upload]) -> float:
    return raw_sqlite_measured(uploads)[0]


def raw_sqlite_measured(uploads: Sequence[Upload]) -> tuple[float, float]:
    """The raw limit's receipts per second and its CPU milliseconds per 1,000 receipts
    (the CPU figure holds still on a machine whose disk and neighbours do not)."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "raw.db"
        engine = open_engine(f"sqlite:///{path}")
        upgrade(engine)
        engine.dispose()
        receipts, lines, payments = rows_of(uploads)
        conn = sqlite3.connect(path, isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")
        conn.execute("INSERT INTO stores VALUES ('S', 0)")
        conn.execute(
            "INSERT INTO registers (store_code, register_code, created_at) VALUES ('S', 'R', 0)"
        )
        conn.execute(
            "INSERT INTO shifts (workshift_id, register_id, shift_number, created_at, updated_at)"
            " VALUES (1, 1, 1, 0, 0)"
        )
        started, cpu_started = time.perf_counter(), time.process_time()
        conn.execute("BEGIN")
        for table, rows in (("receipts", receipts), ("lines", lines), ("payments", payments)):
            marks = ", ".join("?" * len(rows[0]))
            conn.executemany(f"INSERT INTO {table} VALUES ({marks})", rows)
        conn.execute("COMMIT")
        elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu_started
        conn.close()
        return len(receipts) / elapsed, cpu * 1e6 / len(receipts)


def process_cpu_s(pid: int) -> float:
    """CPU seconds (user and system) a live process has used so far; 0 once it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    if len(ordered) == 1:
        return ordered[0]
    return statistics.quantiles(ordered, n=100, method="inclusive")[int(q) - 1]


def start_postgres(benchmark: str) -> Cluster | None:
    """A started throwaway cluster with fsync on (``tests/pg.py``), or ``None``.

    Without PostgreSQL server binaries it says so on stderr and prints the
    benchmark's one JSON line as ``{"benchmark": ..., "skipped": why}``. The caller
    must ``destroy()`` the cluster it gets.
    """
    from tests.pg import Cluster, PostgresUnavailable

    try:
        cluster = Cluster(fsync=True)
        cluster.start()
    except PostgresUnavailable as exc:
        print(f"{benchmark}: SKIPPED: {exc}", file=sys.stderr)
        print(json.dumps({"benchmark": benchmark, "skipped": str(exc)}))
        return None
    return cluster


def fresh_database(cluster: Cluster, name: str) -> str:
    """Create database ``name`` on the cluster, migrated; returns its URL."""
    cluster.execute(f"CREATE DATABASE {name}")
    url = cluster.url_for(name)
    engine = open_engine(url)
    upgrade(engine)
    engine.dispose()
    return url

"""Reports at real sizes: the store-day report, the Shifts page, and what totals cost.

Builds an SQLite database of ``--receipts`` receipts (default 1 million; the README
gives 10 million) in 50 stores of 2 registers each, one shift a register a day,
through the same ``Repository.load_batch`` the loader uses (so the totals are kept
as in production). Stores are spread over six time zones, so some shifts cross
local midnight. Then measures, and prints as one JSON line:

- the store-day report of one store for one month (``Reports.store_days``), p50/p95;
- the Shifts page of one register for one month, HTML rendered through the console
  app (Starlette's test client, no network), p50/p95;
- loader throughput (``load_batch`` of 1,000-receipt uploads on a fresh database)
  with the totals kept and with them switched off, interleaved in the same run.

With ``--postgres`` the same database is built on a throwaway PostgreSQL cluster
(``tests/pg.py``, fsync on) and the line says ``"database": "postgresql"``; the
loader throughput comparison is skipped there (the line says so), and without
PostgreSQL server binaries the line is a ``skipped`` one.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from collections.abc import Sequence
from datetime import date
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine

from benchmarks.common import fresh_database, percentile, start_postgres
from cashserver.config import Config, parse_config
from cashserver.domain import Receipt, Shift, Upload
from cashserver.emulator.generate import ShiftPlan, generate_upload
from cashserver.log import configure_logging
from cashserver.store.engine import open_engine, upgrade
from cashserver.store.reports import Reports
from cashserver.store.repository import Repository
from cashserver.tuning import manual_gc

STORES = 50
REGISTERS = 2
ZONES = (
    "Europe/Moscow",
    "Asia/Vladivostok",
    "Asia/Yekaterinburg",
    "Europe/Kaliningrad",
    "Asia/Novosibirsk",
    "Asia/Kamchatka",
)
BATCH = 8
RUNS = 60
FEBRUARY = (date(2026, 2, 1), date(2026, 3, 1))
JANUARY = (date(2026, 1, 1), date(2026, 2, 1))


def layout(receipts: int) -> tuple[int, int]:
    """Receipts a shift and days a register covers (shift n opens on January n+1)."""
    per_shift = 1000 if receipts >= 5_000_000 else 100
    return per_shift, max(1, receipts // (STORES * REGISTERS * per_shift))


def make_config(root: Path) -> Config:
    return parse_config(
        {
            "server": {"data_dir": str(root / "data")},
            "grpc": {"listen": ""},
            "thrift": {"listen": ""},
            "http": {"listen": "127.0.0.1:0"},
            "stores": {f"S{i:02d}": {"timezone": ZONES[i % len(ZONES)]} for i in range(STORES)},
        }
    )


def build(engine: Engine, receipts: int) -> tuple[int, float]:
    """Fill the database; returns the days a register covers and the seconds it took."""
    per_shift, days = layout(receipts)
    repo = Repository(engine)
    started = time.perf_counter()
    batch: list[Upload] = []
    for day in range(1, days + 1):
        for store in range(STORES):
            for register in range(REGISTERS):
                plan = ShiftPlan(f"S{store:02d}", f"R{register}", day, per_shift, 1, seed=5)
                batch.append(generate_upload(plan))
                if len(batch) == BATCH:
                    repo.load_batch(batch)
                    batch = []
    if batch:
        repo.load_batch(batch)
    return days, time.perf_counter() - started


class _NoTotals(Repository):
    """The repository as it was before totals: for the cost comparison only."""

    def _keep_totals(
        self,
        conn: Connection,
        workshift_id: int,
        register_id: int,
        shift: Shift,
        row: Any,
        inserted: list[Receipt],
    ) -> None:
        return None


def load_rate(cls: type[Repository], uploads: Sequence[Upload]) -> float:
    with tempfile.TemporaryDirectory() as folder:
        engine = open_engine(f"sqlite:///{Path(folder) / 'rate.db'}")
        upgrade(engine)
        repo = cls(engine)
        started = time.perf_counter()
        for start in range(0, len(uploads), BATCH):
            repo.load_batch(uploads[start : start + BATCH])
        elapsed = time.perf_counter() - started
        engine.dispose()
    return sum(len(u.receipts) for u in uploads) / elapsed


def timed_ms(call: Any) -> float:
    started = time.perf_counter()
    call()
    return (time.perf_counter() - started) * 1000


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--receipts", type=int, default=1_000_000)
    parser.add_argument("--keep", metavar="DIR", help="build (or reuse) the database here")
    parser.add_argument(
        "--postgres", action="store_true", help="on a throwaway PostgreSQL cluster (no --keep)"
    )
    args = parser.parse_args()
    if args.postgres and args.keep:
        parser.error("--keep is for SQLite only")
    configure_logging(level="warning")
    manual_gc()
    cluster = start_postgres("reports") if args.postgres else None
    if args.postgres and cluster is None:
        return
    try:
        with tempfile.TemporaryDirectory() as folder:
            root = Path(args.keep) if args.keep else Path(folder)
            config = make_config(root)
            if cluster is not None:
                url, reuse = fresh_database(cluster, "reports"), False
            else:
                db = root / f"reports-{args.receipts}.db"
                url, reuse = f"sqlite:///{db}", db.exists()
            engine = open_engine(url)
            upgrade(engine)
            days, build_s = (
                (layout(args.receipts)[1], 0.0) if reuse else build(engine, args.receipts)
            )
            month = FEBRUARY if days >= 59 else JANUARY
            rng = random.Random(1)
            reports = Reports(engine, config)
            report_ms = []
            for _ in range(RUNS):
                store = f"S{rng.randrange(STORES):02d}"
                report_ms.append(timed_ms(lambda s=store: reports.store_days(s, *month)))
            page_ms = page_timings(config, engine, rng, month)
            engine.dispose()
    finally:
        if cluster is not None:
            cluster.destroy()
    print(
        json.dumps(
            {
                "benchmark": "reports",
                "database": "postgresql" if args.postgres else "sqlite",
                "receipts": args.receipts,
                "stores": STORES,
                "registers": STORES * REGISTERS,
                "days": days,
                "month": str(month[0]),
                "build_s": round(build_s, 1),
                "store_month_report_ms": {
                    "p50": round(percentile(report_ms, 50), 1),
                    "p95": round(percentile(report_ms, 95), 1),
                    "goal_p95": 50,
                },
                "shifts_page_month_ms": {
                    "p50": round(percentile(page_ms, 50), 1),
                    "p95": round(percentile(page_ms, 95), 1),
                    "goal_p95": 150,
                },
                "load_receipts_per_s": (
                    {"skipped": "not measured on PostgreSQL (see pg_loader.py)"}
                    if args.postgres
                    else load_rates()
                ),
            }
        )
    )


def load_rates() -> dict[str, float]:
    """Loader throughput with and without totals, interleaved, best of three (SQLite)."""
    uploads = [
        generate_upload(ShiftPlan("S1", f"R{n % 8}", n, 1000, 3, seed=9)) for n in range(1, 33)
    ]
    with_totals, without = [], []
    for _ in range(3):
        with_totals.append(load_rate(Repository, uploads))
        without.append(load_rate(_NoTotals, uploads))
    best_with, best_without = max(with_totals), max(without)
    return {
        "with_totals": round(best_with),
        "without_totals": round(best_without),
        "ratio": round(best_with / best_without, 3),
        "goal_ratio": 0.9,
    }


def page_timings(
    config: Config, engine: Engine, rng: random.Random, month: tuple[date, date]
) -> list[float]:
    from starlette.testclient import TestClient

    from cashserver.http.app import create_app
    from cashserver.http.context import HttpContext

    client = TestClient(create_app(HttpContext(config, engine, "bench-secret")))
    timings = []
    for _ in range(RUNS):
        store, register = f"S{rng.randrange(STORES):02d}", f"R{rng.randrange(REGISTERS)}"
        path = f"/shifts?store={store}&register={register}&from={month[0]}&to={month[1]}"
        started = time.perf_counter()
        reply = client.get(path)
        timings.append((time.perf_counter() - started) * 1000)
        if reply.status_code != 200 or "data-workshift" not in reply.text:
            raise SystemExit(f"{path}: {reply.status_code}")
    return timings


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    main()

"""Spool-to-database load rate: a deep queue of 1,000-receipt sales files on SQLite.

Prints one JSON line: the loader's receipts per second (files written to
``incoming/`` before the loader starts; parse, rules and inserts all counted),
beside the raw sqlite3 limit for the same rows measured in the same run. Each is
measured three times, interleaved, and the best of each is compared: the disk's
fsync time varies a lot from one moment to the next on shared machines.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.common import raw_sqlite_receipts_per_s
from cashserver.domain import Upload
from cashserver.emulator.generate import ShiftPlan, generate_upload
from cashserver.log import configure_logging
from cashserver.spool import Spool
from cashserver.store.engine import READER_CACHE_KIB, open_engine, open_loader_engine, upgrade
from cashserver.store.repository import Repository
from cashserver.tuning import manual_gc
from cashserver.writer.loader import Loader

FILES = 30
RECEIPTS = 1000


def loader_receipts_per_s(uploads: list[Upload]) -> float:
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        url = f"sqlite:///{root / 'bench.db'}"
        shared = open_engine(url, sqlite_cache_kib=READER_CACHE_KIB)
        upgrade(shared)
        engine = open_loader_engine(url, "bench", shared)  # as the writer opens it
        spool = Spool(root / "spool")
        spool.prepare()
        for upload in uploads:
            spool.put(upload, "bench")
        loader = Loader(spool, Repository(engine))
        started = time.perf_counter()
        loader.start()
        if not loader.drain(600):
            raise SystemExit("loader did not finish")
        elapsed = time.perf_counter() - started
        loader.stop(5)
        engine.dispose()
        shared.dispose()
    return len(uploads) * RECEIPTS / elapsed


def main() -> None:
    configure_logging(level="warning")
    uploads = [
        generate_upload(ShiftPlan("S1", f"R{n % 8}", n, RECEIPTS, seed=7))
        for n in range(1, FILES + 1)
    ]
    manual_gc()  # as the daemon runs
    loader_rates, raw_rates = [], []
    for _ in range(3):
        loader_rates.append(loader_receipts_per_s(uploads))
        raw_rates.append(raw_sqlite_receipts_per_s(uploads))
    loader_rate, raw_rate = max(loader_rates), max(raw_rates)
    print(
        json.dumps(
            {
                "benchmark": "loader",
                "files": FILES,
                "receipts_per_file": RECEIPTS,
                "loader_receipts_per_s": round(loader_rate),
                "raw_sqlite_receipts_per_s": round(raw_rate),
                "ratio": round(loader_rate / raw_rate, 3),
                "goal_ratio": 0.75,
                "loader_runs": [round(r) for r in loader_rates],
                "raw_runs": [round(r) for r in raw_rates],
            }
        )
    )


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    main()

"""The loader on PostgreSQL against the raw limit of the same rows through psycopg.

Prints one JSON line: the loader's receipts per second from a deep queue of
1,000-receipt sales files (parse, identity rules, totals, inserts, commits all
counted), beside psycopg's ``executemany`` and ``COPY`` of exactly the rows the
loader stores for those receipts (receipts, lines, payments) in one transaction,
each into a fresh database of the same throwaway cluster (with fsync on), in
the same run, best of three. Beside the rates, the CPU each spends per 1,000
receipts (this process, and the database's server processes; the least of the
runs) and its ratio: on a busy shared machine the rates mostly measure the queue
for a core. Without PostgreSQL server binaries it prints a ``skipped`` line
saying so.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

FILES = 30
RECEIPTS = 1000
RUNS = 3


class CpuMeter:
    """CPU seconds spent from start to stop by this process (every thread) and by the
    server processes of ``url``'s database (from ``/proc``: the throwaway cluster
    runs on this machine). On a busy shared machine wall time mostly measures the
    queue for a core; CPU time measures the work."""

    def __init__(self, url: str) -> None:
        import psycopg

        self._watch = psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://"))
        self._watch.autocommit = True
        self._client = time.process_time()
        self._server = self._backends()

    def _backends(self) -> dict[int, float]:
        rows = self._watch.execute(
            "SELECT pid FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        ).fetchall()
        found = {}
        for (pid,) in rows:
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            found[pid] = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        return found

    def stop(self) -> tuple[float, float]:
        """(this process, the database's server processes), in CPU seconds."""
        client = time.process_time() - self._client
        server = sum(cpu - self._server.get(pid, 0.0) for pid, cpu in self._backends().items())
        self._watch.close()
        return client, server


Measured = tuple[float, float, float]
"""Receipts per second, and client and server CPU milliseconds per 1,000 receipts."""


def _measured(count: int, elapsed: float, cpu: tuple[float, float]) -> Measured:
    return count / elapsed, cpu[0] * 1e6 / count, cpu[1] * 1e6 / count


def raw_receipts_per_s(url: str, uploads: Sequence[Any], use_copy: bool) -> float:
    return raw_measured(url, uploads, use_copy)[0]


def raw_measured(url: str, uploads: Sequence[Any], use_copy: bool) -> Measured:
    import psycopg

    from benchmarks.common import rows_of

    receipts, lines, payments = rows_of(uploads)
    dsn = url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(dsn) as conn:
        conn.execute("INSERT INTO stores VALUES ('S', 0)")
        conn.execute(
            "INSERT INTO registers (store_code, register_code, created_at) VALUES ('S', 'R', 0)"
        )
        conn.execute(
            "INSERT INTO shifts (workshift_id, register_id, shift_number, created_at, updated_at)"
            " VALUES (1, 1, 1, 0, 0)"
        )
        conn.commit()
        meter = CpuMeter(url)
        started = time.perf_counter()
        with conn.cursor() as cur:
            for table, rows in (("receipts", receipts), ("lines", lines), ("payments", payments)):
                if use_copy:
                    with cur.copy(f"COPY {table} FROM STDIN") as copy:
                        for row in rows:
                            copy.write_row(row)
                else:
                    marks = ", ".join(["%s"] * len(rows[0]))
                    cur.executemany(f"INSERT INTO {table} VALUES ({marks})", rows)
        conn.commit()
        elapsed = time.perf_counter() - started
        cpu = meter.stop()
    return _measured(len(receipts), elapsed, cpu)


def loader_measured(url: str, uploads: Sequence[Any]) -> Measured:
    from cashserver.spool import Spool
    from cashserver.store.engine import open_engine
    from cashserver.store.repository import Repository
    from cashserver.writer.loader import Loader

    engine = open_engine(url)
    with tempfile.TemporaryDirectory() as folder:
        spool = Spool(Path(folder) / "spool")
        spool.prepare()
        for upload in uploads:
            spool.put(upload, "bench")
        loader = Loader(spool, Repository(engine))
        meter = CpuMeter(url)
        started = time.perf_counter()
        loader.start()
        if not loader.drain(600):
            raise SystemExit("loader did not finish")
        elapsed = time.perf_counter() - started
        cpu = meter.stop()
        loader.stop(5)
    engine.dispose()
    return _measured(len(uploads) * RECEIPTS, elapsed, cpu)


def main() -> None:
    from benchmarks.common import fresh_database, start_postgres
    from cashserver.emulator.generate import ShiftPlan, generate_upload
    from cashserver.log import configure_logging
    from cashserver.tuning import manual_gc

    configure_logging(level="warning")
    cluster = start_postgres("pg_loader")
    if cluster is None:
        return
    names = iter(range(1000))

    def fresh() -> str:
        return fresh_database(cluster, f"bench{next(names)}")

    try:
        uploads = [
            generate_upload(ShiftPlan("S1", f"R{n % 8}", n, RECEIPTS, seed=7))
            for n in range(1, FILES + 1)
        ]
        manual_gc()  # as the daemon runs
        measures: dict[str, Callable[[str], Measured]] = {
            "loader": lambda url: loader_measured(url, uploads),
            "executemany": lambda url: raw_measured(url, uploads, use_copy=False),
            "copy": lambda url: raw_measured(url, uploads, use_copy=True),
        }
        runs: dict[str, list[Measured]] = {name: [] for name in measures}
        for _ in range(RUNS):
            for name, measure in measures.items():
                runs[name].append(measure(fresh()))
    finally:
        cluster.destroy()
    best = {name: max(m[0] for m in measured) for name, measured in runs.items()}
    # The least CPU of the runs (client + server), per 1,000 receipts.
    cpu = {name: min((m[1] + m[2], m[1], m[2]) for m in ms) for name, ms in runs.items()}
    print(
        json.dumps(
            {
                "benchmark": "pg_loader",
                "files": FILES,
                "receipts_per_file": RECEIPTS,
                "loader_receipts_per_s": round(best["loader"]),
                "raw_executemany_receipts_per_s": round(best["executemany"]),
                "raw_copy_receipts_per_s": round(best["copy"]),
                "ratio_to_executemany": round(best["loader"] / best["executemany"], 3),
                "ratio_to_copy": round(best["loader"] / best["copy"], 3),
                "goal_ratio": 1.0,
                "cpu_ms_per_1000_receipts": {
                    name: {"client": round(c[1], 1), "server": round(c[2], 1)}
                    for name, c in cpu.items()
                },
                "cpu_ratio_to_executemany": round(cpu["executemany"][0] / cpu["loader"][0], 3),
                "cpu_ratio_to_copy": round(cpu["copy"][0] / cpu["loader"][0], 3),
                "runs": {name: [round(m[0]) for m in measured] for name, measured in runs.items()},
            }
        )
    )


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    main()

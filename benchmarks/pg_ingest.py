"""End-to-end ingest speed of `cashserver serve` on PostgreSQL, over protocol 4.

    python benchmarks/pg_ingest.py

Starts a throwaway cluster with fsync on (``tests/pg.py``) and the daemon as a
subprocess on a fresh database of it, and prints one JSON line:

- idle: one register pushes 1,000-receipt shifts one after another; p50 and p99 of
  the round trip;
- concurrent: 32 registers push 2 shifts each at once (from two load-generator
  processes, messages prepared before timing, as ``ingest.py``); the rate is
  receipts per second from the start until the last upload is in the database,
  and the peak RSS summed over the daemon and all its child processes;
- the raw limits, in the same run and the same cluster: psycopg ``COPY`` and
  ``executemany`` of exactly the rows of the concurrent load (receipts, lines,
  payments) in one transaction, each into a fresh database, best of two (one
  before the daemon runs, one after);
- the CPU per 1,000 receipts of the concurrent load (the daemon's processes, and
  the database's server processes) and of raw COPY (client and server), and
  their ratio: on a busy shared machine the rates mostly measure the queue for a
  core, CPU time the work.

JSON exchange files are written, as the default configuration has them
(``--no-export`` turns them off). Without PostgreSQL server binaries it prints a
``skipped`` line saying so.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import fresh_database, percentile, process_cpu_s, start_postgres
from benchmarks.ingest import RECEIPTS, TreeRss, concurrent_rate, idle_latency
from benchmarks.pg_loader import CpuMeter, raw_measured
from cashserver.emulator.generate import ShiftPlan, generate_upload
from tests.e2e.daemon import ServeProcess

GOAL_RATIO_TO_COPY = 0.25


def tree_cpu_s(pid: int) -> float:
    """CPU seconds used so far by a process and its live descendants."""
    return sum(map(process_cpu_s, TreeRss.tree(pid)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--registers", type=int, default=32)
    parser.add_argument("--shifts", type=int, default=2, help="shifts each register pushes")
    parser.add_argument("--idle-shifts", type=int, default=11)
    parser.add_argument(
        "--no-export", action="store_true", help="no exchange files (default: JSON, as shipped)"
    )
    args = parser.parse_args()
    cluster = start_postgres("pg_ingest")
    if cluster is None:
        return
    # The very rows the load generators send (ingest.py's plans: store S2, seed 2).
    uploads = [
        generate_upload(ShiftPlan("S2", f"C{r:02d}", n, RECEIPTS, seed=2))
        for r in range(args.registers)
        for n in range(1, args.shifts + 1)
    ]
    raw: dict[str, list[float]] = {"copy": [], "executemany": []}
    raw_cpu: dict[str, list[float]] = {"copy": [], "executemany": []}

    def measure_raw(round_: int) -> None:
        for name in raw:
            url = fresh_database(cluster, f"raw_{name}_{round_}")
            rate, client_ms, server_ms = raw_measured(url, uploads, use_copy=name == "copy")
            raw[name].append(rate)
            raw_cpu[name].append(client_ms + server_ms)

    try:
        measure_raw(0)
        cluster.execute("CREATE DATABASE daemon")  # the daemon migrates it at start
        with tempfile.TemporaryDirectory() as folder:
            daemon = ServeProcess(
                Path(folder),
                cluster.url_for("daemon"),
                spool={"verdict_timeout_s": 5.0},
                exchange={"formats": [] if args.no_export else ["json"]},
            )
            daemon.start()
            try:
                assert daemon.process is not None
                rss = TreeRss(daemon.process.pid)
                timings = idle_latency(4, daemon.grpc_target, args.idle_shifts)
                server = CpuMeter(cluster.url_for("daemon"))
                daemon_cpu = tree_cpu_s(daemon.process.pid)
                rate, statuses = concurrent_rate(4, daemon, args.registers, args.shifts)
                daemon_cpu = tree_cpu_s(daemon.process.pid) - daemon_cpu
                server_cpu = server.stop()[1]
                peak = rss.stop()
            finally:
                daemon.kill()
        measure_raw(1)
    finally:
        cluster.destroy()
    copy, executemany = max(raw["copy"]), max(raw["executemany"])
    per_1000 = 1e6 / (args.registers * args.shifts * RECEIPTS)
    cpu = {
        "daemon": round(daemon_cpu * per_1000, 1),
        "server": round(server_cpu * per_1000, 1),
        "raw_copy": round(min(raw_cpu["copy"]), 1),
        "raw_executemany": round(min(raw_cpu["executemany"]), 1),
    }
    result: dict[str, Any] = {
        "benchmark": "pg_ingest",
        "protocol": 4,
        "concurrent_registers": args.registers,
        "shifts_each": args.shifts,
        "receipts_per_shift": RECEIPTS,
        "exchange_files": not args.no_export,
        "idle_p50_ms": round(percentile(timings, 50), 1),
        "idle_p99_ms": round(percentile(timings, 99), 1),
        "concurrent_receipts_per_s": round(rate),
        "concurrent_statuses": statuses,
        "daemon_peak_rss_mb": round(peak, 1),
        "raw_copy_receipts_per_s": round(copy),
        "raw_executemany_receipts_per_s": round(executemany),
        "ratio_to_copy": round(rate / copy, 3),
        "ratio_to_executemany": round(rate / executemany, 3),
        "raw_runs": {name: [round(r) for r in rates] for name, rates in raw.items()},
        "cpu_ms_per_1000_receipts": cpu,
        "cpu_ratio_to_copy": round(cpu["raw_copy"] / (cpu["daemon"] + cpu["server"]), 3),
        "rss_counted_over": "the daemon and all its child processes, summed, sampled every 50 ms",
        "goal_ratio_to_copy": GOAL_RATIO_TO_COPY,
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()

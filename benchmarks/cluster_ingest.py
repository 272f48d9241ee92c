"""32 registers pushing to one daemon on PostgreSQL, then to two daemons on one PostgreSQL.

Prints one JSON line: receipts per second end to end (gRPC, 1,000-receipt shifts,
messages prepared before timing, from two load-generator processes; until the last
upload is in the database) for one node and for two nodes sharing one database
(each register pushes to one of them), and their ratio. Everything shares the
machine's cores: the daemons, PostgreSQL (fsync on) and the load generators.
Without PostgreSQL server binaries it prints a ``skipped`` line saying so.
"""

from __future__ import annotations

import json
import multiprocessing
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.ingest import RECEIPTS, generator_process
from tests.e2e.daemon import ServeProcess
from tests.pg import Cluster, PostgresUnavailable

REGISTERS = 32
SHIFTS = 3


def rate_with_nodes(cluster: Cluster, database: str, root: Path, count: int) -> float:
    """Receipts per second with ``count`` daemons on a fresh database."""
    cluster.execute(f"CREATE DATABASE {database}")
    url = cluster.url_for(database)
    nodes = [
        ServeProcess(
            root / f"{database}-node-{i}",
            url,
            spool={"verdict_timeout_s": 5.0},
            exchange={"formats": []},
            cluster={"node_name": f"node-{i}"},
        )
        for i in range(count)
    ]
    try:
        for node in nodes:
            node.start()
        context = multiprocessing.get_context("spawn")
        start = context.Event()
        done = context.Queue()
        names = [f"C{n:02d}" for n in range(REGISTERS)]
        workers = [
            context.Process(
                target=generator_process,
                args=(4, nodes[i % count].grpc_target, names[i::2], SHIFTS, start, done),
            )
            for i in range(2)
        ]
        for worker in workers:
            worker.start()
        time.sleep(3 + REGISTERS * SHIFTS * 0.05)  # let every generator prepare its messages
        started = time.perf_counter()
        start.set()
        for _ in workers:
            done.get(timeout=600)
        while any(node.spool_files("incoming") for node in nodes):
            time.sleep(0.01)
        elapsed = time.perf_counter() - started
        for worker in workers:
            worker.join()
    finally:
        for node in nodes:
            node.kill()
    return REGISTERS * SHIFTS * RECEIPTS / elapsed


def main() -> None:
    try:
        cluster = Cluster(fsync=True)
        cluster.start()
    except PostgresUnavailable as exc:
        print(f"cluster_ingest: SKIPPED: {exc}", file=sys.stderr)
        print(json.dumps({"benchmark": "cluster_ingest", "skipped": str(exc)}))
        return
    try:
        with tempfile.TemporaryDirectory() as folder:
            one = rate_with_nodes(cluster, "one_node", Path(folder), 1)
            two = rate_with_nodes(cluster, "two_nodes", Path(folder), 2)
    finally:
        cluster.destroy()
    print(
        json.dumps(
            {
                "benchmark": "cluster_ingest",
                "registers": REGISTERS,
                "shifts_each": SHIFTS,
                "receipts_per_shift": RECEIPTS,
                "one_node_receipts_per_s": round(one),
                "two_nodes_receipts_per_s": round(two),
                "two_to_one_ratio": round(two / one, 3),
            }
        )
    )


if __name__ == "__main__":
    main()

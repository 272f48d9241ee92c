"""Forwarding speed (SPEC 15): a store server forwarding to a central server, on SQLite.

    python benchmarks/forward.py            (--quick for a smaller run)

Prints one JSON line:

- latency: with the link up, one register pushes a 50-receipt shift to the store
  server every 0.5 s; for each, the time from the store server's LOADED to the shift
  being stored whole at the central server (its receipts counted in the central
  database, polled every 10 ms); p50, p95 and the largest;
- drain: 200 shifts x 1,000 receipts pushed to the store server while its central
  server is down; then the central server starts, and the drain rate is receipts per
  second from the moment it serves until the last receipt is in its database. In the
  same run, the same shifts are pushed straight to a fresh central server by 4
  registers at once (the forwarder's default concurrency); the ratio of the two
  rates, and the store server's peak RSS during the drain (the daemon and all its
  child processes, summed, sampled every 50 ms).

The store server retries at most every second here (``retry_max_s = 1``), so the
drain is not measured from a backoff's end; with the default 300 s a link that was
down long waits up to 5 minutes before its first try.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import percentile
from benchmarks.ingest import TreeRss
from cashserver.domain import Upload, UploadStatus
from cashserver.emulator.generate import ShiftPlan, generate_upload
from cashserver.emulator.push import GrpcPusher
from cashserver.rpc.convert_proto import upload_to_chunks
from tests.e2e.daemon import ServeProcess

GOALS = {"latency_p95_s": 2.0, "drain_ratio_to_direct": 0.6, "store_peak_rss_mb": 200}
POLL_S = 0.01


def central_receipts(node: ServeProcess) -> int:
    """Receipts stored at ``node``, read straight from its SQLite file."""
    path = node.data_dir / "cashserver.db"
    if not path.exists():
        return 0
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5) as db:
        try:
            return int(db.execute("SELECT count(*) FROM receipts").fetchone()[0])
        except sqlite3.OperationalError:  # not migrated yet
            return 0


def pair(root: Path, name: str) -> tuple[ServeProcess, ServeProcess]:
    central = ServeProcess(root / f"{name}-central", cluster={"node_name": f"{name}-central"})
    store = ServeProcess(
        root / f"{name}-store",
        cluster={"node_name": f"{name}-store"},
        upstream={"target": central.grpc_target, "retry_max_s": 1},
    )
    return store, central


def latency(root: Path, shifts: int) -> list[float]:
    store, central = pair(root, "latency")
    central.start()
    store.start()
    pusher = GrpcPusher(store.grpc_target)
    found: list[float] = []
    try:
        expected = 0
        for number in range(1, shifts + 1):
            upload = generate_upload(ShiftPlan("S1", "R1", number, 50, 2, seed=5))
            chunks = upload_to_chunks(upload, 500)
            next_at = time.monotonic() + 0.5
            result = pusher.upload_chunks(chunks)
            loaded_at = time.monotonic()
            assert result.status is UploadStatus.LOADED, result
            expected += len(upload.receipts)
            while central_receipts(central) < expected:
                if time.monotonic() - loaded_at > 60:
                    raise RuntimeError("a shift did not reach the central server in 60 s")
                time.sleep(POLL_S)
            found.append(time.monotonic() - loaded_at)
            time.sleep(max(0.0, next_at - time.monotonic()))
    finally:
        pusher.close()
        store.kill()
        central.kill()
    return found


def push_all(target: str, uploads: list[Upload], workers: int) -> None:
    local = threading.local()
    pushers: list[GrpcPusher] = []

    def one(upload: Upload) -> None:
        if not hasattr(local, "pusher"):
            local.pusher = GrpcPusher(target, timeout_s=300)
            pushers.append(local.pusher)
        result = local.pusher.upload(upload)
        assert result.status is UploadStatus.LOADED, result

    try:
        with ThreadPoolExecutor(workers) as pool:
            list(pool.map(one, uploads))
    finally:
        for pusher in pushers:
            pusher.close()


def wait_receipts(node: ServeProcess, total: int, timeout_s: float = 1800) -> None:
    deadline = time.monotonic() + timeout_s
    while central_receipts(node) < total:
        if time.monotonic() > deadline:
            raise RuntimeError(f"{total} receipts not stored within {timeout_s} s")
        time.sleep(0.05)


def drain(root: Path, uploads: list[Upload]) -> dict[str, Any]:
    total = sum(len(u.receipts) for u in uploads)
    store, central = pair(root, "drain")
    store.start()  # its central server is not running: everything stays in the backlog
    try:
        push_all(store.grpc_target, uploads, 4)
        wait_receipts(store, total)
        assert store.process is not None
        rss = TreeRss(store.process.pid)
        central.start(wait=False)
        central.wait_serving(120)
        started = time.monotonic()
        wait_receipts(central, total)
        drain_s = time.monotonic() - started
        peak = rss.stop()
    finally:
        store.kill()
        central.kill()

    direct = ServeProcess(root / "direct-central", cluster={"node_name": "direct-central"})
    direct.start()
    try:
        started = time.monotonic()
        push_all(direct.grpc_target, uploads, 4)
        wait_receipts(direct, total)
        direct_s = time.monotonic() - started
    finally:
        direct.kill()
    return {
        "drain_shifts": len(uploads),
        "drain_receipts": total,
        "drain_s": round(drain_s, 2),
        "drain_receipts_per_s": round(total / drain_s),
        "direct_s": round(direct_s, 2),
        "direct_receipts_per_s": round(total / direct_s),
        "drain_ratio_to_direct": round(direct_s / drain_s, 3),
        "store_peak_rss_mb": round(peak, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="20 latency shifts, 40 drained")
    parser.add_argument("--latency-shifts", type=int, default=60)
    parser.add_argument("--drain-shifts", type=int, default=200)
    args = parser.parse_args()
    latency_shifts = 20 if args.quick else args.latency_shifts
    drain_shifts = 40 if args.quick else args.drain_shifts
    uploads = [
        generate_upload(ShiftPlan(f"S{n % 4}", f"R{n % 16}", n // 16 + 1, 1000, 3, seed=9))
        for n in range(drain_shifts)
    ]
    with tempfile.TemporaryDirectory() as folder:
        times = latency(Path(folder), latency_shifts)
        drained = drain(Path(folder), uploads)
    result = {
        "benchmark": "forward",
        "latency_shifts": latency_shifts,
        "latency_p50_s": round(percentile(times, 50), 3),
        "latency_p95_s": round(percentile(times, 95), 3),
        "latency_max_s": round(max(times), 3),
        **drained,
        "rss_counted_over": "the store server and all its child processes, summed",
        "goals": GOALS,
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()

"""End-to-end ingest speed of `cashserver serve` on SQLite, over protocol 4 or 3.

    python benchmarks/ingest.py --protocol 4     (or 3)

Starts the daemon as a subprocess on a fresh data folder and prints one JSON line:

- idle: one register pushes 1,000-receipt shifts one after another; p50 and p99 of
  the round trip (message prepared before timing, so only the server's work and
  the transfer are measured);
- concurrent: 32 registers push at once (from two load-generator processes); the
  rate is receipts per second from the start until the last upload is in the
  database, and the daemon's peak RSS;
- the raw sqlite3 limit for the same rows, measured in the same run;
- the CPU milliseconds per 1,000 receipts of each of the daemon's processes in the
  concurrent phase, and of the raw limit: the writer's against raw is the ratio a
  noisy disk moves least.

JSON exchange files are written, as the default configuration has them
(``--no-export`` turns them off; export.py measures them on their own). The
daemon runs ``--processes`` (2, the default: front and writer), and the same
figures are measured in the same run with ``--compare-with`` processes (1: all in
one process, as before the split), with the ratio of each figure to them. Peak
RSS is the sum over the daemon and all its child processes.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import socket
import struct
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import percentile, process_cpu_s, raw_sqlite_measured
from cashserver.domain import Upload, UploadResult
from cashserver.emulator.generate import ShiftPlan, generate_upload
from tests.e2e.daemon import ServeProcess

RECEIPTS = 1000


class FramedThriftClient:
    """A protocol 3 register that sends prepared frames: the call is serialized
    before timing (as gRPC's chunks are built before timing), so the figure is the
    server's work and the transfer, not the load generator's encoding."""

    def __init__(self, target: str) -> None:
        host, _, port = target.rpartition(":")
        self.sock = socket.create_connection((host, int(port)))
        self.seqid = 0

    @staticmethod
    def prepare(upload: Upload) -> bytes:
        from thriftpy2.protocol.cybin import TCyBinaryProtocol
        from thriftpy2.thrift import TMessageType
        from thriftpy2.transport.memory import TCyMemoryBuffer

        from cashserver.rpc.convert_thrift import THRIFT, upload_to_thrift

        buffer = TCyMemoryBuffer()
        protocol = TCyBinaryProtocol(buffer)
        protocol.write_message_begin("uploadShift", TMessageType.CALL, 1)
        THRIFT.SalesLoader.uploadShift_args(upload=upload_to_thrift(upload)).write(protocol)
        protocol.write_message_end()
        buffer.flush()
        body: bytes = buffer.getvalue()
        return struct.pack("!I", len(body)) + body

    def _receive(self, size: int) -> bytes:
        data = bytearray()
        while len(data) < size:
            chunk = self.sock.recv(size - len(data))
            if not chunk:
                raise ConnectionError("server closed the connection")
            data += chunk
        return bytes(data)

    def send(self, frame: bytes) -> UploadResult:
        from thriftpy2.protocol.cybin import TCyBinaryProtocol
        from thriftpy2.transport.memory import TCyMemoryBuffer

        from cashserver.rpc.convert_thrift import THRIFT, result_from_thrift

        self.sock.sendall(frame)
        (size,) = struct.unpack("!I", self._receive(4))
        protocol = TCyBinaryProtocol(TCyMemoryBuffer(self._receive(size)))
        protocol.read_message_begin()
        result = THRIFT.SalesLoader.uploadShift_result()
        result.read(protocol)
        return result_from_thrift(result.success)

    def close(self) -> None:
        self.sock.close()


def prepared_pusher(protocol: int, target: str) -> tuple[Any, Any]:
    """A client and the function that prepares one upload's wire message for it."""
    if protocol == 4:
        from cashserver.emulator.push import GrpcPusher
        from cashserver.rpc.convert_proto import upload_to_chunks

        pusher = GrpcPusher(target)
        return pusher, (lambda u: upload_to_chunks(u, 500), pusher.upload_chunks)
    client = FramedThriftClient(target)
    return client, (client.prepare, client.send)


def idle_latency(protocol: int, target: str, shifts: int) -> list[float]:
    pusher, (prepare, send) = prepared_pusher(protocol, target)
    messages = [
        prepare(generate_upload(ShiftPlan("S1", "IDLE", n, RECEIPTS, seed=1)))
        for n in range(1, shifts + 1)
    ]
    send(messages[0])  # warm up: connection, first register, caches
    timings = []
    for message in messages[1:]:
        started = time.perf_counter()
        result = send(message)
        timings.append((time.perf_counter() - started) * 1000)
        assert result.status.name == "LOADED", result
    pusher.close()
    return timings


def generator_process(
    protocol: int, target: str, registers: list[str], shifts: int, start: Any, done: Any
) -> None:
    """One load-generator process: a thread per register, messages prepared first."""
    work = []
    for register in registers:
        pusher, (prepare, send) = prepared_pusher(protocol, target)
        messages = [
            prepare(generate_upload(ShiftPlan("S2", register, n, RECEIPTS, seed=2)))
            for n in range(1, shifts + 1)
        ]
        work.append((pusher, send, messages))
    statuses: list[str] = []

    def run(send: Any, messages: list[Any]) -> None:
        for message in messages:
            statuses.append(send(message).status.name)

    threads = [threading.Thread(target=run, args=(send, msgs)) for _, send, msgs in work]
    start.wait()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for pusher, _, _ in work:
        pusher.close()
    done.put(statuses)


def concurrent_rate(
    protocol: int, daemon: ServeProcess, registers: int, shifts: int, processes: int = 2
) -> tuple[float, dict[str, int]]:
    context = multiprocessing.get_context("spawn")
    start = context.Event()
    done = context.Queue()
    names = [f"C{n:02d}" for n in range(registers)]
    target = daemon.grpc_target if protocol == 4 else daemon.thrift_target
    workers = [
        context.Process(
            target=generator_process,
            args=(protocol, target, names[i::processes], shifts, start, done),
        )
        for i in range(processes)
    ]
    for worker in workers:
        worker.start()
    time.sleep(3 + registers * shifts * 0.05)  # let every generator prepare its messages
    started = time.perf_counter()
    start.set()
    statuses: list[str] = []
    for _ in workers:
        statuses.extend(done.get(timeout=600))
    while daemon.spool_files("incoming"):
        time.sleep(0.01)
    elapsed = time.perf_counter() - started
    for worker in workers:
        worker.join()
    counts = {s: statuses.count(s) for s in set(statuses)}
    return registers * shifts * RECEIPTS / elapsed, counts


class TreeRss:
    """The peak of the summed resident memory of a process and all its descendants,
    sampled every 50 ms on a thread (``/proc/<pid>/task/*/children``, ``VmRSS``): the
    daemon is more than one process, and the memory goal is for all of them."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.peak_kb = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    @staticmethod
    def tree(pid: int) -> list[int]:
        found, todo = [], [pid]
        while todo:
            current = todo.pop()
            found.append(current)
            for task in Path(f"/proc/{current}/task").glob("*"):
                try:
                    todo += [int(child) for child in (task / "children").read_text().split()]
                except OSError:
                    continue
        return found

    @staticmethod
    def rss_kb(pid: int) -> int:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        except OSError:
            pass
        return 0

    def _run(self) -> None:
        while not self._stop.wait(0.05):
            total = sum(self.rss_kb(pid) for pid in self.tree(self.pid))
            self.peak_kb = max(self.peak_kb, total)

    def stop(self) -> float:
        """Stop sampling; returns the peak in MB."""
        self._stop.set()
        self._thread.join()
        return self.peak_kb / 1024


def cpu_by_role(pid: int) -> dict[str, float]:
    """CPU seconds so far of the daemon's processes by role: ``front`` is the serve
    process itself (the front, or everything with one process), ``writer`` its
    children (the writer; a migration child is gone before any upload)."""
    children = [member for member in TreeRss.tree(pid) if member != pid]
    return {"front": process_cpu_s(pid), "writer": sum(map(process_cpu_s, children))}


def measure(args: argparse.Namespace, processes: int) -> dict[str, Any]:
    """One daemon with ``processes``: idle latency, then 32 registers at once."""
    with tempfile.TemporaryDirectory() as folder:
        daemon = ServeProcess(
            Path(folder),
            server={"processes": processes},
            spool={"verdict_timeout_s": 5.0},
            exchange={"formats": [] if args.no_export else ["json"]},
        )
        daemon.start()
        try:
            assert daemon.process is not None
            rss = TreeRss(daemon.process.pid)
            target = daemon.grpc_target if args.protocol == 4 else daemon.thrift_target
            timings = idle_latency(args.protocol, target, args.idle_shifts)
            cpu_before = cpu_by_role(daemon.process.pid)
            rate, statuses = concurrent_rate(args.protocol, daemon, args.registers, args.shifts)
            cpu_after = cpu_by_role(daemon.process.pid)
            peak = rss.stop()
        finally:
            daemon.kill()
    receipts = args.registers * args.shifts * RECEIPTS
    return {
        "idle_p50_ms": round(percentile(timings, 50), 1),
        "idle_p99_ms": round(percentile(timings, 99), 1),
        "concurrent_receipts_per_s": round(rate),
        "concurrent_statuses": statuses,
        "daemon_peak_rss_mb": round(peak, 1),
        # CPU per 1,000 receipts of the concurrent phase, by process: a figure the
        # disk's and the neighbours' moods move far less than the rate.
        "cpu_ms_per_1000_receipts": {
            role: round((cpu_after[role] - cpu_before[role]) * 1e6 / receipts, 1)
            for role in cpu_after
            if processes > 1 or role == "front"
        },
    }


GOALS = {  # issue 21's (round 3)
    4: {"ratio_to_raw": 0.50, "idle_p50_ms": 25, "idle_p99_ms": 40, "rss_mb": 160},
    3: {"ratio_to_raw": 0.50, "idle_p50_ms": 30, "rss_mb": 160},
}
RAW_RUNS = 3
"""The raw limit is the best of this many runs: one run on a shared disk varies by
half, and the ratio should move with the daemon, not with the limit's luck."""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--protocol", type=int, choices=(3, 4), default=4)
    parser.add_argument("--registers", type=int, default=32)
    parser.add_argument("--shifts", type=int, default=3, help="shifts each register pushes")
    parser.add_argument("--idle-shifts", type=int, default=31)
    parser.add_argument(
        "--processes", type=int, choices=(1, 2), default=2, help="[server] processes to measure"
    )
    parser.add_argument(
        "--compare-with",
        type=int,
        choices=(0, 1, 2),
        default=1,
        help="also measure this many processes in the same run, for the ratios (0: no)",
    )
    parser.add_argument(
        "--no-export", action="store_true", help="no exchange files (default: JSON, as shipped)"
    )
    args = parser.parse_args()
    measured = measure(args, args.processes)
    other = measure(args, args.compare_with) if args.compare_with else None
    raw_uploads = [
        generate_upload(ShiftPlan("S3", "RAW", n, RECEIPTS, seed=3)) for n in range(1, 33)
    ]
    raw_measured = [raw_sqlite_measured(raw_uploads) for _ in range(RAW_RUNS)]
    raw_runs = [rate for rate, _ in raw_measured]
    raw = max(raw_runs)
    raw_cpu = min(cpu for _, cpu in raw_measured)
    result: dict[str, Any] = {
        "benchmark": "ingest",
        "protocol": args.protocol,
        "processes": args.processes,
        "concurrent_registers": args.registers,
        "exchange_files": not args.no_export,
        **measured,
        "raw_sqlite_receipts_per_s": round(raw),
        "raw_runs": [round(r) for r in raw_runs],
        "ratio_to_raw": round(measured["concurrent_receipts_per_s"] / raw, 3),
        "raw_cpu_ms_per_1000_receipts": round(raw_cpu, 1),
        "rss_counted_over": "the daemon and all its child processes, summed, sampled every 50 ms",
    }
    if other is not None:
        result[f"with_{args.compare_with}_process"] = other
        result[f"ratio_to_{args.compare_with}_process"] = {
            key: round(measured[key] / other[key], 2)
            for key in (
                "idle_p50_ms",
                "idle_p99_ms",
                "concurrent_receipts_per_s",
                "daemon_peak_rss_mb",
            )
            if other[key]
        }
    result["goals"] = GOALS[args.protocol]
    print(json.dumps(result))


if __name__ == "__main__":
    main()

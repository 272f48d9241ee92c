"""CPU of the front's protocol 4 conversion of one 1,000-receipt upload.

Prints one JSON line: milliseconds of CPU (``time.process_time``, median of 7 runs
of 20 uploads) for parsing the upload's chunks from their wire bytes with the
protobuf runtime, and for parsing them and converting them to domain objects with
``upload_from_chunks``, as the gRPC servicer does. CPU rather than wall time, so
that a busy shared machine changes the figure little.
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

from cashserver.emulator.generate import ShiftPlan, generate_upload
from cashserver.rpc._generated.cashserver.v1 import cashserver_pb2 as pb
from cashserver.rpc.convert_proto import upload_from_chunks, upload_to_chunks

RECEIPTS = 1000
RUNS = 7
UPLOADS = 20


def cpu_ms_per_upload(work: Callable[[], object]) -> float:
    runs = []
    for _ in range(RUNS):
        started = time.process_time()
        for _ in range(UPLOADS):
            work()
        runs.append((time.process_time() - started) / UPLOADS * 1000)
    return statistics.median(runs)


def main() -> None:
    upload = generate_upload(ShiftPlan("S1", "R1", 1, RECEIPTS, seed=7))
    wire = [chunk.SerializeToString() for chunk in upload_to_chunks(upload)]
    parse = pb.UploadChunk.FromString
    parse_ms = cpu_ms_per_upload(lambda: [parse(b) for b in wire])
    convert_ms = cpu_ms_per_upload(lambda: upload_from_chunks([parse(b) for b in wire]))
    print(
        json.dumps(
            {
                "benchmark": "front_convert",
                "receipts": RECEIPTS,
                "wire_bytes": sum(map(len, wire)),
                "parse_cpu_ms": round(parse_ms, 2),
                "parse_and_convert_cpu_ms": round(convert_ms, 2),
                "parse_share": round(parse_ms / convert_ms, 3),
            }
        )
    )


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    main()

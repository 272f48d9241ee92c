"""A register that cancels its UploadShift midway has nothing stored (SPEC 4).

grpcio reports a cancelled request stream to the server the same way as a register
closing its side, and only tells them apart a moment later; the daemon must never
take the first for the second, whatever the timing. Each try here sends the shift
and three batches of 50 receipts, holds its side of the stream open and cancels
with ``future.cancel()``: right after the last batch, a few milliseconds later, or
while the batches are still going out.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator

import grpc

from cashserver.domain import UploadStatus
from cashserver.emulator.generate import ShiftPlan, generate_upload
from cashserver.emulator.push import GrpcPusher
from cashserver.rpc._generated.cashserver.v1 import cashserver_pb2 as pb
from cashserver.rpc.convert_proto import upload_to_chunks
from cashserver.rpc.services import SALES_LOADER, Stub
from tests.e2e.daemon import ServeProcess, scrape
from tests.waiting import wait_for

TRIES = 50
TIMINGS = ("after the last batch", "after a delay", "mid-stream", "after a delay", "after a delay")
"""Cycled over the tries. A cancel that reaches the daemon while it waits for the next
chunk is the one grpcio reports as the stream's end; without the daemon's guard
one delayed cancel in four or five was stored."""
DELAYS_S = (0.002, 0.01, 0.025, 0.05)


def grpc_uploads(daemon: ServeProcess) -> dict[str, float]:
    """The daemon's ``cashserver_uploads_total`` for protocol 4, by status."""
    return {
        dict(labels)["status"]: value
        for (name, labels), value in scrape(daemon).items()
        if name == "cashserver_uploads_total" and dict(labels)["protocol"] == "grpc"
    }


def cancel_midway(stub: Stub, chunks: list[pb.UploadChunk], timing: str, n: int) -> None:
    """Send ``chunks`` without closing the stream, then cancel the call."""
    cancel_at = len(chunks) if timing != "mid-stream" else 1 + n % (len(chunks) - 1)
    handed_over = threading.Event()
    cancelled = threading.Event()

    def requests() -> Iterator[pb.UploadChunk]:
        for index, chunk in enumerate(chunks, 1):
            yield chunk
            if index == cancel_at:
                handed_over.set()
        # Holding the stream open: returning would close the register's side, and
        # the upload would then be complete.
        cancelled.wait()

    call = stub.UploadShift.future(requests(), timeout=30)
    try:
        assert handed_over.wait(10), "the client never sent its chunks"
        if timing == "after a delay":
            # Not a synchronisation but the timing under test: a cancel some
            # milliseconds later finds the daemon done with the chunks and waiting.
            time.sleep(DELAYS_S[n % len(DELAYS_S)])
        assert call.cancel(), "the call ended before it was cancelled"
    finally:
        cancelled.set()


def test_cancelled_uploads_store_nothing_and_the_next_upload_loads(
    serve: ServeProcess,
) -> None:
    uploads = [generate_upload(ShiftPlan("S1", f"C{n:02d}", 1, 150, seed=n)) for n in range(TRIES)]
    with grpc.insecure_channel(serve.grpc_target) as channel:
        stub = Stub(channel, SALES_LOADER)
        for n, upload in enumerate(uploads):
            cancel_midway(stub, upload_to_chunks(upload, 50), TIMINGS[n % len(TIMINGS)], n)
    # Every cancelled call has ended at the daemon: each one is counted once.
    counted = wait_for(
        lambda: (c := grpc_uploads(serve)) and sum(c.values()) >= TRIES and c,
        what=f"{TRIES} cancelled uploads counted",
    )
    stored = json.loads(serve.cli("shifts", "--json").stdout)
    timing_of = {f"C{n:02d}": TIMINGS[n % len(TIMINGS)] for n in range(TRIES)}
    assert [(r["register_code"], timing_of[r["register_code"]]) for r in stored] == []
    assert counted == {"failed": TRIES}
    assert serve.spool_files("incoming") == [] and serve.spool_files("processed") == []

    pusher = GrpcPusher(serve.grpc_target)
    try:
        after = generate_upload(ShiftPlan("S1", "N1", 1, 150, seed=99))
        result = pusher.upload(after)
    finally:
        pusher.close()
    assert (result.status, result.receipts_stored) == (UploadStatus.LOADED, 150)
    rows = json.loads(serve.cli("shifts", "--json").stdout)
    assert [(r["register_code"], r["receipts_count"]) for r in rows] == [("N1", 150)]

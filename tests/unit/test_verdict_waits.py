"""gRPC uploads waiting for their verdict leave one worker free for Handshakes (SPEC 4)."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

from cashserver.config import parse_config
from cashserver.domain import UploadResult, UploadStatus
from cashserver.front.admission import Admission
from cashserver.front.ingest import Ingest
from cashserver.verdict import Ticket
from tests.waiting import wait_for


class NoLoader:
    def submit(self, *_args: object, **_kwargs: object) -> Ticket:
        raise AssertionError("not used")


def test_all_workers_but_one_wait_the_rest_are_answered_at_once() -> None:
    config = parse_config({"grpc": {"workers": 4}, "spool": {"verdict_timeout_s": 30.0}})
    ingest = Ingest(config, NoLoader(), Admission(auto_register=True))
    tickets = [Ticket(10) for _ in range(3)]
    with ThreadPoolExecutor(3) as pool:
        waiting = [pool.submit(ingest.verdict, t, "grpc") for t in tickets]
        wait_for(lambda: not ingest._verdict_waits["grpc"]._value, 10, "three waiting")
        started = time.monotonic()
        # The fourth finds three of four workers waiting: QUEUED now, not in 30 s.
        assert ingest.verdict(Ticket(7), "grpc") == UploadResult(0, UploadStatus.QUEUED, 7)
        assert time.monotonic() - started < 5
        done = Ticket(5)
        done.resolve(UploadResult(9, UploadStatus.LOADED, 5, 5))
        assert ingest.verdict(done, "grpc").status is UploadStatus.LOADED  # already in
        loaded = UploadResult(1, UploadStatus.LOADED, 10, 10)
        for ticket in tickets:
            ticket.resolve(loaded)
        assert [w.result(10) for w in waiting] == [loaded] * 3
    # Thrift's uploads are not gated (its server has a thread a connection).
    late = Ticket(3)
    threading.Timer(0.2, late.resolve, [loaded]).start()
    assert ingest.verdict(late, "thrift") == loaded

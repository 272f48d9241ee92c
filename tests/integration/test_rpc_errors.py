"""No reply carries an internal error's text (SPEC 4), over real sockets, both protocols.

The listeners are served by an ingest service that fails in every way the real
one can: a transient fault, a full spool, a bug. Each reply must be in
the server's own words; a bug's reply carries a short id that the logged event
carries too, with the detail.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, MutableMapping
from typing import Any

import grpc
import pytest
from structlog.testing import capture_logs
from thriftpy2.thrift import TApplicationException

from cashserver.config import Config, parse_config
from cashserver.domain import Handshake, SyncSettings, Upload
from cashserver.emulator.generate import ShiftPlan, generate_upload
from cashserver.emulator.push import GrpcPusher
from cashserver.emulator.thrift_push import ThriftPusher
from cashserver.front.ingest import Ingest
from cashserver.front.turns import UploadTurn, UploadTurns
from cashserver.rpc.errors import NOT_ACCEPTED, TRANSIENT
from cashserver.rpc.grpc_server import GrpcListener
from cashserver.rpc.thrift_server import ThriftListener
from cashserver.spool import SpoolUnavailable
from cashserver.verdict import Ticket
from tests.pg import free_port

SECRET = "port 43635 failed: Connection refused; password=hunter2"
"""Text that only the exception knows: it must never reach a register."""
INTERNAL = re.compile(r"internal error ([0-9a-f]{8})")


class FailingIngest(Ingest):
    """The ingest service, failing with ``fault()`` on every call."""

    def __init__(self, config: Config, fault: Callable[[], BaseException]) -> None:
        self.config = config
        self.turns = UploadTurns(2)
        self.fault = fault

    def handshake(self, request: Handshake, tls: bool, host: str = "127.0.0.1") -> SyncSettings:
        raise self.fault()

    def accept(
        self, upload: Upload, turn: UploadTurn, source: str, forwarded_by: str = ""
    ) -> Ticket:
        turn.give_back()
        raise self.fault()


FAULTS: dict[str, Callable[[], BaseException]] = {
    "transient": lambda: ConnectionRefusedError(111, SECRET),
    "spool": lambda: SpoolUnavailable(28, f"spool cannot be written: {SECRET}"),
    "bug": lambda: KeyError(SECRET),
}


@pytest.fixture(params=sorted(FAULTS))
def fault(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    return name


@pytest.fixture
def listeners(fault: str) -> Iterator[tuple[str, str]]:
    """gRPC and Thrift listeners on free ports; yields their targets."""
    config = parse_config(
        {
            "grpc": {"listen": f"127.0.0.1:{free_port()}"},
            "thrift": {"listen": f"127.0.0.1:{free_port()}"},
        }
    )
    ingest = FailingIngest(config, FAULTS[fault])
    grpc_listener = GrpcListener(config, ingest)
    thrift_listener = ThriftListener(config, ingest)
    grpc_listener.start()
    thrift_listener.start()
    try:
        yield f"127.0.0.1:{grpc_listener.port}", f"127.0.0.1:{thrift_listener.port}"
    finally:
        grpc_listener.stop(1.0)
        thrift_listener.stop(1.0)


def expected(fault: str, method: str, text: str, logs: list[MutableMapping[str, Any]]) -> None:
    """``text`` is the reply the fault must get, and gives nothing of the exception away."""
    assert SECRET not in text and "Traceback" not in text and "Error" not in text
    if fault == "transient":
        assert text == TRANSIENT
    elif fault == "spool":
        assert text == NOT_ACCEPTED
    else:
        found = INTERNAL.fullmatch(text)
        assert found is not None, text
        [event] = [e for e in logs if e.get("error_id") == found.group(1)]
        assert event["event"] == "rpc.internal_error" and event["method"] == method
        assert SECRET in event["error"]


def test_grpc_statuses_carry_no_exception_text(fault: str, listeners: tuple[str, str]) -> None:
    upload = generate_upload(ShiftPlan("S1", "R1", 1, 3, seed=1))
    pusher = GrpcPusher(listeners[0], timeout_s=10)
    transient = grpc.StatusCode.UNAVAILABLE
    try:
        for method, call in (
            ("Handshake", lambda: pusher.handshake("S1", "R1")),
            ("UploadShift", lambda: pusher.upload(upload)),
        ):
            if fault == "spool" and method == "Handshake":
                continue  # only an upload is spooled
            with capture_logs() as logs, pytest.raises(grpc.RpcError) as failed:
                call()
            code = failed.value.code()
            assert code is (grpc.StatusCode.INTERNAL if fault == "bug" else transient)
            expected(fault, method, failed.value.details() or "", logs)
    finally:
        pusher.close()


def test_thrift_exceptions_carry_no_exception_text(fault: str, listeners: tuple[str, str]) -> None:
    upload = generate_upload(ShiftPlan("S1", "R1", 1, 3, seed=1))
    pusher = ThriftPusher(listeners[1], timeout_s=10)
    try:
        for method, call in (
            ("handshake", lambda: pusher.handshake("S1", "R1")),
            ("uploadShift", lambda: pusher.upload(upload)),
        ):
            if fault == "spool" and method == "handshake":
                continue  # only an upload is spooled
            with capture_logs() as logs, pytest.raises(TApplicationException) as failed:
                call()
            assert failed.value.type == TApplicationException.INTERNAL_ERROR
            expected(fault, method, failed.value.message, logs)
    finally:
        pusher.close()

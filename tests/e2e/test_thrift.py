"""Protocol 3 (Thrift) through `cashserver serve`: registers, the reference client, the CLI."""

from __future__ import annotations

import json
import re
import selectors
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from msgspec.structs import replace
from thrift.protocol import TBinaryProtocol as ApacheBinary
from thrift.transport import TSocket as ApacheSocket
from thrift.transport import TTransport as ApacheTransport
from thriftpy2.thrift import TApplicationException

from cashserver.domain import UploadStatus
from cashserver.emulator.history import History
from cashserver.emulator.thrift_push import ThriftPusher, connect
from cashserver.rpc.convert_thrift import THRIFT, upload_from_thrift, upload_to_thrift
from tests.e2e.daemon import ServeProcess, cli_env
from tests.e2e.thrift_helpers import shift, wait_event
from tests.unit.test_thrift_generated_client import ApacheSalesLoader, to_apache, ttypes
from tests.waiting import wait_for

# -- helpers shared with test_thrift_robustness -----------------------------------------


# -- one daemon for the tests that can share it -----------------------------------------


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServeProcess]:
    process = ServeProcess(tmp_path_factory.mktemp("thrift"))
    process.start()
    yield process
    process.kill()


@pytest.fixture
def pusher(daemon: ServeProcess) -> Iterator[ThriftPusher]:
    client = ThriftPusher(daemon.thrift_target, timeout_s=30)
    yield client
    client.close()


def test_handshake_tells_the_register_where_and_how_to_upload(
    daemon: ServeProcess, pusher: ThriftPusher
) -> None:
    before = time.time() * 1000
    settings = pusher.handshake("S1", "HS")
    assert settings.protocol_version == 4
    assert settings.thrift_endpoint == daemon.thrift_target
    assert settings.grpc_endpoint == daemon.grpc_target
    assert (settings.tls_required, settings.upload_batch_size) == (False, 500)
    assert before - 5000 <= settings.server_time <= time.time() * 1000 + 5000


def test_pushing_a_shift_again_stores_nothing_twice(pusher: ThriftPusher) -> None:
    upload = shift("AGAIN", 1, receipts=50)
    first = pusher.upload(upload)
    assert (first.status, first.receipts_stored, first.receipts_duplicate) == (
        UploadStatus.LOADED,
        50,
        0,
    )
    again = pusher.upload(upload)
    assert again.status is UploadStatus.LOADED
    assert (again.receipts_received, again.receipts_stored, again.receipts_duplicate) == (50, 0, 50)
    assert again.workshift_id == first.workshift_id > 0


def _bad_uid(upload: Any) -> None:
    upload.receipts[3].uid = "3f2b9c4e-not-a-uid"


def _negative_money(upload: Any) -> None:
    upload.receipts[2].lines[0].amount = -100


def _unknown_enum(upload: Any) -> None:
    upload.receipts[1].kind = 9


def _bad_store_code(upload: Any) -> None:
    upload.shift.store_code = "S 1"


@pytest.mark.parametrize(
    ("number", "spoil", "field", "message"),
    [
        (1, _bad_uid, "receipts[3].uid", "not a UUID"),
        (2, _negative_money, "receipts[2].lines[0].amount", "must not be negative"),
        (3, _unknown_enum, "receipts[1].kind", "unknown ReceiptKind 9"),
        (4, _bad_store_code, "shift.store_code", "must be 1-32 characters of A-Z a-z 0-9 _ -"),
    ],
    ids=["uid", "negative money", "unknown enum", "store code"],
)
def test_a_structural_fault_is_invalid_request_naming_the_field(
    pusher: ThriftPusher, number: int, spoil: Callable[[Any], None], field: str, message: str
) -> None:
    upload = shift("INVALID", number)
    wire = upload_to_thrift(upload)
    spoil(wire)
    with pytest.raises(THRIFT.InvalidRequest) as refused:
        pusher.upload_struct(wire)
    assert (refused.value.field, refused.value.message) == (field, message)
    # Nothing of it was stored: the sound upload stores every receipt as new.
    result = pusher.upload(upload)
    assert (result.status, result.receipts_stored, result.receipts_duplicate) == (
        UploadStatus.LOADED,
        10,
        0,
    )


def test_an_upload_without_its_shift_is_invalid_request(pusher: ThriftPusher) -> None:
    with pytest.raises(THRIFT.InvalidRequest) as refused:
        pusher.upload_struct(THRIFT.ShiftUpload(receipts=[]))
    assert (refused.value.field, refused.value.message) == ("shift", "missing")
    with pytest.raises(THRIFT.InvalidRequest) as no_code:
        pusher.client.handshake(THRIFT.HandshakeRequest(store_code="S1"))
    assert (no_code.value.field, no_code.value.message) == ("register_code", "missing")


def test_a_second_shift_without_open_time_is_rejected_and_kept(
    daemon: ServeProcess, pusher: ThriftPusher
) -> None:
    first = shift("NULLDATE", 7)
    first = replace(first, shift=replace(first.shift, opened_at=None))
    stored = pusher.upload(first)
    assert stored.status is UploadStatus.LOADED
    second = replace(first, receipts=shift("NULLDATE", 8).receipts)
    rejected = pusher.upload(second)
    assert rejected.status is UploadStatus.REJECTED
    assert "open time is null" in rejected.message
    assert (rejected.workshift_id, rejected.receipts_stored) == (0, 0)
    wait_event(daemon, "shift.rejected", register_code="NULLDATE", shift_number=7)
    assert wait_for(lambda: daemon.spool_files("error"))


def test_the_apache_thrift_generated_client_pushes_a_shift(daemon: ServeProcess) -> None:
    """The reference peer: the Apache compiler's client on the Apache runtime."""
    socket = ApacheSocket.TSocket("127.0.0.1", daemon.thrift_port)
    socket.setTimeout(30_000)
    transport = ApacheTransport.TFramedTransport(socket)
    client = ApacheSalesLoader.Client(ApacheBinary.TBinaryProtocol(transport))
    transport.open()
    try:
        settings = client.handshake(
            ttypes.HandshakeRequest(
                store_code="S1", register_code="APACHE", supported_protocols=[3]
            )
        )
        assert settings.thrift_endpoint == daemon.thrift_target
        upload = shift("APACHE", 1, receipts=40)
        result = client.uploadShift(to_apache(upload))
        assert result.status == ttypes.UploadStatus.LOADED
        assert (result.receipts_received, result.receipts_stored) == (40, 40)
        assert result.workshift_id > 0
        bad = to_apache(shift("APACHE", 2))
        bad.receipts[0].uid = "not-a-uid"
        with pytest.raises(ttypes.InvalidRequest) as refused:
            client.uploadShift(bad)
        assert (refused.value.field, refused.value.message) == ("receipts[0].uid", "not a UUID")
        again = client.uploadShift(to_apache(upload))  # the connection is still good
        assert (again.workshift_id, again.receipts_duplicate) == (result.workshift_id, 40)
    finally:
        transport.close()


def test_emulator_push_over_protocol_3_loads_next_to_protocol_4(daemon: ServeProcess) -> None:
    common = ["--store", "CLI", "--receipts", "20", "--json"]
    thrift = daemon.cli(
        "emulator", "push", "--protocol", "3", "--target", daemon.thrift_target,
        "--register", "R3", "--shifts", "3", *common,
    )  # fmt: skip
    pushed = json.loads(thrift.stdout)
    assert [r["status"] for r in pushed["results"]] == ["LOADED"] * 3
    daemon.cli(
        "emulator", "push", "--protocol", "4", "--target", daemon.grpc_target,
        "--register", "R4", "--shifts", "2", *common,
    )  # fmt: skip
    rows = json.loads(daemon.cli("shifts", "--store", "CLI", "--json").stdout)
    assert sorted((r["register_code"], r["shift_number"]) for r in rows) == [
        ("R3", 1), ("R3", 2), ("R3", 3), ("R4", 1), ("R4", 2),
    ]  # fmt: skip
    assert {r["status"] for r in rows} == {"ok"}
    assert all(r["receipts_count"] == 20 for r in rows)


def _read_line(process: subprocess.Popen[str], timeout_s: float = 20) -> str:
    assert process.stdout is not None
    with selectors.DefaultSelector() as selector:
        selector.register(process.stdout, selectors.EVENT_READ)
        if not selector.select(timeout_s):
            raise AssertionError("emulator serve printed nothing")
    return process.stdout.readline()


def test_emulator_serve_over_protocol_3_answers_get_sales() -> None:
    argv = [
        sys.executable, "-m", "cashserver.cli.main", "emulator", "serve", "--protocol", "3",
        "--listen", "127.0.0.1:0", "--store", "S5", "--register", "R5",
        "--shifts", "10", "--receipts", "7", "--first-date", "2026-01-01",
    ]  # fmt: skip
    process = subprocess.Popen(
        argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=cli_env()
    )
    try:
        line = _read_line(process)
        found = re.match(
            r"RegisterSales \(protocol 3\) for 1 register\(s\) of S5 on \S+ port (\d+);", line
        )
        assert found is not None, line
        port = int(found.group(1))
        assert process.stdout is not None  # the next line is already buffered
        assert process.stdout.readline().split() == [
            "cashserver", "registers", "add", "S5", "R5",
            "--address", f"127.0.0.1:{port}", "--protocol", "3",
        ]  # fmt: skip
        client = connect(THRIFT.RegisterSales, f"127.0.0.1:{port}", timeout_s=30)
        try:
            wanted = THRIFT.ShiftRange(from_shift=2, to_shift=4)
            pulled = client.getSales(THRIFT.SalesRequest(shift_range=wanted))
            history = History("S5", "R5", 10, 7)
            assert [upload_from_thrift(u) for u in pulled] == [history.shift(n) for n in (2, 3, 4)]
            backwards = THRIFT.ShiftRange(from_shift=4, to_shift=2)
            with pytest.raises(TApplicationException, match=r"shift_range\.to_shift"):
                client.getSales(THRIFT.SalesRequest(shift_range=backwards))
        finally:
            client.close()
        process.send_signal(signal.SIGTERM)
        assert process.wait(20) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        for stream in (process.stdout, process.stderr):
            if stream is not None:
                stream.close()


def test_a_full_disk_is_an_application_error_and_stores_nothing(
    tmp_path: Path, tiny_spool: Path
) -> None:
    full = ServeProcess(tmp_path, database_url=f"sqlite:///{tmp_path / 'db.sqlite'}")
    full.config.write_text(full.config.read_text().replace(str(full.data_dir), str(tiny_spool)))
    full.data_dir = tiny_spool
    full.start()
    try:
        pusher = ThriftPusher(full.thrift_target, timeout_s=30)
        try:
            assert pusher.upload(shift("FULL", 1, receipts=5)).status is UploadStatus.LOADED
            with pytest.raises(TApplicationException, match="upload not accepted") as refused:
                pusher.upload(shift("FULL", 2, receipts=2000))
            assert refused.value.type == TApplicationException.INTERNAL_ERROR
            wait_for(lambda: full.spool_files("incoming") == [], what="incoming/ empty")
            wait_event(full, "upload.not_accepted", protocol=3)
            # The connection is still good for what fits.
            assert pusher.upload(shift("FULL", 3, receipts=5)).status is UploadStatus.LOADED
        finally:
            pusher.close()
    finally:
        full.kill()


# -- a directory that does not add registers by itself ----------------------------------


def admitted(pusher: ThriftPusher, store: str, register: str) -> Any:
    """The register's Handshake answer, or None while it is still denied."""
    try:
        return pusher.handshake(store, register)
    except THRIFT.AccessDenied:
        return None


def test_unknown_registers_are_denied_until_added(tmp_path: Path) -> None:
    closed = ServeProcess(tmp_path, registers={"auto_register": False})
    closed.start()
    try:
        pusher = ThriftPusher(closed.thrift_target, timeout_s=30)
        try:
            with pytest.raises(THRIFT.AccessDenied, match="S9/R9"):
                pusher.handshake("S9", "R9")
            with pytest.raises(THRIFT.AccessDenied, match="S9/R9"):
                pusher.upload(shift("R9", 1, store="S9"))
            closed.cli("registers", "add", "S9", "R9", "--protocol", "3")
            # The daemon's directory in memory follows the database within a second or so.
            assert wait_for(lambda: admitted(pusher, "S9", "R9")).protocol_version == 3
            assert pusher.upload(shift("R9", 1, store="S9")).status is UploadStatus.LOADED
        finally:
            pusher.close()
    finally:
        closed.kill()

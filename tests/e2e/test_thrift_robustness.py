"""Protocol 3 against hostile, broken and numerous peers, and over TLS.

Every case ends the way a register cares about: the faulty connection is closed
and logged (fields, not prose), and the daemon still serves a good register.
"""

from __future__ import annotations

import socket
import struct
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import trustme
from structlog.testing import capture_logs
from thriftpy2.protocol import TBinaryProtocolFactory
from thriftpy2.protocol.binary import TBinaryProtocol
from thriftpy2.thrift import TClient, TProcessor
from thriftpy2.transport import TBufferedTransportFactory, TSocket, TTransportException
from thriftpy2.transport.buffered import TBufferedTransport
from thriftpy2.transport.memory import TMemoryBuffer

from cashserver.domain import UploadStatus
from cashserver.emulator.push import TlsFiles
from cashserver.emulator.thrift_push import ThriftPusher, connect
from cashserver.rpc import thrift_framed
from cashserver.rpc.convert_thrift import THRIFT
from cashserver.rpc.thrift_framed import FramedServer
from tests.e2e.daemon import ServeProcess
from tests.e2e.thrift_helpers import events, shift, wait_event
from tests.waiting import wait_for

MAX_FRAME = 64 * 1024
IDLE_S = 2.0


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServeProcess]:
    process = ServeProcess(
        tmp_path_factory.mktemp("thrift-robust"),
        thrift={"max_frame_bytes": MAX_FRAME, "idle_timeout_s": IDLE_S},
    )
    process.start()
    yield process
    process.kill()


_good_shifts = iter(range(1, 1000))


def assert_serves_a_good_register(daemon: ServeProcess) -> None:
    pusher = ThriftPusher(daemon.thrift_target, timeout_s=30)
    try:
        assert pusher.handshake("S1", "GOOD").thrift_endpoint == daemon.thrift_target
        result = pusher.upload(shift("GOOD", next(_good_shifts), receipts=5))
        assert (result.status, result.receipts_stored) == (UploadStatus.LOADED, 5)
    finally:
        pusher.close()


def raw_connection_to(port: int) -> tuple[socket.socket, str]:
    """A plain TCP connection to ``port`` and its peer name as the server logs it."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=30)
    host, local_port = sock.getsockname()[:2]
    return sock, f"{host}:{local_port}"


def raw_connection(daemon: ServeProcess) -> tuple[socket.socket, str]:
    return raw_connection_to(daemon.thrift_port)


def closed_by_server(sock: socket.socket) -> bool:
    """True once the server has closed ``sock`` (reads end or are reset); waits up to 30 s."""
    try:
        while sock.recv(65536):
            pass
    except ConnectionResetError:
        pass
    sock.close()
    return True


def frame(body: bytes) -> bytes:
    return struct.pack("!I", len(body)) + body


def test_garbage_in_a_frame_is_a_protocol_error(daemon: ServeProcess) -> None:
    sock, peer = raw_connection(daemon)
    # A list of 2**31 - 1 elements of an undefined type: thriftpy2 alone would spin on it.
    body = struct.pack("!Ii", 0x80010001, 11) + b"uploadShift" + struct.pack("!i", 1)
    body += b"\x0f\x00\x01" + b"\x00" + struct.pack("!i", 2**31 - 1) + b"\x00"
    sock.sendall(frame(body))
    assert closed_by_server(sock)
    event = wait_event(daemon, "thrift.connection_error", peer=peer)
    assert event["reason"] == "protocol_error"
    assert "undefined element type" in event["error"]
    assert_serves_a_good_register(daemon)


def test_an_http_request_is_a_frame_too_large(daemon: ServeProcess) -> None:
    sock, peer = raw_connection(daemon)
    sock.sendall(b"GET / HTTP/1.1\r\nHost: cashserver\r\n\r\n")
    assert closed_by_server(sock)
    event = wait_event(daemon, "thrift.frame_too_large", peer=peer)
    assert (event["size"], event["limit"]) == (int.from_bytes(b"GET "), MAX_FRAME)
    assert_serves_a_good_register(daemon)


def test_an_unframed_client_is_told_apart_in_the_log(daemon: ServeProcess) -> None:
    sock = TSocket("127.0.0.1", daemon.thrift_port, socket_timeout=30_000)
    transport = TBufferedTransportFactory().get_transport(sock)
    transport.open()
    peer = "{}:{}".format(*sock.sock.getsockname()[:2])
    client = TClient(THRIFT.SalesLoader, TBinaryProtocolFactory().get_protocol(transport))
    with pytest.raises((TTransportException, ConnectionError)):
        client.handshake(THRIFT.HandshakeRequest(store_code="S1", register_code="R1"))
    transport.close()
    wait_event(daemon, "thrift.connection_error", peer=peer, reason="unframed_message")
    assert_serves_a_good_register(daemon)


def test_a_truncated_frame_closes_the_connection(daemon: ServeProcess) -> None:
    sock, peer = raw_connection(daemon)
    sock.sendall(struct.pack("!I", 100) + b"\x80\x01\x00\x01" + b"x" * 36)
    sock.shutdown(socket.SHUT_WR)
    assert closed_by_server(sock)
    event = wait_event(daemon, "thrift.connection_error", peer=peer)
    assert (event["reason"], event["received"], event["expected"]) == ("truncated_frame", 40, 100)
    assert_serves_a_good_register(daemon)


def test_an_upload_over_the_frame_limit_is_closed_not_answered(daemon: ServeProcess) -> None:
    pusher = ThriftPusher(daemon.thrift_target, timeout_s=30)
    with pytest.raises((TTransportException, ConnectionError)):
        pusher.upload(shift("BIG", 1, receipts=400))
    pusher.close()
    event = wait_for(
        lambda: [e for e in events(daemon, "thrift.frame_too_large") if e["size"] < 2**24]
    )[0]
    assert event["size"] > MAX_FRAME and event["limit"] == MAX_FRAME
    assert_serves_a_good_register(daemon)


def _peak_rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise AssertionError("no VmHWM")


def test_a_2_gib_frame_claimed_in_4_bytes_allocates_nothing(daemon: ServeProcess) -> None:
    assert daemon.process is not None
    sock, peer = raw_connection(daemon)
    sock.sendall(b"\x80\x00\x00\x00" + b"\x00" * 1000)
    assert closed_by_server(sock)
    event = wait_event(daemon, "thrift.frame_too_large", peer=peer)
    assert event["size"] == 2**31
    assert _peak_rss_kib(daemon.process.pid) < 512 * 1024
    assert_serves_a_good_register(daemon)


def test_silent_and_stalled_clients_block_nobody_and_are_closed_when_idle(
    daemon: ServeProcess,
) -> None:
    silent, silent_peer = raw_connection(daemon)
    stalled, stalled_peer = raw_connection(daemon)
    stalled.sendall(struct.pack("!I", 500) + b"\x80\x01")
    assert_serves_a_good_register(daemon)  # while both hold their connections
    assert closed_by_server(silent) and closed_by_server(stalled)
    idle = wait_event(daemon, "thrift.connection_idle", peer=silent_peer)
    assert (idle["calls"], idle["idle_timeout_s"]) == (0, IDLE_S)
    stall = wait_event(daemon, "thrift.connection_error", peer=stalled_peer)
    assert (stall["reason"], stall["received"]) == ("timeout_mid_frame", 2)
    assert_serves_a_good_register(daemon)


def test_a_client_vanishing_mid_frame_is_logged(daemon: ServeProcess) -> None:
    sock, peer = raw_connection(daemon)
    sock.sendall(struct.pack("!I", 300) + b"\x80\x01\x00\x01")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()  # with linger 0: a reset, as when a register loses power
    event = wait_event(daemon, "thrift.connection_error", peer=peer)
    assert event["reason"] in ("io_error", "truncated_frame")
    assert_serves_a_good_register(daemon)


def test_200_registers_connected_at_once_each_handshake(daemon: ServeProcess) -> None:
    count = 200
    connected = threading.Barrier(count, timeout=60)
    answers: list[Any] = []
    failures: list[BaseException] = []
    lock = threading.Lock()

    def register(index: int) -> None:
        try:
            pusher = ThriftPusher(daemon.thrift_target, timeout_s=60)
            try:
                connected.wait()  # all 200 hold a connection before anyone asks
                settings = pusher.handshake("S1", f"MANY{index:03d}")
            finally:
                pusher.close()
            with lock:
                answers.append(settings)
        except BaseException as exc:
            with lock:
                failures.append(exc)

    threads = [threading.Thread(target=register, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert not failures, failures[:3]
    assert len(answers) == count
    assert {a.thrift_endpoint for a in answers} == {daemon.thrift_target}
    assert_serves_a_good_register(daemon)


# -- TLS ----------------------------------------------------------------------------


def test_a_tls_port_takes_tls_registers_and_refuses_plain_ones(tmp_path: Path) -> None:
    ca = trustme.CA()
    ca.cert_pem.write_to_path(str(tmp_path / "ca.pem"))
    server = ca.issue_cert("127.0.0.1", "localhost")
    server.private_key_pem.write_to_path(str(tmp_path / "server.key"))
    server.cert_chain_pems[0].write_to_path(str(tmp_path / "server.pem"))
    tls = {"tls_cert": str(tmp_path / "server.pem"), "tls_key": str(tmp_path / "server.key")}
    daemon = ServeProcess(tmp_path / "daemon", thrift=tls)
    daemon.start()
    try:
        pusher = ThriftPusher(daemon.thrift_target, TlsFiles(str(tmp_path / "ca.pem")), 30)
        try:
            assert pusher.handshake("S1", "TLS").tls_required is True
            result = pusher.upload(shift("TLS", 1))
            assert (result.status, result.receipts_stored) == (UploadStatus.LOADED, 10)
        finally:
            pusher.close()
        plain = ThriftPusher(daemon.thrift_target, timeout_s=30)
        with pytest.raises((TTransportException, ConnectionError)):
            plain.handshake("S1", "PLAIN")
        plain.close()
        rejected = wait_event(daemon, "tls.rejected", protocol=3)
        assert (
            "WRONG_VERSION_NUMBER" in rejected["reason"]
            or "wrong version" in rejected["reason"].lower()
        )
    finally:
        daemon.kill()


# -- stopping (the server class in this process, on real sockets) ------------------------


class _SlowLoader:
    """A SalesLoader whose handshake waits until the test lets it answer."""

    def __init__(self) -> None:
        self.entered = threading.Event()
        self.release = threading.Event()

    def handshake(self, request: Any) -> Any:
        self.entered.set()
        assert self.release.wait(30)
        return THRIFT.SyncSettings(protocol_version=3, thrift_endpoint=request.register_code)


def test_stop_closes_idle_connections_and_lets_a_call_in_flight_answer() -> None:
    handler = _SlowLoader()
    server = FramedServer(
        "127.0.0.1:0",
        lambda _peer, _host, _tls, _turn: TProcessor(THRIFT.SalesLoader, handler),
        max_frame_bytes=MAX_FRAME,
        idle_timeout_s=300,
    )
    port = server.start()
    idle = socket.create_connection(("127.0.0.1", port), timeout=30)
    busy = connect(THRIFT.SalesLoader, f"127.0.0.1:{port}", timeout_s=30)
    answers: list[Any] = []
    call = threading.Thread(
        target=lambda: answers.append(
            busy.handshake(THRIFT.HandshakeRequest(store_code="S1", register_code="R1"))
        )
    )
    call.start()
    assert handler.entered.wait(30)
    stopping = threading.Thread(target=server.stop, args=(30.0,))
    stopping.start()
    assert closed_by_server(idle)  # at once, not after the idle timeout
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=5).recv(1)
    handler.release.set()
    call.join(30)
    stopping.join(30)
    assert not stopping.is_alive()
    assert [a.thrift_endpoint for a in answers] == ["R1"]
    busy.close()


def test_a_taken_port_stops_serve_with_exit_2(daemon: ServeProcess, tmp_path: Path) -> None:
    other = ServeProcess(tmp_path / "other", thrift={"listen": daemon.thrift_target})
    result = other.cli("serve", check=False)
    assert result.returncode == 2
    assert daemon.thrift_target in result.stderr


def test_connections_over_the_bound_are_refused_at_once_and_logged() -> None:
    handler = _SlowLoader()
    handler.release.set()
    server = FramedServer(
        "127.0.0.1:0",
        lambda _peer, _host, _tls, _turn: TProcessor(THRIFT.SalesLoader, handler),
        max_frame_bytes=MAX_FRAME,
        idle_timeout_s=300,
        max_connections=2,
    )
    port = server.start()
    try:
        with capture_logs() as logs:
            held = [connect(THRIFT.SalesLoader, f"127.0.0.1:{port}") for _ in range(2)]
            for client in held:  # both are being served
                request = THRIFT.HandshakeRequest(store_code="S1", register_code="R1")
                assert client.handshake(request).thrift_endpoint == "R1"
            extra, peer = raw_connection_to(port)
            assert closed_by_server(extra)
            wait_for(lambda: any(e.get("peer") == peer for e in logs))
        [refused] = [e for e in logs if e.get("peer") == peer]
        assert refused["event"] == "thrift.connection_refused"
        assert (refused["reason"], refused["limit"]) == ("too_many_connections", 2)
        for client in held:
            client.close()
    finally:
        server.stop(5)


def test_the_pure_python_thriftpy2_path_serves_the_same(monkeypatch: pytest.MonkeyPatch) -> None:
    """Where thriftpy2 has no compiled extensions, its pure Python classes do the work."""
    monkeypatch.setattr(thrift_framed, "BinaryProtocol", TBinaryProtocol)
    monkeypatch.setattr(thrift_framed, "BufferedTransport", TBufferedTransport)
    monkeypatch.setattr(thrift_framed, "MemoryBuffer", TMemoryBuffer)
    handler = _SlowLoader()
    handler.release.set()
    server = FramedServer(
        "127.0.0.1:0",
        lambda _peer, _host, _tls, _turn: TProcessor(THRIFT.SalesLoader, handler),
        max_frame_bytes=MAX_FRAME,
        idle_timeout_s=300,
    )
    port = server.start()
    try:
        client = connect(THRIFT.SalesLoader, f"127.0.0.1:{port}", timeout_s=30)
        request = THRIFT.HandshakeRequest(store_code="S1", register_code="PURE")
        assert client.handshake(request).thrift_endpoint == "PURE"
        client.close()
        with capture_logs() as logs:
            sock, peer = raw_connection_to(port)
            body = struct.pack("!Ii", 0x80010001, 9) + b"handshake" + struct.pack("!i", 1)
            sock.sendall(frame(body + b"\x0c\x00\x01\x0b\x00\x01" + b"\xff\xff\xff\x00"))
            assert closed_by_server(sock)
            wait_for(lambda: any(e.get("peer") == peer for e in logs))
        [error] = [e for e in logs if e.get("peer") == peer]
        assert (error["event"], error["reason"]) == ("thrift.connection_error", "protocol_error")
    finally:
        server.stop(5)

"""Registers to pull from in the end-to-end tests: the emulator fleet as a subprocess,
and the totals a register's history should reconcile to."""

from __future__ import annotations

import json
import random
import signal
import socket
import subprocess
import sys
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from typing import Any

from cashserver.domain import Upload
from cashserver.reconcile import compute_totals
from tests.e2e.daemon import cli_env

TOTAL_KEYS = (
    "receipts_count",
    "sales_cash",
    "sales_noncash",
    "returns_cash",
    "returns_noncash",
    "revenue_cash",
    "revenue_noncash",
    "drawer",
    "cash_in",
    "cash_out",
)


def free_port_range(count: int) -> int:
    """A base port with ``count`` free ports from it on 127.0.0.1."""
    for _ in range(200):
        base = random.randint(20000, 60000 - count)
        sockets = []
        try:
            for port in range(base, base + count):
                sock = socket.socket()
                sockets.append(sock)
                sock.bind(("127.0.0.1", port))
            return base
        except OSError:
            continue
        finally:
            for sock in sockets:
                sock.close()
    raise AssertionError(f"no {count} free ports in a row")


@dataclass
class Fleet:
    commands: list[str]
    """The ``registers add`` command lines the emulator printed."""
    base_port: int

    def address(self, index: int) -> str:
        return f"127.0.0.1:{self.base_port + index}"


@contextmanager
def emulator_fleet(*args: str, registers: int = 1, protocol: int = 4) -> Iterator[Fleet]:
    """``cashserver emulator serve --registers N`` on free ports, until the block ends;
    shift n opens on n January 2026 (08:00 UTC), the dates the tests ask for."""
    base = free_port_range(registers)
    argv = [
        sys.executable, "-m", "cashserver.cli.main", "emulator", "serve",
        "--registers", str(registers), "--listen", f"127.0.0.1:{base}",
        "--protocol", str(protocol), "--first-date", "2026-01-01", *args,
    ]  # fmt: skip
    process = subprocess.Popen(
        argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=cli_env()
    )
    try:
        assert process.stdout is not None
        header = process.stdout.readline()
        assert "RegisterSales" in header, header + (process.stderr.read() if process.stderr else "")
        commands = [process.stdout.readline().strip() for _ in range(registers)]
        yield Fleet(commands, base)
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def add_fleet(cli: Callable[..., Any], fleet: Fleet, *extra: str) -> None:
    for line in fleet.commands:
        words = line.split()
        assert words[:3] == ["cashserver", "registers", "add"], line
        cli(*words[1:], *extra)


def totals(upload: Upload) -> dict[str, int]:
    t = compute_totals(upload.receipts)
    return {key: getattr(t, key) for key in TOTAL_KEYS}


def stored_totals(rows: Iterable[dict[str, Any]]) -> dict[tuple[str, int], dict[str, int]]:
    """``shifts --json`` rows as (register_code, shift_number) -> section 7 totals."""
    return {(r["register_code"], r["shift_number"]): {k: r[k] for k in TOTAL_KEYS} for r in rows}


def pull_json(cli: Callable[..., Any], *args: str) -> tuple[int, dict[str, Any]]:
    result = cli("pull", *args, "--json", check=False)
    assert result.returncode in (0, 1), result.stderr
    return result.returncode, json.loads(result.stdout)


class GrpcPeer:
    """A RegisterSales server in the test process whose shifts the test can change.

    ``gate`` (set by default) holds every answer while cleared: a slow register.
    ``calls`` counts the GetSales calls it took.
    """

    def __init__(self, uploads: list[Upload], tls: tuple[bytes, bytes] | None = None) -> None:
        """``tls``: (key, certificate chain) PEM to serve TLS with."""
        import threading
        from concurrent import futures

        import grpc

        from cashserver.rpc.services import REGISTER_SALES, add_service
        from tests.pg import free_port

        self.uploads = list(uploads)
        self.leading: list[Any] = []
        """Chunks sent before the first shift's (a broken answer)."""
        self.gate = threading.Event()
        self.gate.set()
        self.calls = 0
        self.server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
        add_service(self.server, REGISTER_SALES, self)
        self.port = free_port()
        if tls is None:
            self.server.add_insecure_port(f"127.0.0.1:{self.port}")
        else:
            credentials = grpc.ssl_server_credentials([tls])
            self.server.add_secure_port(f"127.0.0.1:{self.port}", credentials)
        self.server.start()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def GetSales(self, request: Any, context: Any) -> Iterator[Any]:
        from msgspec.structs import replace

        from cashserver.domain import ShiftRange
        from cashserver.rpc.convert_proto import sales_query_from_proto, upload_to_chunks

        self.calls += 1
        query = sales_query_from_proto(request)
        while not self.gate.wait(0.1):
            if not context.is_active():
                return
        yield from self.leading
        for upload in list(self.uploads):
            if isinstance(query, ShiftRange):
                if query.from_shift <= upload.shift.shift_number <= query.to_shift:
                    yield from upload_to_chunks(upload, 50)
                continue
            inside = tuple(r for r in upload.receipts if query.from_ms <= r.closed_at < query.to_ms)
            if inside:
                yield from upload_to_chunks(replace(upload, receipts=inside), 50)

    def stop(self) -> None:
        self.gate.set()
        self.server.stop(0).wait()


def registers_by_code(cli: Callable[..., Any]) -> dict[str, dict[str, Any]]:
    listed = json.loads(cli("registers", "list", "--json").stdout)
    return {r["register_code"]: r for r in listed}


def _in_query(uploads: list[Upload], query: Any) -> list[Upload]:
    """What a register answers (SPEC 10): whole shifts for a shift range; for a time
    range, the shifts with receipts in it and only those receipts."""
    from msgspec.structs import replace

    from cashserver.domain import ShiftRange

    if isinstance(query, ShiftRange):
        return [u for u in uploads if query.from_shift <= u.shift.shift_number <= query.to_shift]
    answer = []
    for upload in uploads:
        inside = tuple(r for r in upload.receipts if query.from_ms <= r.closed_at < query.to_ms)
        if inside:
            answer.append(replace(upload, receipts=inside))
    return answer


class ApacheThriftPeer:
    """A RegisterSales server built from the IDL by the Apache Thrift compiler and served
    by the Apache ``thrift`` runtime (framed, binary): the reference peer of SPEC 5.

    Its answers are built with the test's own struct builder (``to_apache``), and its
    queries read from the Apache structs, so none of cashserver's converters is used.
    """

    def __init__(self, uploads: list[Upload]) -> None:
        import threading

        from thrift.protocol import TBinaryProtocol
        from thrift.transport import TSocket, TTransport

        from tests.pg import free_port
        from tests.unit.test_thrift_generated_client import ApacheRegisterSales

        self.uploads = uploads
        self.port = free_port()
        self.transport = TSocket.TServerSocket(host="127.0.0.1", port=self.port)
        self.transport.listen()
        self.processor = ApacheRegisterSales.Processor(self)
        self.framed = TTransport.TFramedTransportFactory()
        self.binary = TBinaryProtocol.TBinaryProtocolFactory()
        self.stopping = False
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def getSales(self, request: Any) -> list[Any]:
        from cashserver.domain import ShiftRange, TimeRange
        from tests.unit.test_thrift_generated_client import to_apache

        if request.shift_range is not None:
            query: Any = ShiftRange(request.shift_range.from_shift, request.shift_range.to_shift)
        else:
            query = TimeRange(request.time_range.from_time, request.time_range.to_time)
        return [to_apache(upload) for upload in _in_query(self.uploads, query)]

    def _accept(self) -> None:
        import threading

        while not self.stopping:
            try:
                client = self.transport.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: Any) -> None:
        from thrift.transport import TTransport

        itrans = self.framed.getTransport(client)
        otrans = self.framed.getTransport(client)
        try:
            while True:
                self.processor.process(
                    self.binary.getProtocol(itrans), self.binary.getProtocol(otrans)
                )
        except (TTransport.TTransportException, OSError, EOFError):
            pass
        finally:
            itrans.close()

    def stop(self) -> None:
        import socket as sockets

        self.stopping = True
        handle = self.transport.handle
        if handle is not None:
            with suppress(OSError):
                handle.shutdown(sockets.SHUT_RDWR)
        self.transport.close()
        self.thread.join(5)


GRPCLIB_SERVER = """
import asyncio, json, sys
from grpclib.server import Server
from grpclib.utils import graceful_exit
from cashserver.v1 import cashserver_pb2 as pb
from cashserver.v1.cashserver_grpc import RegisterSalesBase

def ms(ts):
    return ts.seconds * 1000 + ts.nanos // 1000000

class Register(RegisterSalesBase):
    def __init__(self, shifts):
        self.shifts = shifts  # each a list of UploadChunk: its Shift, then receipt batches

    async def GetSales(self, stream):
        request = await stream.recv_message()
        which = request.WhichOneof("range")
        for chunks in self.shifts:
            head, batches = chunks[0], chunks[1:]
            if which == "shift_range":
                r = request.shift_range
                if r.from_shift <= head.shift.shift_number <= r.to_shift:
                    for chunk in chunks:
                        await stream.send_message(chunk)
                continue
            low, high = ms(getattr(request.time_range, "from")), ms(request.time_range.to)
            kept = [rc for b in batches for rc in b.receipts.receipts
                    if low <= ms(rc.closed_at) < high]
            if kept:
                await stream.send_message(head)
                for start in range(0, len(kept), 40):
                    batch = pb.ReceiptBatch(receipts=kept[start:start + 40])
                    await stream.send_message(pb.UploadChunk(receipts=batch))

async def main():
    shifts = [[pb.UploadChunk.FromString(bytes.fromhex(h)) for h in s]
              for s in json.load(sys.stdin)]
    server = Server([Register(shifts)])
    with graceful_exit([server]):
        await server.start("127.0.0.1", int(sys.argv[1]))
        print("serving", flush=True)
        await server.wait_closed()

asyncio.run(main())
"""


@contextmanager
def grpclib_peer(uploads: list[Upload], folder: Any) -> Iterator[str]:
    """A RegisterSales server on grpclib (pure Python, h2) with code generated from the
    proto by grpclib's own protoc plugin, in a process of its own; yields its address."""
    from pathlib import Path

    import pytest

    from cashserver.rpc.convert_proto import upload_to_chunks
    from tests.e2e.daemon import REPO
    from tests.pg import free_port

    plugin = Path(sys.executable).with_name("protoc-gen-grpclib_python")
    if not plugin.exists():
        pytest.skip("grpclib's protoc plugin is not installed next to this Python")
    out = Path(folder) / "grpclib"
    out.mkdir()
    subprocess.run(
        [
            sys.executable, "-m", "grpc_tools.protoc", f"-I{REPO / 'proto'}",
            f"--plugin=protoc-gen-grpclib_python={plugin}",
            f"--python_out={out}", f"--grpclib_python_out={out}",
            "cashserver/v1/cashserver.proto",
        ],
        check=True,
    )  # fmt: skip
    (out / "server.py").write_text(GRPCLIB_SERVER)
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, str(out / "server.py"), str(port)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=out,
        env={"PYTHONPATH": str(out), "PATH": "/usr/bin:/bin"},
    )
    try:
        assert process.stdin is not None and process.stdout is not None
        shifts = [[c.SerializeToString().hex() for c in upload_to_chunks(u, 40)] for u in uploads]
        process.stdin.write(json.dumps(shifts))
        process.stdin.close()
        assert process.stdout.readline().strip() == "serving"
        yield f"127.0.0.1:{port}"
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

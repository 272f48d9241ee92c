"""``emulator serve``: RegisterSales for one register or a fleet of them, from one process.

Register ``i`` of a fleet listens on ``BASEPORT + i``. Protocol 4 runs every
register's server on one asyncio event loop (``grpc.aio``): a thousand
registers cost two threads, not a thousand. Protocol 3 runs a framed Thrift
server a register. A register may be told to hang (it accepts the call and
never answers), to fail (it answers an error naming itself), or to answer
after a delay. Each register's shifts are generated once and kept.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import grpc
from thriftpy2.thrift import TApplicationException, TProcessor

from cashserver.domain import Upload
from cashserver.emulator.history import History
from cashserver.rpc._generated.cashserver.v1 import cashserver_pb2 as pb
from cashserver.rpc.convert_proto import sales_query_from_proto, upload_to_chunks
from cashserver.rpc.convert_thrift import THRIFT, sales_query_from_thrift, upload_to_thrift
from cashserver.rpc.thrift_framed import FramedServer, ProcessorFactory
from cashserver.validate import ValidationError

MAX_FRAME_BYTES = 64 << 20
IDLE_TIMEOUT_S = 300.0
STOP_GRACE_S = 2.0
HANG_S = 24 * 3600.0


@dataclass(frozen=True, slots=True)
class Behaviour:
    """How a register answers: normally, never (``hang``), with an error (``fail``)."""

    hang: bool = False
    fail: bool = False
    delay_s: float = 0.0


@dataclass(slots=True)
class Register:
    history: History
    behaviour: Behaviour = field(default_factory=Behaviour)

    @property
    def code(self) -> str:
        return self.history.register_code

    def failure(self) -> str:
        return f"register {self.history.store_code}/{self.code} is failing (emulator --fail)"


@lru_cache(maxsize=65536)
def _shift(history: History, number: int) -> Upload:
    return history.shift(number)


def sales(history: History, query: Any) -> list[Upload]:
    """``history.sales(query)`` with each generated shift kept for the next query."""
    return history.sales(query, shift=lambda n: _shift(history, n))


class _GrpcRegister:
    def __init__(self, register: Register, batch_size: int = 500) -> None:
        self.register = register
        self.batch_size = batch_size

    async def GetSales(self, request: Any, context: Any) -> AsyncIterator[Any]:
        behaviour = self.register.behaviour
        if behaviour.delay_s:
            await asyncio.sleep(behaviour.delay_s)
        if behaviour.hang:
            await asyncio.sleep(HANG_S)
        if behaviour.fail:
            await context.abort(grpc.StatusCode.INTERNAL, self.register.failure())
        try:
            query = sales_query_from_proto(request)
        except ValidationError as exc:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
        for upload in sales(self.register.history, query):
            for chunk in upload_to_chunks(upload, self.batch_size):
                yield chunk


def _grpc_handler(service: _GrpcRegister) -> Any:
    method = grpc.unary_stream_rpc_method_handler(
        service.GetSales,
        request_deserializer=pb.SalesRequest.FromString,
        response_serializer=pb.UploadChunk.SerializeToString,
    )
    full_name = pb.DESCRIPTOR.services_by_name["RegisterSales"].full_name
    return grpc.method_handlers_generic_handler(full_name, {"GetSales": method})


def serve_grpc(
    host: str,
    base_port: int,
    registers: list[Register],
    stop: threading.Event,
    on_started: Callable[[list[int]], None],
) -> None:
    """Serve every register over protocol 4 until ``stop`` is set; raises OSError on bind."""

    async def main() -> None:
        servers = []
        ports = []
        try:
            for index, register in enumerate(registers):
                server = grpc.aio.server()
                server.add_generic_rpc_handlers((_grpc_handler(_GrpcRegister(register)),))
                port = server.add_insecure_port(f"{host}:{base_port + index if base_port else 0}")
                if port == 0:
                    raise OSError(f"cannot listen on {host}:{base_port + index}")
                await server.start()
                servers.append(server)
                ports.append(port)
            on_started(ports)
            while not stop.is_set():
                await asyncio.sleep(0.2)
        finally:
            await asyncio.gather(*(s.stop(STOP_GRACE_S) for s in servers))

    try:
        asyncio.run(main())
    except RuntimeError as exc:  # grpc reports a port it cannot bind this way
        raise OSError(str(exc)) from exc


class _ThriftRegister:
    def __init__(self, register: Register) -> None:
        self.register = register

    def getSales(self, request: Any) -> list[Any]:
        """The shifts a SalesRequest asks for; a bad range is a TApplicationException."""
        behaviour = self.register.behaviour
        if behaviour.delay_s:
            time.sleep(behaviour.delay_s)
        if behaviour.hang:
            threading.Event().wait(HANG_S)
        if behaviour.fail:
            raise TApplicationException(
                TApplicationException.INTERNAL_ERROR, self.register.failure()
            )
        try:
            if request is None:
                raise ValidationError("request", "missing")
            query = sales_query_from_thrift(request)
        except ValidationError as exc:
            raise TApplicationException(TApplicationException.UNKNOWN, str(exc)) from exc
        return [upload_to_thrift(upload) for upload in sales(self.register.history, query)]


def _constant(processor: TProcessor) -> ProcessorFactory:
    return lambda _peer, _host, _tls, _turn: processor


def serve_thrift(
    host: str,
    base_port: int,
    registers: list[Register],
    stop: threading.Event,
    on_started: Callable[[list[int]], None],
) -> None:
    """Serve every register over protocol 3 until ``stop`` is set; raises OSError on bind."""
    servers: list[FramedServer] = []
    try:
        for index, register in enumerate(registers):
            processor = TProcessor(THRIFT.RegisterSales, _ThriftRegister(register))
            server = FramedServer(
                f"{host}:{base_port + index if base_port else 0}",
                _constant(processor),
                max_frame_bytes=MAX_FRAME_BYTES,
                idle_timeout_s=IDLE_TIMEOUT_S,
            )
            server.start()
            servers.append(server)
        on_started([s.port for s in servers])
        stop.wait()
    finally:
        for server in servers:
            server.stop(STOP_GRACE_S)

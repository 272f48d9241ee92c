"""The gRPC services are bound from the proto's descriptor, method by method."""

from __future__ import annotations

from concurrent import futures

import grpc
import pytest

from cashserver.rpc._generated.cashserver.v1 import cashserver_pb2 as pb
from cashserver.rpc.services import REGISTER_SALES, SALES_LOADER, Stub, add_service


def test_stubs_have_every_method_of_the_proto() -> None:
    channel = grpc.insecure_channel("127.0.0.1:1")
    for service in (SALES_LOADER, REGISTER_SALES):
        methods = [m.name for m in pb.DESCRIPTOR.services_by_name[service].methods]
        stub = Stub(channel, service)
        assert methods and all(callable(getattr(stub, name)) for name in methods)
    channel.close()


def test_a_service_missing_a_method_is_refused_at_start() -> None:
    class HandshakeOnly:
        def Handshake(self, request: object, context: object) -> object:
            return pb.SyncSettings()

    server = grpc.server(futures.ThreadPoolExecutor(max_workers=1))
    with pytest.raises(TypeError, match=r"SalesLoader\.UploadShift"):
        add_service(server, SALES_LOADER, HandshakeOnly())


def test_a_bound_service_answers_over_a_real_socket() -> None:
    class Register:
        def GetSales(self, request: pb.SalesRequest, context: object) -> object:
            yield pb.UploadChunk(
                shift=pb.Shift(store_code="S1", shift_number=request.shift_range.to_shift)
            )

    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    add_service(server, REGISTER_SALES, Register())
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            request = pb.SalesRequest(shift_range=pb.ShiftRange(from_shift=1, to_shift=7))
            [chunk] = list(Stub(channel, REGISTER_SALES).GetSales(request, timeout=10))
        assert (chunk.shift.store_code, chunk.shift.shift_number) == ("S1", 7)
    finally:
        server.stop(None)

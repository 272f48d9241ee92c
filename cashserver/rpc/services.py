"""The two gRPC services of SPEC 4, bound from the proto's own descriptor.

grpcio-tools would also generate servicer base classes and client stubs; those
are boilerplate (each base method answers UNIMPLEMENTED), so this module builds
the same method handlers and stubs from ``cashserver_pb2.DESCRIPTOR``: method
paths and message types can never drift from the proto, and a service must
implement every method it serves (a missing one fails at start, not per call).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import grpc

from cashserver.rpc._generated.cashserver.v1 import cashserver_pb2 as pb

SALES_LOADER = "SalesLoader"
REGISTER_SALES = "RegisterSales"

_HANDLER_KINDS: dict[tuple[bool, bool], Callable[..., Any]] = {
    (False, False): grpc.unary_unary_rpc_method_handler,
    (True, False): grpc.stream_unary_rpc_method_handler,
    (False, True): grpc.unary_stream_rpc_method_handler,
    (True, True): grpc.stream_stream_rpc_method_handler,
}
_STUB_KINDS = {
    (False, False): "unary_unary",
    (True, False): "stream_unary",
    (False, True): "unary_stream",
    (True, True): "stream_stream",
}


def _message(type_name: str) -> Any:
    """The generated class of a fully qualified message name (``.cashserver.v1.X``)."""
    return getattr(pb, type_name.rsplit(".", 1)[-1])


def _methods(service: str) -> list[Any]:
    return list(pb.DESCRIPTOR.services_by_name[service].methods)


def add_service(server: grpc.Server, service: str, implementation: object) -> None:
    """Serve ``service`` from ``implementation``'s methods of the same names."""
    handlers = {}
    for method in _methods(service):
        function = getattr(implementation, method.name, None)
        if function is None:
            raise TypeError(f"{type(implementation).__name__} lacks {service}.{method.name}")
        kind = (method.client_streaming, method.server_streaming)
        handlers[method.name] = _HANDLER_KINDS[kind](
            function,
            request_deserializer=_message(method.input_type.full_name).FromString,
            response_serializer=_message(method.output_type.full_name).SerializeToString,
        )
    full_name = pb.DESCRIPTOR.services_by_name[service].full_name
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(full_name, handlers),))


class Stub:
    """A client of ``service`` on ``channel``: one callable attribute per method."""

    def __init__(self, channel: grpc.Channel, service: str) -> None:
        full_name = pb.DESCRIPTOR.services_by_name[service].full_name
        for method in _methods(service):
            kind = _STUB_KINDS[(method.client_streaming, method.server_streaming)]
            call = getattr(channel, kind)(
                f"/{full_name}/{method.name}",
                request_serializer=_message(method.input_type.full_name).SerializeToString,
                response_deserializer=_message(method.output_type.full_name).FromString,
            )
            setattr(self, method.name, call)

    def __getattr__(self, name: str) -> Any:  # the methods are set per instance
        raise AttributeError(name)

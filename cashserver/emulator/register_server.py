"""The emulator's serve side: RegisterSales over gRPC, from a :class:`History`."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent import futures
from typing import Any

import grpc

from cashserver.emulator.history import History
from cashserver.rpc.convert_proto import sales_query_from_proto, upload_to_chunks
from cashserver.rpc.services import REGISTER_SALES, add_service
from cashserver.validate import ValidationError


class RegisterSalesService:
    def __init__(self, history: History, batch_size: int = 500) -> None:
        self.history = history
        self.batch_size = batch_size

    def GetSales(self, request: Any, context: grpc.ServicerContext) -> Iterator[Any]:
        try:
            query = sales_query_from_proto(request)
        except ValidationError as exc:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
        for upload in self.history.sales(query):
            yield from upload_to_chunks(upload, self.batch_size)


def serve_register_grpc(listen: str, history: History) -> tuple[grpc.Server, int]:
    """Start a RegisterSales server; returns it and the bound port."""
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    add_service(server, REGISTER_SALES, RegisterSalesService(history))
    port = server.add_insecure_port(listen)
    if port == 0:
        raise OSError(f"cannot listen on {listen}")
    server.start()
    return server, port

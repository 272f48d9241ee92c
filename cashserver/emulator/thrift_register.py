"""The emulator's serve side over protocol 3: RegisterSales.getSales from a History."""

from __future__ import annotations

import threading
from typing import Any

from thriftpy2.thrift import TApplicationException, TProcessor

from cashserver.emulator.history import History
from cashserver.rpc.convert_thrift import THRIFT, sales_query_from_thrift, upload_to_thrift
from cashserver.rpc.thrift_framed import FramedServer
from cashserver.validate import ValidationError

MAX_FRAME_BYTES = 64 << 20
IDLE_TIMEOUT_S = 300.0
STOP_GRACE_S = 2.0


class RegisterSalesHandler:
    def __init__(self, history: History) -> None:
        self.history = history

    def getSales(self, request: Any) -> list[Any]:
        """The shifts a SalesRequest asks for; a bad range is a TApplicationException."""
        try:
            if request is None:
                raise ValidationError("request", "missing")
            query = sales_query_from_thrift(request)
        except ValidationError as exc:
            raise TApplicationException(TApplicationException.UNKNOWN, str(exc)) from exc
        return [upload_to_thrift(upload) for upload in self.history.sales(query)]


def serve_register_thrift(listen: str, history: History, stop: threading.Event) -> None:
    """Serve RegisterSales on ``listen`` until ``stop`` is set; prints the bound port.

    Raises ``OSError`` (BindError) if ``listen`` cannot be bound.
    """
    handler = RegisterSalesHandler(history)
    server = FramedServer(
        listen,
        lambda _peer, _host, _tls: TProcessor(THRIFT.RegisterSales, handler),
        max_frame_bytes=MAX_FRAME_BYTES,
        idle_timeout_s=IDLE_TIMEOUT_S,
    )
    port = server.start()
    print(
        f"RegisterSales (protocol 3) for {history.store_code}/{history.register_code}"
        f" on port {port}",
        flush=True,
    )
    try:
        stop.wait()
    finally:
        server.stop(STOP_GRACE_S)

"""The emulator's protocol 3 register: a thriftpy2 client, binary protocol, framed.

thriftpy2's package-level factories are its compiled (Cython) protocol and
transport when they are built, and the pure Python ones otherwise. Errors are the
wire's: ``InvalidRequest`` and ``AccessDenied`` as the IDL's exceptions,
``TApplicationException`` when the server could not take the call, and
``TTransportException`` when the connection failed or was closed.
"""

from __future__ import annotations

import socket
import ssl
from typing import Any

from thriftpy2.protocol import TBinaryProtocolFactory
from thriftpy2.thrift import TClient
from thriftpy2.transport import (
    TFramedTransportFactory,
    TSocket,
    TSSLSocket,
    TTransportException,
)

from cashserver.domain import Handshake, SyncSettings, Upload, UploadResult
from cashserver.emulator.push import SOFTWARE_VERSION, TlsFiles, register_clock
from cashserver.rpc.convert_thrift import (
    THRIFT,
    handshake_to_thrift,
    result_from_thrift,
    settings_from_thrift,
    upload_to_thrift,
)


def split_target(target: str) -> tuple[str, int, socket.AddressFamily]:
    """``HOST:PORT`` (``[v6]:PORT`` for IPv6) as host, port and address family."""
    host, sep, port = target.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise ValueError(f"expected HOST:PORT, got {target!r}")
    if host.startswith("[") and host.endswith("]"):
        return host[1:-1], int(port), socket.AF_INET6
    return host, int(port), socket.AF_INET


def client_tls_context(tls: TlsFiles) -> ssl.SSLContext:
    """Trust ``tls.ca`` only, check the server's name, present a certificate if given."""
    context = ssl.create_default_context(cafile=tls.ca)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    if tls.cert:
        context.load_cert_chain(tls.cert, tls.key or None)
    return context


def connect(service: Any, target: str, tls: TlsFiles | None = None, timeout_s: float = 60) -> Any:
    """A thriftpy2 client of ``service`` connected to ``target`` (framed, binary).

    Raises ``ConnectionError`` (an OSError) if the server cannot be reached.
    """
    host, port, family = split_target(target)
    timeout_ms = int(timeout_s * 1000)
    sock: Any
    if tls is not None and tls.ca:
        sock = TSSLSocket(
            host,
            port,
            socket_family=family,
            socket_timeout=timeout_ms,
            connect_timeout=timeout_ms,
            ssl_context=client_tls_context(tls),
        )
    else:
        sock = TSocket(
            host, port, socket_family=family, socket_timeout=timeout_ms, connect_timeout=timeout_ms
        )
    transport = TFramedTransportFactory().get_transport(sock)
    try:
        transport.open()
    except TTransportException as exc:
        raise ConnectionError(f"cannot connect to {target}: {exc}") from exc
    return TClient(service, TBinaryProtocolFactory().get_protocol(transport))


class ThriftPusher:
    """A protocol 3 register: one connection, calls made one at a time."""

    def __init__(
        self,
        target: str,
        tls: TlsFiles | None = None,
        timeout_s: float = 60,
        clock_offset_s: float | None = 0.0,
    ) -> None:
        self.client = connect(THRIFT.SalesLoader, target, tls, timeout_s)
        self.clock_offset_s = clock_offset_s

    def handshake(self, store_code: str, register_code: str) -> SyncSettings:
        clock = register_clock(self.clock_offset_s)
        request = handshake_to_thrift(
            Handshake(store_code, register_code, SOFTWARE_VERSION, (3, 4), clock)
        )
        return settings_from_thrift(self.client.handshake(request))

    def upload_struct(self, upload: Any) -> UploadResult:
        """Send a prepared ``ShiftUpload`` struct (the benchmarks build it before timing)."""
        return result_from_thrift(self.client.uploadShift(upload))

    def upload(self, upload: Upload) -> UploadResult:
        return self.upload_struct(upload_to_thrift(upload))

    def close(self) -> None:
        self.client.close()

"""The emulator's push side: a register that uploads generated shifts.

Protocol 4 goes through gRPC (with TLS / mutual TLS if files are given); protocol
3 through Thrift (binary protocol, framed transport). Each call returns the
domain :class:`UploadResult`, so the CLI prints the same summary for both.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import grpc

from cashserver.clock import now_ms
from cashserver.domain import Handshake, SyncSettings, Upload, UploadResult
from cashserver.rpc.convert_proto import (
    handshake_to_proto,
    result_from_proto,
    settings_from_proto,
    upload_to_chunks,
)
from cashserver.rpc.services import SALES_LOADER, Stub

SOFTWARE_VERSION = "cashserver-emulator/1"


@dataclass(frozen=True, slots=True)
class TlsFiles:
    ca: str = ""
    cert: str = ""
    key: str = ""


def register_clock(clock_offset_s: float | None) -> int | None:
    """The emulated register's clock now: the server machine's, shifted by
    ``clock_offset_s`` (a skewed register); None plays an older register, which
    sends no ``register_time``."""
    if clock_offset_s is None:
        return None
    return now_ms() + round(clock_offset_s * 1000)


class Pusher(Protocol):
    def handshake(self, store_code: str, register_code: str) -> SyncSettings: ...

    def upload(self, upload: Upload) -> UploadResult: ...

    def close(self) -> None: ...


def grpc_channel(target: str, tls: TlsFiles | None = None, max_bytes: int = 64 << 20) -> Any:
    options = [
        ("grpc.max_send_message_length", max_bytes),
        ("grpc.max_receive_message_length", max_bytes),
        ("grpc.keepalive_time_ms", 60_000),
    ]
    if tls is None or not tls.ca:
        return grpc.insecure_channel(target, options=options)
    credentials = grpc.ssl_channel_credentials(
        root_certificates=Path(tls.ca).read_bytes(),
        private_key=Path(tls.key).read_bytes() if tls.key else None,
        certificate_chain=Path(tls.cert).read_bytes() if tls.cert else None,
    )
    return grpc.secure_channel(target, credentials, options=options)


class GrpcPusher:
    """A protocol 4 register."""

    def __init__(
        self,
        target: str,
        tls: TlsFiles | None = None,
        batch_size: int = 500,
        timeout_s: float = 60,
        clock_offset_s: float | None = 0.0,
    ) -> None:
        self.channel = grpc_channel(target, tls)
        self.stub = Stub(self.channel, SALES_LOADER)
        self.batch_size = batch_size
        self.timeout_s = timeout_s
        self.clock_offset_s = clock_offset_s

    def handshake(self, store_code: str, register_code: str) -> SyncSettings:
        clock = register_clock(self.clock_offset_s)
        request = handshake_to_proto(
            Handshake(store_code, register_code, SOFTWARE_VERSION, (3, 4), clock)
        )
        settings = settings_from_proto(self.stub.Handshake(request, timeout=self.timeout_s))
        self.batch_size = settings.upload_batch_size or self.batch_size
        return settings

    def upload_chunks(self, chunks: list[Any]) -> UploadResult:
        """Send prepared chunks (the benchmarks build them before timing)."""
        return result_from_proto(self.stub.UploadShift(iter(chunks), timeout=self.timeout_s))

    def upload(self, upload: Upload) -> UploadResult:
        return self.upload_chunks(upload_to_chunks(upload, self.batch_size))

    def close(self) -> None:
        self.channel.close()

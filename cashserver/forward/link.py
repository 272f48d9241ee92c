"""One upload to the central server: a stored shift as protocol 4 ``UploadShift``.

The store server acts as the shift's own register: the header as stored, then the
receipts in batches of at most :data:`BATCH_RECEIPTS` and :data:`BATCH_BYTES` (a batch
over the byte limit is halved until it fits), the shift's own store and register
codes, and the metadata ``cashserver-node: <node_name>`` on every call. Receipts are
read from the store a page at a time while the call streams, so a shift of any size
costs one page of memory.

The answer is sorted into the three outcomes SPEC 15 names: acknowledged (LOADED,
QUEUED), rejected (REJECTED and the permanent status codes) and failed (everything
else: no connection, the transient codes, a fault of our own while reading).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

import grpc

from cashserver.config import UpstreamConfig
from cashserver.domain import Receipt, Shift, Upload, UploadStatus
from cashserver.rpc.convert_proto import result_from_proto, upload_to_chunks
from cashserver.rpc.identity import NODE_METADATA
from cashserver.rpc.services import SALES_LOADER, Stub

BATCH_RECEIPTS = 500
BATCH_BYTES = 4 << 20
MAX_MESSAGE_BYTES = 16 << 20

PERMANENT = frozenset(
    {
        grpc.StatusCode.INVALID_ARGUMENT,
        grpc.StatusCode.PERMISSION_DENIED,
        grpc.StatusCode.FAILED_PRECONDITION,
    }
)
"""Answers that sending the same content again cannot change: the shift is set aside."""


class Result(StrEnum):
    ACKNOWLEDGED = "acknowledged"
    REJECTED = "rejected"
    FAILED = "failed"
    SKIPPED = "skipped"
    """Not sent: another daemon acknowledged (or set aside) this revision meanwhile."""


@dataclass(frozen=True, slots=True)
class Answer:
    result: Result
    status: str = ""
    """LOADED, QUEUED or REJECTED when the central server answered in protocol."""
    central_workshift_id: int = 0
    receipts_sent: int = 0
    message: str = ""


def channel(target: str, config: UpstreamConfig) -> Any:
    """A channel to the central server, TLS (with a client certificate) when configured."""
    options = [
        ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
        ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
        ("grpc.enable_retries", 0),
        ("grpc.keepalive_time_ms", 60_000),
        # Reconnect promptly once the central server is back (the default backs off to 2 min).
        ("grpc.initial_reconnect_backoff_ms", 200),
        ("grpc.max_reconnect_backoff_ms", 2_000),
    ]
    if not config.tls_ca:
        return grpc.insecure_channel(target, options=options)
    credentials = grpc.ssl_channel_credentials(
        root_certificates=Path(config.tls_ca).read_bytes(),
        private_key=Path(config.tls_key).read_bytes() if config.tls_key else None,
        certificate_chain=Path(config.tls_cert).read_bytes() if config.tls_cert else None,
    )
    return grpc.secure_channel(target, credentials, options=options)


def _batches(shift: Shift, page: Sequence[Receipt]) -> Iterator[Any]:
    """``page`` as receipt chunks of at most :data:`BATCH_BYTES` each."""
    chunk = upload_to_chunks(Upload(shift, tuple(page)), BATCH_RECEIPTS)[1]
    if chunk.ByteSize() <= BATCH_BYTES or len(page) == 1:
        yield chunk
        return
    half = len(page) // 2
    yield from _batches(shift, page[:half])
    yield from _batches(shift, page[half:])


class Link:
    """The channel to the central server; safe to share between threads."""

    def __init__(self, config: UpstreamConfig, node_name: str) -> None:
        self.config = config
        self.metadata = ((NODE_METADATA, node_name),)
        self._channel = channel(config.target, config)
        self._stub = Stub(self._channel, SALES_LOADER)

    def upload(
        self,
        shift: Shift,
        receipt_ids: Sequence[int],
        read: Callable[[Sequence[int]], list[Receipt]],
    ) -> Answer:
        """Send the header and the receipts ``receipt_ids`` (read a page at a time)."""

        def chunks() -> Iterator[Any]:
            yield upload_to_chunks(Upload(shift), BATCH_RECEIPTS)[0]
            for start in range(0, len(receipt_ids), BATCH_RECEIPTS):
                yield from _batches(shift, read(receipt_ids[start : start + BATCH_RECEIPTS]))

        sent = len(receipt_ids)
        try:
            reply = self._stub.UploadShift(
                chunks(), timeout=self.config.timeout_s, metadata=self.metadata
            )
            result = result_from_proto(reply)
        except grpc.RpcError as exc:
            code = exc.code() if callable(getattr(exc, "code", None)) else None
            details = exc.details() if callable(getattr(exc, "details", None)) else str(exc)
            name = code.name if code is not None else "UNKNOWN"
            message = f"{name}: {details}" if details else name
            kind = Result.REJECTED if code in PERMANENT else Result.FAILED
            return Answer(kind, "", 0, sent if kind is Result.REJECTED else 0, message)
        except Exception as exc:  # a malformed answer, or our own read failed mid-stream
            return Answer(Result.FAILED, message=f"{type(exc).__name__}: {exc}".splitlines()[0])
        if result.status is UploadStatus.REJECTED:
            return Answer(Result.REJECTED, "REJECTED", 0, sent, result.message or "REJECTED")
        return Answer(
            Result.ACKNOWLEDGED, result.status.name, result.workshift_id, sent, result.message
        )

    def close(self) -> None:
        self._channel.close()

"""Protocol 4: the gRPC SalesLoader service, a thin translation onto :class:`Ingest`.

Wire messages become domain objects (:mod:`cashserver.rpc.convert_proto`), the
ingest service decides, and its answer or exception becomes a reply or a status:
ValidationError -> INVALID_ARGUMENT, RegisterRefused or a client certificate
whose CN may not act for the register (:mod:`cashserver.rpc.identity`) ->
PERMISSION_DENIED, SpoolUnavailable or a
transient fault -> UNAVAILABLE "... temporarily unavailable, retry", anything else
-> INTERNAL "internal error <id>" (:mod:`cashserver.rpc.errors`). A chunk over
``max_message_bytes`` -> RESOURCE_EXHAUSTED. A stream the register cancels before
closing its side is no upload, however the cancel and the stream's end interleave
(see ``_bounded``).

The server is grpcio's threaded server: the work of an upload (conversion,
validation, the spool's fsync, waiting for the loader's verdict) is blocking and
mostly in C or I/O, and a pool thread per concurrent register measured faster
here than grpc.aio with a thread hop per call (see the README).
"""

from __future__ import annotations

import errno
from collections.abc import Callable, Collection, Iterator
from concurrent import futures
from pathlib import Path
from typing import Any, TypeVar

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from cashserver.config import Config
from cashserver.front.admission import RegisterRefused
from cashserver.front.ingest import Ingest
from cashserver.log import get_logger
from cashserver.rpc._generated.cashserver.v1 import cashserver_pb2 as pb
from cashserver.rpc.convert_proto import (
    handshake_from_proto,
    result_to_proto,
    settings_to_proto,
    upload_from_chunks,
)
from cashserver.rpc.errors import NOT_ACCEPTED, BindError, failure_message
from cashserver.rpc.identity import BadNodeName, forwarding_node, may_act_for
from cashserver.rpc.services import SALES_LOADER, add_service
from cashserver.spool import SpoolUnavailable
from cashserver.validate import ValidationError
from cashserver.verdict import Ticket

log = get_logger(__name__)

SERVICE_NAME = "cashserver.v1.SalesLoader"
HARD_LIMIT = 64 * 1024 * 1024
"""gRPC's own receive limit is at least this (and 4 times the configured one)."""
KEEPALIVE_OPTIONS = (
    # Registers behind NAT ping every 60 s; accept pings that often, even with no call
    # in flight, and ping idle connections ourselves every 2 minutes.
    ("grpc.keepalive_time_ms", 120_000),
    ("grpc.keepalive_timeout_ms", 20_000),
    ("grpc.keepalive_permit_without_calls", 1),
    ("grpc.http2.min_ping_interval_without_data_ms", 30_000),
    ("grpc.http2.max_pings_without_data", 0),
)


def _tls_identity(context: grpc.ServicerContext) -> str | None:
    """The verified client certificate's CN, or None when the peer sent none."""
    names = context.auth_context().get("x509_common_name")
    return bytes(names[0]).decode() if names else None


class _Refused(Exception):
    """A refusal of this module's own making: its message is safe to send."""

    def __init__(self, code: grpc.StatusCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class _StreamCancelled(Exception):
    """The register cancelled its stream, or lost its connection, before the upload
    was spooled."""


T = TypeVar("T")


class SalesLoaderService:
    def __init__(
        self,
        ingest: Ingest,
        tls: bool,
        mutual_tls: bool,
        max_message_bytes: int,
        trusted_forwarders: Collection[str] = (),
    ) -> None:
        self.ingest = ingest
        self.max_message_bytes = max_message_bytes
        self.tls = tls
        self.mutual_tls = mutual_tls
        self.trusted_forwarders = frozenset(trusted_forwarders)

    def _check_identity(
        self, context: grpc.ServicerContext, store_code: str, register_code: str
    ) -> None:
        if not self.mutual_tls:
            return
        actual = _tls_identity(context)
        if not may_act_for(actual, store_code, register_code, self.trusted_forwarders):
            register = f"{store_code}/{register_code}"
            log.warning(
                "tls.rejected",
                peer=context.peer(),
                reason="certificate CN may not act for the register",
                certificate_cn=actual,
                register=register,
            )
            raise _Refused(
                grpc.StatusCode.PERMISSION_DENIED,
                f"client certificate CN {actual!r} may not act for {register!r}",
            )

    @staticmethod
    def _forwarding_node(context: grpc.ServicerContext) -> str:
        """The ``cashserver-node`` of a forwarded call, "" for a register's own."""
        try:
            return forwarding_node(context.invocation_metadata())
        except BadNodeName as exc:
            raise _Refused(grpc.StatusCode.INVALID_ARGUMENT, str(exc)) from None

    def _answer(self, context: grpc.ServicerContext, method: str, work: Callable[[], T]) -> T:
        """``work()``, or the call ended with the status its exception maps to.

        Every exception becomes a status whose details are this server's own words,
        never the exception's text (see :mod:`cashserver.rpc.errors`).
        """
        try:
            return work()
        except _Refused as exc:
            code, details = exc.code, exc.message
        except ValidationError as exc:
            if method == "UploadShift":
                log.info("upload.invalid", protocol=4, peer=context.peer(), error=str(exc))
            code, details = grpc.StatusCode.INVALID_ARGUMENT, str(exc)
        except RegisterRefused as exc:
            code, details = grpc.StatusCode.PERMISSION_DENIED, str(exc)
        except SpoolUnavailable as exc:
            log.error("upload.not_accepted", protocol=4, peer=context.peer(), error=str(exc))
            code, details = grpc.StatusCode.UNAVAILABLE, NOT_ACCEPTED
        except Exception as exc:
            if context.is_active():
                transient, details = failure_message(4, method, context.peer(), exc)
                code = grpc.StatusCode.UNAVAILABLE if transient else grpc.StatusCode.INTERNAL
            else:  # the register went away: no one to answer, nothing to log but this
                log.info("upload.abandoned", protocol=4, method=method, peer=context.peer())
                code, details = grpc.StatusCode.CANCELLED, "cancelled"
        context.abort(code, details)
        raise AssertionError("context.abort returned")  # it raises; this satisfies the types

    def Handshake(self, request: pb.HandshakeRequest, context: grpc.ServicerContext) -> Any:
        def work() -> Any:
            handshake = handshake_from_proto(request)
            self._check_identity(context, handshake.store_code, handshake.register_code)
            host = _local_host(context)
            settings = self.ingest.handshake(handshake, tls=self.tls, host=host)
            return settings_to_proto(settings)

        return self._answer(context, "Handshake", work)

    def UploadShift(self, request_iterator: Iterator[Any], context: grpc.ServicerContext) -> Any:
        def work() -> Any:
            try:
                node = self._forwarding_node(context)
                ticket = self._spool(request_iterator, context, node)
            except BaseException as exc:
                self.ingest.upload_failed("grpc", exc)
                raise
            return result_to_proto(self.ingest.verdict(ticket, "grpc"))

        return self._answer(context, "UploadShift", work)

    def _spool(self, chunks: Iterator[Any], context: grpc.ServicerContext, node: str) -> Ticket:
        """Read the stream in an upload turn and hand the upload to ingest with it;
        ``node`` names the server that forwards it ("" for a register's own upload).

        The stream is read only once the turn is held: registers waiting for one
        wait as unread bytes, not as decoded uploads.
        """
        with self.ingest.turns.take() as turn:
            upload = upload_from_chunks(self._bounded(chunks, context))
            self._check_identity(context, upload.shift.store_code, upload.shift.register_code)
            if not context.is_active():  # cancelled since: no upload (SPEC 4)
                raise _StreamCancelled()
            return self.ingest.accept(upload, turn, "forward" if node else "grpc", node)

    def _bounded(self, chunks: Iterator[Any], context: grpc.ServicerContext) -> Iterator[Any]:
        """The chunks, refused with RESOURCE_EXHAUSTED at the first one over the limit."""
        for index, chunk in enumerate(chunks):
            size = chunk.ByteSize()
            if size > self.max_message_bytes:
                log.warning("upload.too_large", protocol=4, peer=context.peer(), size=size)
                raise _Refused(
                    grpc.StatusCode.RESOURCE_EXHAUSTED,
                    f"chunks[{index}]: {size} bytes, over the limit of {self.max_message_bytes}",
                )
            yield chunk
        # grpcio ends the iteration in the same way when the register closes its side
        # and when the call is cancelled or its connection lost: the transport's one
        # event completes the pending read with no message and, right after it,
        # records the cancel, which the iterator may not have seen yet. A second read
        # completes after that record, so it raises grpc.RpcError for a cancelled
        # stream and ends again for a complete one.
        if next(chunks, None) is not None:  # grpcio reads nothing past a stream's end
            raise _Refused(grpc.StatusCode.INVALID_ARGUMENT, "a chunk after the stream's end")


def _local_host(context: grpc.ServicerContext) -> str:
    """The host part of the peer's address family's loopback or the peer's view of us."""
    peer = context.peer()  # "ipv4:1.2.3.4:5678" or "ipv6:[::1]:5678"
    return "[::1]" if peer.startswith("ipv6:") else "127.0.0.1"


def _read(path: str) -> bytes:
    return Path(path).read_bytes()


class GrpcListener:
    """The gRPC port of ``cashserver serve``: SalesLoader and the health service."""

    name = "grpc"

    def __init__(self, config: Config, ingest: Ingest) -> None:
        self.config = config.grpc
        self.ingest = ingest
        self.health = health.HealthServicer()
        self.server: grpc.Server | None = None
        self.port = 0

    @property
    def tls(self) -> bool:
        return bool(self.config.tls_cert and self.config.tls_key)

    def start(self) -> None:
        cfg = self.config
        options = [
            ("grpc.so_reuseport", 0),
            # gRPC's own limit is only a hard stop well above ours: when gRPC ends a
            # call over its limit, the stream can look to Python as if the register
            # had finished, so the configured limit is checked here, chunk by chunk.
            ("grpc.max_receive_message_length", max(4 * cfg.max_message_bytes, HARD_LIMIT)),
            ("grpc.max_send_message_length", cfg.max_message_bytes),
            *KEEPALIVE_OPTIONS,
        ]
        server = grpc.server(
            futures.ThreadPoolExecutor(max_workers=cfg.workers, thread_name_prefix="grpc"),
            options=options,
            maximum_concurrent_rpcs=cfg.workers + cfg.queued_calls,
        )
        mutual = self.tls and bool(cfg.tls_client_ca)
        add_service(
            server,
            SALES_LOADER,
            SalesLoaderService(
                self.ingest, self.tls, mutual, cfg.max_message_bytes, cfg.trusted_forwarders
            ),
        )
        health_pb2_grpc.add_HealthServicer_to_server(self.health, server)
        try:
            if self.tls:
                credentials = grpc.ssl_server_credentials(
                    [(_read(cfg.tls_key), _read(cfg.tls_cert))],
                    root_certificates=_read(cfg.tls_client_ca) if mutual else None,
                    require_client_auth=mutual,
                )
                self.port = server.add_secure_port(cfg.listen, credentials)
            else:
                self.port = server.add_insecure_port(cfg.listen)
        except OSError as exc:
            raise BindError(errno.EINVAL, f"grpc: TLS files: {exc}") from exc
        except RuntimeError as exc:
            raise BindError(
                errno.EADDRINUSE, f"grpc: cannot listen on {cfg.listen}: {exc}"
            ) from exc
        if self.port == 0:
            raise BindError(errno.EADDRINUSE, f"grpc: cannot listen on {cfg.listen} (in use?)")
        server.start()
        self.server = server
        for service in ("", SERVICE_NAME):
            self.health.set(service, health_pb2.HealthCheckResponse.SERVING)
        log.info(
            "grpc.listening", listen=cfg.listen, port=self.port, tls=self.tls, mutual_tls=mutual
        )

    def alive(self) -> bool:
        """Serving: started and not stopped."""
        return self.server is not None

    def stop(self, grace_s: float) -> None:
        if self.server is None:
            return
        self.health.enter_graceful_shutdown()
        self.server.stop(grace_s).wait()
        self.server = None
        log.info("grpc.stopped")

"""Protocol 3: the Thrift SalesLoader service, a thin translation onto :class:`Ingest`.

Connections, frames, timeouts and stop are :mod:`cashserver.rpc.thrift_framed`'s.
Errors map as on protocol 4: ValidationError -> ``InvalidRequest(field, message)``,
RegisterRefused -> ``AccessDenied``, SpoolUnavailable ->
``TApplicationException(INTERNAL_ERROR, "upload not accepted: temporarily
unavailable, retry")`` and an ``upload.not_accepted`` event, any other failure ->
``TApplicationException(INTERNAL_ERROR, "internal error <id>")`` with the id in the
``rpc.internal_error`` event (:mod:`cashserver.rpc.errors`); a REJECTED upload is a
result.
"""

from __future__ import annotations

import errno
import ssl
from typing import Any

from thriftpy2.thrift import TApplicationException, TProcessor

from cashserver.config import Config
from cashserver.front.admission import RegisterRefused
from cashserver.front.ingest import Ingest
from cashserver.front.turns import UploadTurn
from cashserver.log import get_logger
from cashserver.rpc.convert_thrift import (
    THRIFT,
    handshake_from_thrift,
    invalid_request,
    result_to_thrift,
    settings_to_thrift,
    upload_from_thrift,
)
from cashserver.rpc.errors import NOT_ACCEPTED, BindError, failure_message
from cashserver.rpc.thrift_framed import ACCELERATED, FramedServer
from cashserver.spool import SpoolUnavailable
from cashserver.validate import ValidationError
from cashserver.verdict import Ticket

log = get_logger(__name__)


def _failed(method: str, peer: str, exc: Exception) -> TApplicationException:
    """An unexpected failure as the register sees it: our words, never the exception's."""
    _, message = failure_message(3, method, peer, exc)
    return TApplicationException(TApplicationException.INTERNAL_ERROR, message)


class SalesLoaderHandler:
    """The SalesLoader methods for one call, onto :class:`Ingest`.

    ``turn`` is the upload turn the framed server took before it decoded an
    ``uploadShift`` frame (None for other calls).
    """

    def __init__(
        self, ingest: Ingest, peer: str, host: str, tls: bool, turn: UploadTurn | None = None
    ) -> None:
        self.ingest = ingest
        self.peer = peer
        self.host = host
        self.tls = tls
        self.turn = turn

    def handshake(self, request: Any) -> Any:
        try:
            if request is None:
                raise ValidationError("request", "missing")
            handshake = handshake_from_thrift(request)
            settings = self.ingest.handshake(handshake, tls=self.tls, host=self.host)
        except ValidationError as exc:
            raise invalid_request(exc) from exc
        except RegisterRefused as exc:
            raise THRIFT.AccessDenied(message=str(exc)) from exc
        except Exception as exc:
            raise _failed("handshake", self.peer, exc) from exc
        return settings_to_thrift(settings)

    def uploadShift(self, upload: Any) -> Any:
        try:
            try:
                ticket = self._spool(upload)
            except BaseException as exc:
                self.ingest.upload_failed("thrift", exc)
                raise
            result = self.ingest.verdict(ticket, "thrift")
        except ValidationError as exc:
            log.info("upload.invalid", protocol=3, peer=self.peer, error=str(exc))
            raise invalid_request(exc) from exc
        except RegisterRefused as exc:
            raise THRIFT.AccessDenied(message=str(exc)) from exc
        except SpoolUnavailable as exc:
            log.error("upload.not_accepted", protocol=3, peer=self.peer, error=str(exc))
            raise TApplicationException(TApplicationException.INTERNAL_ERROR, NOT_ACCEPTED) from exc
        except Exception as exc:
            raise _failed("uploadShift", self.peer, exc) from exc
        return result_to_thrift(result)

    def _spool(self, upload: Any) -> Ticket:
        """Convert the decoded upload and hand it to ingest with this call's turn."""
        with self.turn or self.ingest.turns.take() as turn:
            if upload is None:
                raise ValidationError("upload", "missing")
            converted = upload_from_thrift(upload)
            upload.receipts = None  # free the wire structs now, not after the verdict
            return self.ingest.accept(converted, turn, "thrift")


def server_tls_context(cert: str, key: str) -> ssl.SSLContext:
    """A TLS 1.2+ server context; raises BindError if the files cannot be used."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_cert_chain(cert, key)
    except (OSError, ssl.SSLError) as exc:
        raise BindError(errno.EINVAL, f"thrift: TLS files: {exc}") from exc
    return context


class ThriftListener:
    """The Thrift port of ``cashserver serve``: SalesLoader, protocol 3."""

    name = "thrift"

    def __init__(self, config: Config, ingest: Ingest) -> None:
        self.config = config.thrift
        self.ingest = ingest
        self.server: FramedServer | None = None
        self.port = 0

    @property
    def tls(self) -> bool:
        return bool(self.config.tls_cert and self.config.tls_key)

    def _processor(self, peer: str, host: str, tls: bool, turn: UploadTurn | None) -> TProcessor:
        handler = SalesLoaderHandler(self.ingest, peer, host, tls, turn)
        return TProcessor(THRIFT.SalesLoader, handler)

    def _turn_for(self, method: str) -> UploadTurn | None:
        """An upload waits for its turn before it is decoded; other calls need none."""
        return self.ingest.turns.take() if method == "uploadShift" else None

    def start(self) -> None:
        cfg = self.config
        server = FramedServer(
            cfg.listen,
            self._processor,
            max_frame_bytes=cfg.max_frame_bytes,
            idle_timeout_s=cfg.idle_timeout_s,
            tls=server_tls_context(cfg.tls_cert, cfg.tls_key) if self.tls else None,
            turn_for=self._turn_for,
        )
        self.port = server.start()
        self.server = server
        log.info(
            "thrift.listening",
            listen=cfg.listen,
            port=self.port,
            tls=self.tls,
            accelerated=ACCELERATED,
            max_frame_bytes=cfg.max_frame_bytes,
            idle_timeout_s=cfg.idle_timeout_s,
            max_connections=server.max_connections,
        )

    def stop(self, grace_s: float) -> None:
        if self.server is None:
            return
        self.server.stop(grace_s)
        self.server = None
        log.info("thrift.stopped")

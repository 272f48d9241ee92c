"""What every transport does with a register's call, whichever protocol carried it.

Transports translate wire messages to :mod:`cashserver.domain` objects and call
:meth:`Ingest.handshake`, or for an upload: take a turn (:attr:`Ingest.turns`),
convert, :meth:`Ingest.accept` the upload with its turn, and wait for
:meth:`Ingest.verdict`. They translate the answer or the exception back:
:class:`~cashserver.validate.ValidationError` is a bad request,
:class:`~cashserver.front.admission.RegisterRefused` a permission fault, and
:class:`~cashserver.spool.SpoolUnavailable` means nothing was accepted.
"""

from __future__ import annotations

import threading
from operator import attrgetter

from cashserver.clock import now_ms
from cashserver.config import Config
from cashserver.domain import Handshake, SyncSettings, Upload, UploadResult
from cashserver.front.admission import Admission, RegisterRefused
from cashserver.front.turns import UploadTurn, UploadTurns
from cashserver.log import get_logger
from cashserver.metrics import count_upload
from cashserver.skew import from_handshake, from_receipts
from cashserver.spool import SpoolUnavailable
from cashserver.validate import ValidationError, check_code, validate_upload
from cashserver.verdict import Submitter, Ticket

log = get_logger(__name__)


_CLOSED_AT = attrgetter("closed_at")

UPLOADS_AT_ONCE = 2
"""Uploads built from their streams and spooled at the same time (see :mod:`.turns`)."""


def _advertised(listen: str, host: str) -> str:
    """The endpoint to tell registers: the listen address, with a wildcard host replaced."""
    if not listen:
        return ""
    bind_host, _, port = listen.rpartition(":")
    return f"{host if bind_host in ('0.0.0.0', '::', '[::]', '') else bind_host}:{port}"


class Ingest:
    """The accept path: validate, admit (in memory), spool, wait a moment for the verdict.

    Nothing here waits on the database: admission is :class:`Admission`'s memory,
    and the spool is the commit point.
    """

    def __init__(self, config: Config, loader: Submitter, admission: Admission) -> None:
        self.config = config
        self.loader = loader
        self.admission = admission
        self.turns = UploadTurns(UPLOADS_AT_ONCE)
        # A gRPC upload waiting for its verdict holds one of the server's worker
        # threads for up to verdict_timeout_s (the whole of it while the database is
        # down). One worker is kept from such waits, so that a Handshake never queues
        # behind them (SPEC 4: it does not wait on the database): an upload that
        # finds the others all waiting is answered at once, QUEUED unless its verdict
        # is already in. Its sales file is durable either way.
        self._verdict_waits = {
            "grpc": threading.BoundedSemaphore(max(1, config.grpc.workers - 1)),
        }

    def handshake(self, request: Handshake, tls: bool, host: str = "127.0.0.1") -> SyncSettings:
        received_ms = now_ms()
        check_code(request.store_code, "store_code")
        check_code(request.register_code, "register_code")
        protocol = self.admission.admit(request.store_code, request.register_code)
        skew = from_handshake(request.register_time, received_ms)
        self.admission.saw(
            request.store_code, request.register_code, request.software_version, skew
        )
        log.info(
            "register.handshake",
            store_code=request.store_code,
            register_code=request.register_code,
            software_version=request.software_version,
            clock_skew_s=None if skew is None else skew.clock_skew_s,
        )
        return SyncSettings(
            protocol_version=protocol or self.config.registers.protocol_version,
            grpc_endpoint=self.config.registers.advertise_grpc
            or _advertised(self.config.grpc.listen, host),
            thrift_endpoint=self.config.registers.advertise_thrift
            or _advertised(self.config.thrift.listen, host),
            tls_required=tls,
            upload_batch_size=self.config.registers.upload_batch_size,
            server_time=now_ms(),
        )

    def accept(
        self, upload: Upload, turn: UploadTurn, source: str, forwarded_by: str = ""
    ) -> Ticket:
        """Validate, admit and spool ``upload``; gives ``turn`` back in any case.

        ``source`` is the sales file's (``grpc``, ``thrift``, ``forward``), and
        ``forwarded_by`` the forwarding node of a ``forward`` (SPEC 15).

        Raises ValidationError, RegisterRefused or SpoolUnavailable; then nothing
        was accepted.
        """
        received_ms = now_ms()
        try:
            upload = validate_upload(upload)
            shift = upload.shift
            self.admission.admit(shift.store_code, shift.register_code)
            limit = self.config.registers.max_clock_skew_s
            skew = from_receipts(map(_CLOSED_AT, upload.receipts), received_ms, limit)
            self.admission.saw(shift.store_code, shift.register_code, None, skew)
            return self.loader.submit(upload, source, forwarded_by)
        finally:
            turn.give_back()

    def verdict(self, ticket: Ticket, source: str) -> UploadResult:
        """The loader's verdict, or QUEUED once ``verdict_timeout_s`` has passed (at once
        for a gRPC upload when all workers but one already wait for theirs).

        The upload is not referenced while waiting (only the loader holds it, within
        its memory budget), so many registers waiting cost little memory.
        """
        timeout = self.config.spool.verdict_timeout_s
        gate = self._verdict_waits.get(source)
        if gate is None:
            result = ticket.wait(timeout)
        elif gate.acquire(blocking=False):
            try:
                result = ticket.wait(timeout)
            finally:
                gate.release()
        else:
            result = ticket.wait(0)
        count_upload(source, result.status.name.lower())
        return result

    def upload_failed(self, source: str, exc: BaseException) -> None:
        """Count an upload that ended in ``exc`` before it had a verdict."""
        count_upload(source, _failure_status(exc))


def _failure_status(exc: BaseException) -> str:
    """The ``status`` label of an upload that ended in an exception."""
    if isinstance(exc, ValidationError):
        return "invalid"
    if isinstance(exc, RegisterRefused):
        return "refused"
    if isinstance(exc, SpoolUnavailable):
        return "unavailable"
    return "failed"  # a stream cut off, a size limit, a TLS identity refused

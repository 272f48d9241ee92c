"""What every transport does with a register's call, whichever protocol carried it.

Transports translate wire messages to :mod:`cashserver.domain` objects, call
:meth:`Ingest.handshake` or :meth:`Ingest.upload`, and translate the answer or
the exception back: :class:`~cashserver.validate.ValidationError` is a bad
request, :class:`~cashserver.admission.RegisterRefused` a permission fault, and
:class:`~cashserver.spool.SpoolUnavailable` means nothing was accepted.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from cashserver.admission import Admission, RegisterRefused
from cashserver.clock import now_ms
from cashserver.config import Config
from cashserver.domain import Handshake, SyncSettings, Upload, UploadResult
from cashserver.loader import Submitter, Ticket
from cashserver.log import get_logger
from cashserver.metrics import count_upload
from cashserver.spool import SpoolUnavailable
from cashserver.validate import CODE_RE, ValidationError, validate_upload

log = get_logger(__name__)


UPLOADS_AT_ONCE = 2
"""Uploads built from their streams and spooled at the same time."""


class BuildGate:
    """At most :data:`UPLOADS_AT_ONCE` uploads are decoded, built, validated and
    spooled at once. A transport that must decode a whole message before it can
    call :meth:`Ingest.upload_from` (Thrift) takes its turn before decoding, with
    :meth:`turn`; the upload then goes on in the same turn and gives it up as soon
    as the upload is spooled, before waiting for the verdict."""

    def __init__(self, at_once: int) -> None:
        self._slots = threading.BoundedSemaphore(at_once)
        self._local = threading.local()

    @contextmanager
    def turn(self) -> Iterator[None]:
        """Hold a turn (or keep the one this thread holds already)."""
        if getattr(self._local, "held", False):
            yield
            return
        self._slots.acquire()
        self._local.held = True
        try:
            yield
        finally:
            self.give_up()

    def give_up(self) -> None:
        """Hand this thread's turn on, if it holds one."""
        if getattr(self._local, "held", False):
            self._local.held = False
            self._slots.release()


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
        self.gate = BuildGate(UPLOADS_AT_ONCE)

    def handshake(self, request: Handshake, tls: bool, host: str = "127.0.0.1") -> SyncSettings:
        for field, value in (
            ("store_code", request.store_code),
            ("register_code", request.register_code),
        ):
            if CODE_RE.fullmatch(value) is None:
                raise ValidationError(field, "must be 1-32 characters of A-Z a-z 0-9 _ -")
        protocol = self.admission.admit(request.store_code, request.register_code)
        self.admission.saw(request.store_code, request.register_code, request.software_version)
        log.info(
            "register.handshake",
            store_code=request.store_code,
            register_code=request.register_code,
            software_version=request.software_version,
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

    def upload(self, upload: Upload, source: str) -> UploadResult:
        """Validate, admit, spool durably, and wait a short while for the loader's verdict."""
        return self.upload_from(lambda: upload, source)

    def upload_from(self, read: Callable[[], Upload], source: str) -> UploadResult:
        """Like :meth:`upload`, with the upload built by ``read`` (say, from a stream).

        Building, validating and spooling happen for a few uploads at a time (the
        rest wait their turn before reading their stream), which bounds the memory
        of many registers uploading at once without costing throughput: that work
        holds the GIL anyway. Waiting for the verdict happens outside that limit.
        """
        try:
            with self.gate.turn():
                ticket = self._accept(read, source)
                self.gate.give_up()
            # The upload itself is not referenced while waiting (only the loader holds
            # it, within its memory budget): many registers waiting cost little memory.
            result = ticket.wait(self.config.spool.verdict_timeout_s)
        except BaseException as exc:
            count_upload(source, _failure_status(exc))
            raise
        count_upload(source, result.status.name.lower())
        return result

    def _accept(self, read: Callable[[], Upload], source: str) -> Ticket:
        upload = validate_upload(read())
        shift = upload.shift
        self.admission.admit(shift.store_code, shift.register_code)
        self.admission.saw(shift.store_code, shift.register_code, None)
        return self.loader.submit(upload, source)


def _failure_status(exc: BaseException) -> str:
    """The ``status`` label of an upload that ended in an exception."""
    if isinstance(exc, ValidationError):
        return "invalid"
    if isinstance(exc, RegisterRefused):
        return "refused"
    if isinstance(exc, SpoolUnavailable):
        return "unavailable"
    return "failed"  # a stream cut off, a size limit, a TLS identity refused

"""The pull clients: ask a register's RegisterSales for a range, over either protocol.

Both yield the answer shift by shift, each only once it is whole, so a pull cut
off midway has handed over every shift it fully received and nothing of the
shift it was receiving. A part of the answer that cannot be read as a shift is
yielded as :class:`BrokenPart` and the rest goes on. A register that cannot be
reached, times out, or answers an error raises :class:`PullFailed` (after the
whole shifts before it).

``timeout_s`` bounds the whole answer, connecting included: gRPC's deadline on
protocol 4; on protocol 3 a timer that shuts the socket down at the deadline,
because a socket timeout bounds only each read and a register trickling bytes
could otherwise hold the pull for ever.

grpc, thriftpy2 and the wire conversions are imported by the client that uses
them, when a pull runs: the writer process keeps a puller (for the schedule and
the console's "pull now") but would otherwise carry both protocols' libraries,
grpc alone about 15 MB resident, for pulls that may never come.
"""

from __future__ import annotations

import contextlib
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cashserver.domain import SalesQuery, Upload
from cashserver.validate import ValidationError

if TYPE_CHECKING:
    import grpc

MAX_MESSAGE_BYTES = 64 << 20


class PullFailed(Exception):
    """The register could not be reached, timed out, or answered an error."""


@dataclass(frozen=True, slots=True)
class BrokenPart:
    """A part of the answer that is not a whole, readable shift; ``reason`` says why."""

    reason: str


@dataclass(frozen=True, slots=True)
class TlsFiles:
    """Files for TLS to a register: TLS is on when ``ca`` is set."""

    ca: str = ""
    cert: str = ""
    key: str = ""


Part = Upload | BrokenPart


STOPPING = "the daemon is stopping"


class Cancellation:
    """Cuts pulls in flight at once, and refuses new ones: every pull of a daemon that
    is stopping, or one pull whose lease was lost (a cancellation with a ``parent``,
    cancelled with it or on its own). ``reason`` says why, for the state message."""

    def __init__(self, parent: Cancellation | None = None) -> None:
        self._lock = threading.Lock()
        self._hooks: set[Callable[[], None]] = set()
        self.cancelled = False
        self.reason = ""
        self._parent = parent
        if parent is not None:
            parent.add(self._follow)

    def _follow(self) -> None:
        assert self._parent is not None
        self.cancel(self._parent.reason)

    def detach(self) -> None:
        """Stop following the parent (the pull has ended)."""
        if self._parent is not None:
            self._parent.discard(self._follow)

    def add(self, hook: Callable[[], None]) -> None:
        with self._lock:
            if not self.cancelled:
                self._hooks.add(hook)
                return
        hook()

    def discard(self, hook: Callable[[], None]) -> None:
        with self._lock:
            self._hooks.discard(hook)

    def cancel(self, reason: str = STOPPING) -> None:
        """Cut everything in flight; the first reason given stands."""
        with self._lock:
            if self.cancelled:
                return
            self.cancelled = True
            self.reason = reason
            hooks, self._hooks = self._hooks, set()
        for hook in hooks:
            hook()


def fetch(
    protocol: int,
    address: str,
    query: SalesQuery,
    timeout_s: float,
    tls: TlsFiles,
    cancellation: Cancellation | None = None,
) -> Iterator[Part]:
    """The register's answer to ``query``, shift by shift (see the module's doc)."""
    cancel = cancellation or Cancellation()
    if protocol == 4:
        return fetch_grpc(address, query, timeout_s, tls, cancel)
    return fetch_thrift(address, query, timeout_s, tls, cancel)


# -- protocol 4 ------------------------------------------------------------------------


def _channel(address: str, tls: TlsFiles) -> Any:
    import grpc

    options = [
        ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
        ("grpc.enable_retries", 0),
    ]
    if not tls.ca:
        return grpc.insecure_channel(address, options=options)
    try:
        credentials = grpc.ssl_channel_credentials(
            root_certificates=Path(tls.ca).read_bytes(),
            private_key=Path(tls.key).read_bytes() if tls.key else None,
            certificate_chain=Path(tls.cert).read_bytes() if tls.cert else None,
        )
    except OSError as exc:
        raise PullFailed(f"TLS files: {exc.filename}: {exc.strerror}") from None
    return grpc.secure_channel(address, credentials, options=options)


def _describe_rpc(exc: grpc.RpcError, timeout_s: float) -> str:
    import grpc

    code = exc.code() if callable(getattr(exc, "code", None)) else None
    details = exc.details() if callable(getattr(exc, "details", None)) else str(exc)
    if code is grpc.StatusCode.DEADLINE_EXCEEDED:
        return f"timed out: no whole answer within {timeout_s:g} s"
    if code is grpc.StatusCode.UNAVAILABLE:
        return f"unreachable: {details}"
    name = code.name if code is not None else "ERROR"
    return f"the register answered {name}: {details}"


def _shift_of(chunks: list[Any], index: int) -> Part:
    from cashserver.rpc.convert_proto import upload_from_chunks

    try:
        return upload_from_chunks(chunks)
    except ValidationError as exc:
        return BrokenPart(f"shift {index}: {exc}")


def fetch_grpc(
    address: str, query: SalesQuery, timeout_s: float, tls: TlsFiles, cancel: Cancellation
) -> Iterator[Part]:
    """``RegisterSales.GetSales``: a ``Shift`` chunk starts a shift, batches follow it."""
    import grpc

    from cashserver.rpc.convert_proto import sales_query_to_proto
    from cashserver.rpc.services import REGISTER_SALES, Stub

    channel = _channel(address, tls)
    call = Stub(channel, REGISTER_SALES).GetSales(
        sales_query_to_proto(query), timeout=timeout_s, wait_for_ready=False
    )
    cancel.add(call.cancel)
    current: list[Any] = []
    shifts = 0
    leading = 0
    try:
        try:
            for chunk in call:
                if chunk.WhichOneof("body") == "shift":
                    if current:
                        shifts += 1
                        yield _shift_of(current, shifts)
                    current = [chunk]
                elif current:
                    current.append(chunk)
                else:
                    leading += 1
                    if leading == 1:
                        yield BrokenPart("the answer does not start with a Shift chunk")
        except grpc.RpcError as exc:
            if cancel.cancelled:
                raise PullFailed(f"cut off: {cancel.reason}") from None
            raise PullFailed(_describe_rpc(exc, timeout_s)) from None
        if current:
            yield _shift_of(current, shifts + 1)
    finally:
        cancel.discard(call.cancel)
        call.cancel()
        channel.close()


# -- protocol 3 ------------------------------------------------------------------------


def _split(address: str) -> tuple[str, int]:
    host, sep, port = address.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise PullFailed(f"address {address!r}: expected HOST:PORT")
    return host.strip("[]"), int(port)


def _connect(address: str, timeout_s: float, tls: TlsFiles) -> socket.socket:
    host, port = _split(address)
    try:
        sock = socket.create_connection((host, port), timeout=timeout_s)
    except TimeoutError:
        raise PullFailed(f"timed out: no connection within {timeout_s:g} s") from None
    except OSError as exc:
        raise PullFailed(f"unreachable: {exc.strerror or exc}") from None
    if not tls.ca:
        return sock
    try:
        context = ssl.create_default_context(cafile=tls.ca)
        if tls.cert:
            context.load_cert_chain(tls.cert, tls.key or None)
        return context.wrap_socket(sock, server_hostname=host)
    except (OSError, ssl.SSLError) as exc:
        sock.close()
        raise PullFailed(f"TLS: {exc}") from None


def fetch_thrift(
    address: str, query: SalesQuery, timeout_s: float, tls: TlsFiles, cancel: Cancellation
) -> Iterator[Part]:
    """``RegisterSales.getSales``: the whole answer is one ``list<ShiftUpload>``."""
    from thriftpy2.protocol import TBinaryProtocolFactory
    from thriftpy2.thrift import TApplicationException, TClient
    from thriftpy2.transport import TFramedTransportFactory, TSocket, TTransportException

    from cashserver.rpc.convert_thrift import THRIFT, sales_query_to_thrift, upload_from_thrift

    deadline = time.monotonic() + timeout_s
    sock = _connect(address, timeout_s, tls)
    expired = threading.Event()

    def cut() -> None:
        expired.set()
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)

    timer = threading.Timer(max(0.0, deadline - time.monotonic()), cut)
    timer.daemon = True
    timer.start()
    cancel.add(cut)
    transport = TFramedTransportFactory().get_transport(TSocket(sock=sock))
    client = TClient(THRIFT.RegisterSales, TBinaryProtocolFactory().get_protocol(transport))
    try:
        answer = client.getSales(sales_query_to_thrift(query))
    except TApplicationException as exc:
        raise PullFailed(f"the register answered an error: {exc.message}") from None
    except (TTransportException, OSError, EOFError) as exc:
        if cancel.cancelled:
            raise PullFailed(f"cut off: {cancel.reason}") from None
        if expired.is_set() or isinstance(exc, TimeoutError):
            raise PullFailed(f"timed out: no whole answer within {timeout_s:g} s") from None
        raise PullFailed(f"the connection failed: {exc}") from None
    except Exception as exc:  # a malformed answer: thriftpy2 raises many kinds
        raise PullFailed(f"unreadable answer: {type(exc).__name__}: {exc}") from None
    finally:
        cancel.discard(cut)
        timer.cancel()
        sock.close()
    for index, struct in enumerate(answer or (), 1):
        try:
            yield upload_from_thrift(struct)
        except (ValidationError, AttributeError) as exc:
            yield BrokenPart(f"shift {index}: {exc}")

"""A threaded server of binary Thrift over a framed transport (SPEC 5), for any service.

Messages are decoded by thriftpy2's compiled (Cython) protocol when it is installed
and by its pure Python one otherwise (:data:`ACCELERATED`); headers may be strict
(versioned) or not, as Apache Thrift servers accept both. What a call means, and how
its errors map to Thrift exceptions, is the service's (for protocol 3's SalesLoader,
:mod:`cashserver.rpc.thrift_server`). Before a frame is decoded the server asks
``turn_for`` with the frame's method name, so an upload waits for its turn
(:mod:`cashserver.front.turns`) as bytes; the call's processor is made with that turn.

Connections. One thread per connection, at most :data:`MAX_CONNECTIONS`; beyond
that a connection is accepted and closed at once (``thrift.connection_refused``),
so a register sees a clean refusal instead of a silent queue. A thread per
connection keeps each call's blocking work (conversion, the spool's fsync, the wait
for the loader's verdict) simple and isolated: a slow or hostile peer holds only
its own thread.

Frames are read here, not by thriftpy2: the 4-byte length first, then the body in
chunks of at most :data:`RECEIVE_CHUNK`, so memory follows what a peer actually
sends, never what it claims. A length over ``max_frame_bytes`` cannot be answered
in protocol: the connection is closed and ``thrift.frame_too_large`` (peer, size,
limit) logged. The body's encoding is walked once (:func:`check_message`) before
thriftpy2 decodes it, because thriftpy2 can be made to spin on a few bytes (see
there); it is then decoded from a transport that ends where the frame ends, so a
malformed message fails at once instead of reading into the next frame.
Garbage, truncated frames, a peer leaving mid-frame, an unframed client: each
closes that connection only, with ``thrift.connection_error`` (peer, reason, ...).

Idle timeout. Every wait on a peer (the next frame, the rest of a frame, sending a
reply, the TLS handshake) is bounded by ``idle_timeout_s``, 300 s by default, on
purpose instead of thriftpy2's 3 s ``client_timeout``: a register pauses between
calls while it prints receipts or waits for its operator, and sends large shifts
over slow mobile links, and 3 s dropped such registers mid-session and even
mid-frame, making them reconnect and resend. Five minutes still frees the thread
and slot of a peer that vanished (power cut, NAT entry dropped) in bounded time;
TCP keepalive is on as well. A peer idle that long is closed
(``thrift.connection_idle``; at info level only if it never sent a request).

Stop: stop accepting and close the listening socket, close idle connections, let
calls in flight finish and answer within the grace period, then cut the rest.
"""

from __future__ import annotations

import contextlib
import errno
import selectors
import socket
import ssl
import struct
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from thriftpy2.thrift import TApplicationException, TProcessor

from cashserver.front.turns import UploadTurn
from cashserver.log import get_logger
from cashserver.rpc.errors import BindError
from cashserver.rpc.thrift_check import UNFRAMED, check_message

try:
    from thriftpy2.protocol.cybin import TCyBinaryProtocol as BinaryProtocol
    from thriftpy2.transport.buffered import TCyBufferedTransport as BufferedTransport
    from thriftpy2.transport.memory import TCyMemoryBuffer as MemoryBuffer

    ACCELERATED = True
except ImportError:  # no compiled extensions (PyPy, a source build without Cython)
    from thriftpy2.protocol.binary import TBinaryProtocol as BinaryProtocol
    from thriftpy2.transport.buffered import TBufferedTransport as BufferedTransport
    from thriftpy2.transport.memory import TMemoryBuffer as MemoryBuffer

    ACCELERATED = False

log = get_logger(__name__)

MAX_CONNECTIONS = 1000
"""Connections served at once; each holds a thread (mostly idle, waiting on its socket)."""
RECEIVE_CHUNK = 1 << 20
"""A frame body is received in pieces of at most this many bytes."""
LISTEN_BACKLOG = 1024

ProcessorFactory = Callable[[str, str, bool, UploadTurn | None], TProcessor]
"""``(peer, local host, tls, turn) -> processor`` for one call; ``turn`` is the upload
turn taken for it before it was decoded (see ``turn_for``), or None."""
TurnFactory = Callable[[str], UploadTurn | None]
"""``method name -> turn`` taken before a frame is decoded (may block), or None."""


class _PeerStopped(Exception):
    """The peer stopped short of ``expected`` bytes: ``cause`` is eof, timeout or error."""

    def __init__(self, received: int, cause: str, detail: str = "") -> None:
        super().__init__(cause)
        self.received = received
        self.cause = cause
        self.detail = detail


def _receive(sock: socket.socket, view: memoryview) -> None:
    """Fill ``view`` from ``sock``; raises :class:`_PeerStopped` if it cannot."""
    got = 0
    size = len(view)
    while got < size:
        try:
            n = sock.recv_into(view[got:], size - got)
        except TimeoutError:
            raise _PeerStopped(got, "timeout") from None
        except OSError as exc:
            raise _PeerStopped(got, "error", str(exc)) from None
        if n == 0:
            raise _PeerStopped(got, "eof")
        got += n


def _receive_body(sock: socket.socket, size: int) -> bytes | bytearray:
    """The ``size`` bytes of a frame body, allocated only as they arrive."""
    if size <= RECEIVE_CHUNK:
        body = bytearray(size)
        _receive(sock, memoryview(body))
        return body
    parts: list[bytearray] = []
    received = 0
    while received < size:
        part = bytearray(min(RECEIVE_CHUNK, size - received))
        try:
            _receive(sock, memoryview(part))
        except _PeerStopped as exc:
            raise _PeerStopped(received + exc.received, exc.cause, exc.detail) from None
        parts.append(part)
        received += len(part)
    return b"".join(parts)


class _FrameSource:
    """One frame body as a read-only thriftpy2 transport that raises at its end."""

    def __init__(self, body: bytes | bytearray) -> None:
        self._view = memoryview(body)
        self._pos = 0

    def read(self, size: int) -> bytes:
        if self._pos >= len(self._view):
            raise EOFError("the message runs past the end of its frame")
        chunk = bytes(self._view[self._pos : self._pos + size])
        self._pos += len(chunk)
        return chunk

    def is_open(self) -> bool:
        return True


def _shutdown(sock: socket.socket) -> None:
    """Wake whoever waits on ``sock``; its owner closes it."""
    with contextlib.suppress(OSError):  # already shut down or gone
        socket.socket.shutdown(sock, socket.SHUT_RDWR)


def _host(address: str) -> str:
    """An address as it goes in ``host:port``: IPv6 in brackets, v4-mapped unwrapped."""
    if address.startswith("::ffff:") and "." in address:
        return address[7:]
    return f"[{address}]" if ":" in address else address


def _bind(listen: str) -> socket.socket:
    host, _, port = listen.rpartition(":")
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host.strip("[]") or None, int(port), type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
        sock = socket.socket(family, kind, proto)
    except (OSError, ValueError) as exc:
        raise BindError(errno.EINVAL, f"thrift: cannot listen on {listen}: {exc}") from exc
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(LISTEN_BACKLOG)
    except OSError as exc:
        sock.close()
        raise BindError(
            exc.errno or errno.EADDRINUSE, f"thrift: cannot listen on {listen}: {exc}"
        ) from exc
    sock.setblocking(False)
    return sock


@dataclass(eq=False)
class _Connection:
    sock: socket.socket
    peer: str
    host: str = ""
    """Our own address as the peer reached it."""
    busy: bool = False
    """From a frame's length to its reply: a call in flight."""
    calls: int = 0


def _call(processor: TProcessor, oprot: Any, api: str, seqid: int, result: Any, call: Any) -> None:
    """The second half of thriftpy2's ``TProcessor.process``: call, then reply."""
    if isinstance(result, TApplicationException):
        processor.send_exception(oprot, api, result, seqid)
        return
    try:
        result.success = call()
    except TApplicationException as exc:
        processor.send_exception(oprot, api, exc, seqid)
        return
    except Exception as exc:
        if not processor.handle_exception(exc, result):
            raise
    if not result.oneway:
        processor.send_result(oprot, api, result, seqid)


class FramedServer:
    """A threaded server of framed binary Thrift: frames, timeouts, TLS and stop.

    ``processor_for`` makes the processor of each new connection. Raises
    :class:`BindError` from :meth:`start` when ``listen`` cannot be bound.
    """

    def __init__(
        self,
        listen: str,
        processor_for: ProcessorFactory,
        *,
        max_frame_bytes: int,
        idle_timeout_s: float,
        tls: ssl.SSLContext | None = None,
        max_connections: int = MAX_CONNECTIONS,
        turn_for: TurnFactory = lambda _method: None,
    ) -> None:
        self.listen = listen
        self.processor_for = processor_for
        self.max_frame_bytes = max_frame_bytes
        self.idle_timeout_s = idle_timeout_s
        self.tls = tls
        self.max_connections = max_connections
        self.turn_for = turn_for
        """Asked before decoding each frame: a decoded 1,000-receipt upload is several MB
        of structs, so upload frames wait for their turn as bytes, not as structs."""
        self.port = 0
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)
        self._connections: set[_Connection] = set()
        self._stopping = False
        self._sock: socket.socket | None = None
        self._wake: tuple[socket.socket, socket.socket] | None = None
        self._acceptor: threading.Thread | None = None

    # -- accepting -----------------------------------------------------------------

    def start(self) -> int:
        """Bind and start accepting; returns the bound port."""
        self._sock = _bind(self.listen)
        self.port = int(self._sock.getsockname()[1])
        self._wake = socket.socketpair()
        self._acceptor = threading.Thread(target=self._accept_loop, name="thrift-accept")
        self._acceptor.start()
        return self.port

    def _accept_loop(self) -> None:
        assert self._sock is not None and self._wake is not None
        with selectors.DefaultSelector() as selector:
            selector.register(self._sock, selectors.EVENT_READ)
            selector.register(self._wake[0], selectors.EVENT_READ)
            while True:
                for key, _ in selector.select():
                    if key.fileobj is self._wake[0]:
                        return
                    try:
                        raw, address = self._sock.accept()
                    except (BlockingIOError, InterruptedError, ConnectionAbortedError):
                        continue
                    except OSError as exc:  # out of file descriptors or memory: back off
                        log.error("thrift.accept_failed", error=str(exc))
                        time.sleep(0.1)
                        continue
                    self._admit(raw, f"{_host(address[0])}:{address[1]}")

    def _admit(self, raw: socket.socket, peer: str) -> None:
        with self._lock:
            refused = self._stopping or len(self._connections) >= self.max_connections
            if not refused:
                conn = _Connection(raw, peer)
                self._connections.add(conn)
        if refused:
            if not self._stopping:
                log.warning(
                    "thrift.connection_refused",
                    peer=peer,
                    reason="too_many_connections",
                    limit=self.max_connections,
                )
            raw.close()
            return
        try:
            threading.Thread(
                target=self._serve, args=(conn,), name=f"thrift {peer}", daemon=True
            ).start()
        except RuntimeError as exc:  # cannot start a thread
            log.error("thrift.connection_refused", peer=peer, reason="no_thread", error=str(exc))
            self._forget(conn)
            raw.close()

    # -- one connection ------------------------------------------------------------

    def _serve(self, conn: _Connection) -> None:
        try:
            conn.sock.settimeout(self.idle_timeout_s)
            conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            conn.sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
            if self.tls is not None and not self._handshake_tls(conn):
                return
            conn.host = _host(conn.sock.getsockname()[0])
            while self._serve_call(conn):
                pass
        except Exception as exc:  # a bug here must cost this connection only
            log.exception("thrift.connection_failed", peer=conn.peer, error=str(exc))
        finally:
            self._forget(conn)
            conn.sock.close()

    def _handshake_tls(self, conn: _Connection) -> bool:
        assert self.tls is not None
        with self._lock:
            tls_sock = self.tls.wrap_socket(
                conn.sock, server_side=True, do_handshake_on_connect=False
            )
            conn.sock = tls_sock
        try:
            tls_sock.do_handshake()
        except (OSError, ValueError) as exc:
            if not self._stopping:
                log.warning("tls.rejected", protocol=3, peer=conn.peer, reason=str(exc))
            return False
        return True

    def _serve_call(self, conn: _Connection) -> bool:
        """Read one frame, answer it; False when the connection is done."""
        header = bytearray(4)
        try:
            _receive(conn.sock, memoryview(header))
        except _PeerStopped as exc:
            if exc.received == 0 and exc.cause == "timeout":
                self._log_idle(conn)
            elif exc.received or exc.cause == "error":
                self._log_stopped(conn, exc, expected=4, what="header")
            return False
        (size,) = struct.unpack("!I", header)
        with self._lock:
            if self._stopping:
                return False
            conn.busy = True
        try:
            reply = self._answer(conn, size)
            if reply is None:
                return False
            conn.sock.sendall(reply)
        except OSError as exc:
            self._connection_error(conn, "send_failed", error=str(exc))
            return False
        finally:
            with self._lock:
                conn.busy = False
                stopping = self._stopping
                self._idle.notify_all()
        conn.calls += 1
        return not stopping

    def _answer(self, conn: _Connection, size: int) -> bytes | None:
        """The framed reply to a frame of ``size`` bytes, or None (logged) to close."""
        if (size & 0xFFFF0000) == UNFRAMED:
            self._connection_error(conn, "unframed_message", hint="use a framed transport")
            return None
        if size > self.max_frame_bytes:
            log.warning(
                "thrift.frame_too_large", peer=conn.peer, size=size, limit=self.max_frame_bytes
            )
            return None
        if size == 0:
            self._connection_error(conn, "empty_frame")
            return None
        try:
            body = _receive_body(conn.sock, size)
        except _PeerStopped as exc:
            self._log_stopped(conn, exc, expected=size, what="frame")
            return None
        out = MemoryBuffer()
        turn: UploadTurn | None = None
        try:
            turn = self.turn_for(check_message(body))
            processor = self.processor_for(conn.peer, conn.host, self.tls is not None, turn)
            source = BufferedTransport(_FrameSource(body), max(size, 4096))
            iprot = BinaryProtocol(source, strict_read=False, strict_decode=True)
            api, seqid, result, call = processor.process_in(iprot)
            del body, source, iprot  # the frame is decoded: let its bytes go
            _call(processor, BinaryProtocol(out), api, seqid, result, call)
        except Exception as exc:
            self._connection_error(
                conn, "protocol_error", size=size, error=f"{type(exc).__name__}: {exc}"
            )
            return None
        finally:
            if turn is not None:
                turn.give_back()
        reply: bytes = out.getvalue()
        return struct.pack("!I", len(reply)) + reply

    # -- events ----------------------------------------------------------------------

    def _connection_error(self, conn: _Connection, reason: str, **fields: Any) -> None:
        if not self._stopping:
            log.warning("thrift.connection_error", peer=conn.peer, reason=reason, **fields)

    def _log_stopped(self, conn: _Connection, exc: _PeerStopped, expected: int, what: str) -> None:
        reason = {"eof": "truncated", "timeout": "timeout_mid"}.get(exc.cause, "io_error")
        if reason != "io_error":
            reason = f"{reason}_{what}"
        fields: dict[str, Any] = {"received": exc.received, "expected": expected}
        if exc.detail:
            fields["error"] = exc.detail
        self._connection_error(conn, reason, **fields)

    def _log_idle(self, conn: _Connection) -> None:
        if self._stopping:
            return
        fields = {"peer": conn.peer, "idle_timeout_s": self.idle_timeout_s, "calls": conn.calls}
        if conn.calls:
            log.debug("thrift.connection_idle", **fields)
        else:
            log.info("thrift.connection_idle", **fields)

    # -- stopping ------------------------------------------------------------------

    def _forget(self, conn: _Connection) -> None:
        with self._lock:
            self._connections.discard(conn)
            self._idle.notify_all()

    def stop(self, grace_s: float) -> None:
        """Stop accepting, close idle connections, give calls in flight ``grace_s``."""
        if self._sock is None or self._wake is None or self._acceptor is None:
            return
        with self._lock:
            self._stopping = True
            idle = [c.sock for c in self._connections if not c.busy]
        self._wake[1].send(b"\0")
        self._acceptor.join()
        self._sock.close()
        for sock in self._wake:
            sock.close()
        for sock in idle:
            _shutdown(sock)
        with self._idle:
            self._idle.wait_for(lambda: not self._connections, timeout=grace_s)
            left = [c.sock for c in self._connections]
        if left:
            log.warning("thrift.stop_forced", connections=len(left), grace_s=grace_s)
            for sock in left:
                _shutdown(sock)
        self._sock = self._wake = self._acceptor = None

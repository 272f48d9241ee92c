"""The socket side of the framed Thrift server (:mod:`cashserver.rpc.thrift_framed`):
reading a frame's bytes as they arrive, a frame body as a transport, binding.
"""

from __future__ import annotations

import contextlib
import errno
import socket

from cashserver.rpc.errors import BindError

RECEIVE_CHUNK = 1 << 20
"""A frame body is received in pieces of at most this many bytes."""
LISTEN_BACKLOG = 1024


class PeerStopped(Exception):
    """The peer stopped short of ``expected`` bytes: ``cause`` is eof, timeout or error."""

    def __init__(self, received: int, cause: str, detail: str = "") -> None:
        super().__init__(cause)
        self.received = received
        self.cause = cause
        self.detail = detail


def receive(sock: socket.socket, view: memoryview) -> None:
    """Fill ``view`` from ``sock``; raises :class:`PeerStopped` if it cannot."""
    got = 0
    size = len(view)
    while got < size:
        try:
            n = sock.recv_into(view[got:], size - got)
        except TimeoutError:
            raise PeerStopped(got, "timeout") from None
        except OSError as exc:
            raise PeerStopped(got, "error", str(exc)) from None
        if n == 0:
            raise PeerStopped(got, "eof")
        got += n


def receive_body(sock: socket.socket, size: int) -> bytes | bytearray:
    """The ``size`` bytes of a frame body, allocated only as they arrive."""
    if size <= RECEIVE_CHUNK:
        body = bytearray(size)
        receive(sock, memoryview(body))
        return body
    parts: list[bytearray] = []
    received = 0
    while received < size:
        part = bytearray(min(RECEIVE_CHUNK, size - received))
        try:
            receive(sock, memoryview(part))
        except PeerStopped as exc:
            raise PeerStopped(received + exc.received, exc.cause, exc.detail) from None
        parts.append(part)
        received += len(part)
    return b"".join(parts)


class FrameSource:
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


def shutdown_socket(sock: socket.socket) -> None:
    """Wake whoever waits on ``sock``; its owner closes it."""
    with contextlib.suppress(OSError):  # already shut down or gone
        socket.socket.shutdown(sock, socket.SHUT_RDWR)


def host_text(address: str) -> str:
    """An address as it goes in ``host:port``: IPv6 in brackets, v4-mapped unwrapped."""
    if address.startswith("::ffff:") and "." in address:
        return address[7:]
    return f"[{address}]" if ":" in address else address


def bind_listener(listen: str) -> socket.socket:
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

"""The admin HTTP listener: uvicorn serving the Starlette app on a thread of ``serve``.

The socket is bound here, before uvicorn starts, so a taken port is a start-up
error of the daemon (exit 2) like the other listeners', and port 0 (tests) works.
uvicorn runs its own event loop on its thread and never installs signal handlers
there: the daemon owns SIGTERM and stops the listener through :meth:`stop`.
"""

from __future__ import annotations

import errno
import ipaddress
import socket
import threading
import time
from typing import TYPE_CHECKING

from cashserver.config import Config
from cashserver.log import get_logger

if TYPE_CHECKING:
    import uvicorn
    from starlette.types import ASGIApp

log = get_logger(__name__)

START_TIMEOUT_S = 10.0


class HttpBindError(OSError):
    """The listen address cannot be bound."""


def split_listen(listen: str) -> tuple[str, int]:
    host, _, port = listen.rpartition(":")
    return host.strip("[]"), int(port)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def open_listen_refusal(config: Config) -> str | None:
    """Why ``serve`` must not start with this ``[http]`` section (SPEC 12), or None:
    without a password hash only a loopback address may be served."""
    listen = config.http.listen
    if not listen or config.http.password_hash:
        return None
    host, _ = split_listen(listen)
    if is_loopback(host):
        return None
    return (
        f"http.listen {listen!r} is not a loopback address and http.password_hash is empty:"
        " set one with `cashserver http hash-password`, or listen on 127.0.0.1"
    )


def local_url(listen: str) -> str:
    """The URL at which this machine reaches a listen address (wildcards become loopback)."""
    host, port = split_listen(listen)
    if host in ("", "0.0.0.0"):
        host = "127.0.0.1"
    elif host == "::":
        host = "::1"
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def bind(listen: str) -> socket.socket:
    host, port = split_listen(listen)
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        sock = socket.create_server((host or "0.0.0.0", port), family=family, backlog=128)
    except OSError as exc:
        raise HttpBindError(
            exc.errno or errno.EADDRINUSE, f"http: cannot listen on {listen}: {exc.strerror}"
        ) from exc
    return sock


class HttpListener:
    """Binds ``[http] listen`` at start; stops taking requests at stop."""

    name = "http"

    def __init__(self, config: Config, app: ASGIApp) -> None:
        self.listen = config.http.listen
        self.app = app
        self.port = 0
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        # Here, not at the top: the front process reads open_listen_refusal() from this
        # module and must not load uvicorn (and click) for it.
        import uvicorn

        sock = bind(self.listen)
        self.port = sock.getsockname()[1]
        server = uvicorn.Server(
            uvicorn.Config(
                self.app,
                lifespan="off",
                log_config=None,
                access_log=False,
                server_header=False,
                ws="none",
                timeout_graceful_shutdown=5,
            )
        )
        thread = threading.Thread(
            target=server.run, kwargs={"sockets": [sock]}, name="http", daemon=True
        )
        thread.start()
        deadline = time.monotonic() + START_TIMEOUT_S
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                server.should_exit = True
                sock.close()
                raise HttpBindError(errno.EIO, f"http: the server on {self.listen} did not start")
            time.sleep(0.01)
        self._server, self._thread = server, thread
        log.info("http.listening", listen=self.listen, port=self.port)

    def alive(self) -> bool:
        return (
            self._server is not None
            and self._thread is not None
            and self._thread.is_alive()
            and not self._server.should_exit
        )

    def stop(self, grace_s: float) -> None:
        if self._server is None or self._thread is None:
            return
        self._server.should_exit = True
        self._thread.join(grace_s)
        self._server = None
        self._thread = None
        log.info("http.stopped")

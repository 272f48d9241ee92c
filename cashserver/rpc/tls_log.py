"""Turn gRPC's own TLS handshake failures into ``tls.rejected`` events.

A register without a client certificate, or with one from another CA, is turned
away inside gRPC's C core before any Python code sees the call: the register only
sees "socket closed", and the server's Python side sees nothing. The core does
log the failure (at its INFO level) on standard error. So when TLS is on, the
daemon asks the core for INFO logs, routes file descriptor 2 through a pipe, and
a thread reads it: handshake failures become ``tls.rejected`` events, the core's
other INFO lines are dropped, and everything else passes through unchanged.
"""

from __future__ import annotations

import contextlib
import os
import re
import threading
from typing import BinaryIO, TextIO

from cashserver.log import get_logger, log_to

log = get_logger(__name__)

HANDSHAKE_FAILED = re.compile(rb"Handshake failed with (?:fatal )?error (\w+): (.*)$")
CORE_INFO = re.compile(rb"^I\d{4} ")
CORE_NOISE = re.compile(rb"Log level INFO is not suitable for production")


def request_core_info_logs(environ: dict[str, str] | os._Environ[str]) -> None:
    """Ask gRPC's core to log handshakes; must run before grpc is first imported."""
    environ["GRPC_VERBOSITY"] = "INFO"


class StderrTap:
    """Reads what is written to fd 2 and forwards it, minus gRPC's INFO chatter."""

    def __init__(self) -> None:
        self._saved_fd = os.dup(2)
        self.stderr: TextIO = os.fdopen(os.dup(self._saved_fd), "w", buffering=1)
        read_fd, write_fd = os.pipe()
        os.dup2(write_fd, 2)
        os.close(write_fd)
        self._reader: BinaryIO = os.fdopen(read_fd, "rb", buffering=0)
        self._out: BinaryIO = os.fdopen(os.dup(self._saved_fd), "wb", buffering=0)
        self._thread = threading.Thread(target=self._run, name="stderr-tap", daemon=True)

    def start(self) -> None:
        """Start reading; log lines from now on go straight to the real stderr."""
        log_to(self.stderr)
        self._thread.start()

    def _run(self) -> None:
        buffer = b""
        while True:
            try:
                chunk = os.read(self._reader.fileno(), 65536)
            except OSError:
                return
            if not chunk:
                return
            buffer += chunk
            *lines, buffer = buffer.split(b"\n")
            for line in lines:
                self._handle(line)

    def _handle(self, line: bytes) -> None:
        failed = HANDSHAKE_FAILED.search(line)
        if failed:
            log.warning(
                "tls.rejected",
                reason=failed.group(2).decode(errors="replace").strip(),
                error=failed.group(1).decode(errors="replace"),
            )
            return
        if CORE_INFO.match(line) or CORE_NOISE.search(line):
            return
        with contextlib.suppress(OSError):
            self._out.write(line + b"\n")

    def stop(self) -> None:
        """Give fd 2 back to the real stderr; the reader sees end of file and ends."""
        os.dup2(self._saved_fd, 2)
        os.close(self._saved_fd)
        self._thread.join(2)

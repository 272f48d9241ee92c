"""The daemon's side of systemd's notify protocol (``Type=notify``, ``WatchdogSec``).

One :class:`Notifier` lives in the main process (the unit says ``NotifyAccess=main``):
it sends READY once everything is up, WATCHDOG on the main loop's tick, and
STOPPING when shutdown begins. Outside systemd (no ``NOTIFY_SOCKET``) it does nothing.
"""

from __future__ import annotations

import socket
from collections.abc import Mapping

from cashserver.log import get_logger

log = get_logger(__name__)


class Notifier:
    """Sends states to systemd's notify socket, if the environment names one."""

    def __init__(self, environ: Mapping[str, str]) -> None:
        address = environ.get("NOTIFY_SOCKET", "")
        self.address = "\0" + address[1:] if address.startswith("@") else address
        self.watchdog_enabled = bool(environ.get("WATCHDOG_USEC"))
        usec = environ.get("WATCHDOG_USEC", "")
        self.watchdog_s = int(usec) / 1e6 if usec.isdigit() else 0.0
        """The unit's WatchdogSec (0 without a watchdog)."""

    def notify(self, state: str) -> None:
        """Send one state line (``READY=1``, ``STATUS=...``); failures are logged, not raised."""
        if not self.address:
            return
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
            try:
                sock.sendto(state.encode(), self.address)
            except OSError as exc:
                log.warning("systemd.notify_failed", state=state, error=str(exc))

    def ready(self) -> None:
        self.notify("READY=1")

    def stopping(self) -> None:
        self.notify("STOPPING=1")

    def watchdog(self) -> None:
        """Ping the watchdog, when the unit has one (``WatchdogSec``)."""
        if self.watchdog_enabled:
            self.notify("WATCHDOG=1")

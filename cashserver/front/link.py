"""The front's end of the verdict channel to the writer process.

The front (the listeners) makes each upload durable in ``spool/incoming/`` itself,
then tells the writer the file's name over the channel and waits for the
verdict the writer sends back (LOADED with counts and workshift_id, REJECTED
with a reason). :class:`WriterLink` has the loader's ``submit`` shape, so
:class:`~cashserver.front.ingest.Ingest` does not know which side of a process
boundary the loader is on.

The channel is not a commit point: a file is durable before its name is sent.
If the channel breaks (the writer died, a message could not be sent), waiting
senders get no verdict and answer QUEUED when ``verdict_timeout_s`` is up; the
(restarted) writer finds the files in ``incoming/`` and loads them, and the
names still waited on are sent to it again, so their verdicts can still come.
"""

from __future__ import annotations

import threading
import time
from multiprocessing.connection import Connection
from typing import Any

from cashserver.domain import Upload, UploadResult
from cashserver.log import get_logger
from cashserver.spool import Spool
from cashserver.verdict import Ticket, queued

log = get_logger(__name__)

HEALTH_FRESH_S = 3.0
"""A writer's health report older than this says nothing about the database."""


class _LinkTicket(Ticket):
    """A ticket that leaves the link's table once its sender stops waiting."""

    def __init__(self, link: WriterLink, name: str, receipts_received: int) -> None:
        super().__init__(receipts_received)
        self._link = link
        self._name = name

    def wait(self, timeout: float) -> UploadResult:
        try:
            return super().wait(timeout)
        finally:
            self._link.forget(self._name)


class WriterLink:
    """Spools uploads and waits for the writer process's verdicts on them."""

    def __init__(self, spool: Spool) -> None:
        self.spool = spool
        self._tickets: dict[str, Ticket] = {}
        self._lock = threading.Lock()
        self._send_lock = threading.Lock()
        self._conn: Connection | None = None
        self._lost = threading.Event()
        self._closing = False
        self._health = (0.0, 0, False, time.monotonic())
        """The writer's last report: its loader's stall in seconds, its queue, whether
        the database is failing, and when it came."""

    # -- the senders' side -------------------------------------------------------------

    def submit(self, upload: Upload, source: str, forwarded_by: str = "") -> Ticket:
        """Spool ``upload`` durably and tell the writer; raises SpoolUnavailable if the
        file cannot be made durable (then nothing was accepted)."""
        path = self.spool.put(upload, source, forwarded_by=forwarded_by)
        ticket = _LinkTicket(self, path.name, len(upload.receipts))
        with self._lock:
            self._tickets[path.name] = ticket
        self.send(("spooled", path.name))  # if this fails the sender answers QUEUED
        if self.writer_unavailable:
            ticket.resolve(queued(len(upload.receipts)))  # no verdict is coming soon
        return ticket

    def forget(self, name: str) -> None:
        with self._lock:
            self._tickets.pop(name, None)

    @property
    def waiting(self) -> int:
        with self._lock:
            return len(self._tickets)

    # -- the channel -------------------------------------------------------------------

    def send(self, message: tuple[Any, ...]) -> bool:
        """Send one message to the writer; False (and the channel marked lost) if it fails."""
        conn = self._conn
        if conn is None:
            return False
        try:
            with self._send_lock:
                conn.send(message)
        except (OSError, ValueError) as exc:
            self._mark_lost(conn, str(exc))
            return False
        return True

    def attach(self, conn: Connection) -> None:
        """Use ``conn`` (a new writer's channel) and send it the names still waited on."""
        self._lost.clear()
        self._closing = False
        self._conn = conn
        threading.Thread(target=self._receive, args=(conn,), name="verdicts", daemon=True).start()
        with self._lock:
            names = list(self._tickets)
        for name in names:
            self.send(("spooled", name))

    def closing(self) -> None:
        """The writer is being stopped: its channel ending is expected, not a loss."""
        self._closing = True

    def detach(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()

    def writer_stalled_s(self) -> float:
        """How long the writer's loader has not turned, as far as the front knows: its
        last report plus the time since (a writer that stopped reporting is stalled)."""
        stalled, _queued, _unavailable, at = self._health
        return stalled + (time.monotonic() - at)

    @property
    def writer_queued(self) -> int:
        return self._health[1]

    @property
    def writer_unavailable(self) -> bool:
        """The writer said its database is failing (the loader backs off): uploads are
        answered QUEUED at once instead of after ``verdict_timeout_s``."""
        return self._health[2] and time.monotonic() - self._health[3] < HEALTH_FRESH_S

    @property
    def lost(self) -> bool:
        """The channel broke: the writer behind it must be replaced."""
        return self._lost.is_set()

    def _receive(self, conn: Connection) -> None:
        while True:
            try:
                message = conn.recv()
            except (EOFError, OSError) as exc:
                self._mark_lost(conn, str(exc) or type(exc).__name__)
                return
            if message[0] == "health":
                self._health = (message[1], message[2], message[3], time.monotonic())
            elif message[0] == "verdict":
                _, name, result = message
                with self._lock:
                    ticket = self._tickets.pop(name, None)
                if ticket is not None:
                    ticket.resolve(result)

    def _mark_lost(self, conn: Connection, reason: str) -> None:
        if self._conn is not conn:
            return  # an old channel, already replaced or closed on purpose
        self._conn = None
        self._lost.set()
        if self._closing:
            return
        log.warning("writer.channel_lost", reason=reason, waiting=self.waiting)

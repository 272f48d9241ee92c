"""What crosses the line between the accept path and the writer: tickets and verdicts.

A transport hands an upload to a :class:`Submitter` (the loader itself in the
one-process daemon, or the front's link to the writer process) and waits on the
:class:`Ticket` it gets back; the loader resolves a :class:`Verdict` once the
upload is loaded or rejected. The registers directory's entries and sightings,
which the front keeps in memory and the writer writes, are here too, so that
neither side imports the other (nor the store).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Protocol

from cashserver.domain import Upload, UploadResult, UploadStatus
from cashserver.skew import SkewMeasurement

RegisterKey = tuple[str, str]
"""``(store_code, register_code)``."""

Fingerprint = tuple[int, int, int]
"""Row count, highest register id, sum of revisions: changes whenever the directory does."""


@dataclass(frozen=True, slots=True)
class RegisterEntry:
    """What a daemon keeps in memory of one register of the directory."""

    store_code: str
    register_code: str
    protocol_version: int | None


@dataclass(frozen=True, slots=True)
class Sighting:
    """A register called (Handshake or upload) at ``at_ms``."""

    at_ms: int
    software_version: str | None = None
    """From its last Handshake; None when it only uploaded."""
    clock_skew: SkewMeasurement | None = None
    """Its clock as measured by the accept path (:mod:`cashserver.skew`); None: not measured."""


@dataclass(frozen=True, slots=True)
class SkewChange:
    """A register's ``clock_skew_s`` before a sighting was written, and what replaced it."""

    key: RegisterKey
    before_s: int | None
    after: SkewMeasurement


@dataclass(frozen=True, slots=True)
class SightingsWritten:
    """What writing a round of sightings did (``Registers.record_sightings``)."""

    created: list[RegisterKey]
    """Registers added to the directory by their first sighting."""
    skews: list[SkewChange]
    """Every measured clock written, with the value it replaced."""


class Verdict(Protocol):
    """Where the verdict on one sales file goes: a waiting sender's :class:`Ticket`,
    or the writer process's message back to the front (see :mod:`cashserver.front.link`)."""

    def resolve(self, result: UploadResult) -> None: ...


def queued(receipts_received: int) -> UploadResult:
    """The answer for an upload that is durable but not loaded yet."""
    return UploadResult(0, UploadStatus.QUEUED, receipts_received)


class Ticket:
    """A sender's claim on the verdict for its upload."""

    def __init__(self, receipts_received: int) -> None:
        self._done = threading.Event()
        self._result = queued(receipts_received)

    def resolve(self, result: UploadResult) -> None:
        self._result = result
        self._done.set()

    def wait(self, timeout: float) -> UploadResult:
        """The verdict, or a QUEUED result if it is not there within ``timeout`` seconds."""
        self._done.wait(timeout)
        return self._result


class Submitter(Protocol):
    """What a transport hands an upload to: the loader itself, or the front's link to
    the writer process (:class:`cashserver.front.link.WriterLink`)."""

    def submit(self, upload: Upload, source: str, forwarded_by: str = "") -> Ticket: ...

"""What crosses the line between the accept path and the writer: tickets, verdicts,
and the typed messages of the channel between the front and the writer process.

A transport hands an upload to a :class:`Submitter` (the loader itself in the
one-process daemon, or the front's link to the writer process) and waits on the
:class:`Ticket` it gets back; the loader resolves a :class:`Verdict` once the
upload is loaded or rejected.

With a writer process, the two processes speak over one socket pair (see
:mod:`cashserver.supervisor` and :mod:`cashserver.writer.child`); every message is
one of the msgspec structs below, a tagged union each way (:data:`ToWriter`,
:data:`ToFront`), encoded with MessagePack by :func:`encode` and read back by
:func:`read_to_writer` / :func:`read_to_front`. Both sides import this module and
nothing of each other.

The registers directory crosses too: the writer is the only writer of the
``registers`` table. The front keeps the directory in memory
(:class:`cashserver.front.admission.Admission`); the writer sends it whole in a
:class:`DirectoryChanged` as it loads it (before :class:`Ready`) and whenever it
changes, and the front sends what it saw (:class:`Sightings`: last seen, software
version, and so registers it admitted with ``auto_register``) once a second.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

import msgspec

from cashserver.config import Config
from cashserver.domain import Upload, UploadResult, UploadStatus
from cashserver.skew import SkewMeasurement

RegisterKey = tuple[str, str]
"""``(store_code, register_code)``."""

Fingerprint = tuple[int, int, int]
"""Row count, highest register id, sum of revisions: changes whenever the directory does."""


class RegisterEntry(msgspec.Struct, frozen=True):
    """What a daemon keeps in memory of one register of the directory."""

    store_code: str
    register_code: str
    protocol_version: int | None


class Sighting(msgspec.Struct, frozen=True):
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


def merge_sightings(
    older: Mapping[RegisterKey, Sighting], newer: Mapping[RegisterKey, Sighting]
) -> dict[RegisterKey, Sighting]:
    """The latest sighting of each register; a newer one without a software version
    (an upload after the Handshake) or without a clock measurement keeps the older one's."""
    merged = dict(older)
    for key, seen in newer.items():
        earlier = merged.get(key)
        if earlier is not None and (seen.software_version is None or seen.clock_skew is None):
            seen = Sighting(
                seen.at_ms,
                seen.software_version or earlier.software_version,
                seen.clock_skew or earlier.clock_skew,
            )
        merged[key] = seen
    return merged


# -- front -> writer ----------------------------------------------------------------------


class Configure(msgspec.Struct, tag=True, frozen=True):
    """The first message: the configuration the writer runs with."""

    config: Config


class Spooled(msgspec.Struct, tag=True, frozen=True):
    """A sales file the front made durable in ``incoming/``; a verdict is awaited."""

    name: str


class UploadCounted(msgspec.Struct, tag=True, frozen=True):
    """An upload the front counted, for the writer's ``/metrics``."""

    protocol: str
    status: str


class FrontEvents(msgspec.Struct, tag=True, frozen=True):
    """The front's journal events (time ms, event, fields JSON), for the events table."""

    events: list[tuple[int, str, str]]


class FrontStatus(msgspec.Struct, tag=True, frozen=True):
    """What keeps the front from taking uploads, by name (for ``/readyz``)."""

    problems: dict[str, str]


class Sightings(msgspec.Struct, tag=True, frozen=True):
    """Registers the front saw since the last message, for the registers table."""

    seen: list[tuple[str, str, Sighting]]

    @classmethod
    def of(cls, seen: Mapping[RegisterKey, Sighting]) -> Sightings:
        return cls([(s, r, v) for (s, r), v in seen.items()])

    def by_register(self) -> dict[RegisterKey, Sighting]:
        return {(s, r): v for s, r, v in self.seen}


class Stop(msgspec.Struct, tag=True, frozen=True):
    """Finish by ``deadline_at`` (the monotonic clock, which both processes share)."""

    deadline_at: float


ToWriter = Configure | Spooled | UploadCounted | FrontEvents | FrontStatus | Sightings | Stop


# -- writer -> front ----------------------------------------------------------------------


class Ready(msgspec.Struct, tag=True, frozen=True):
    """The writer's stages are up (the directory was sent before, as it loaded it)."""

    pid: int


class Failed(msgspec.Struct, tag=True, frozen=True):
    """The writer could not start; the one line naming the fault."""

    text: str


class Decided(msgspec.Struct, tag=True, frozen=True):
    """The verdict on the sales file ``name``."""

    name: str
    result: UploadResult


class Health(msgspec.Struct, tag=True, frozen=True):
    """Once a second: the loader's stall, its queue, whether the database is failing."""

    stalled_s: float
    queued: int
    unavailable: bool


class DirectoryChanged(msgspec.Struct, tag=True, frozen=True):
    """The registers directory, reloaded after a change."""

    directory: list[RegisterEntry]


ToFront = Ready | Failed | Decided | Health | DirectoryChanged

_encoder = msgspec.msgpack.Encoder()
_to_writer = msgspec.msgpack.Decoder(ToWriter)
_to_front = msgspec.msgpack.Decoder(ToFront)


def encode(message: ToWriter | ToFront) -> bytes:
    return _encoder.encode(message)


def read_to_writer(data: bytes) -> ToWriter:
    """A message for the writer; raises ``msgspec.DecodeError`` if it is not one."""
    return _to_writer.decode(data)


def read_to_front(data: bytes) -> ToFront:
    """A message for the front; raises ``msgspec.DecodeError`` if it is not one."""
    return _to_front.decode(data)


def directory_of(entries: list[RegisterEntry]) -> dict[RegisterKey, RegisterEntry]:
    return {(e.store_code, e.register_code): e for e in entries}


# -- tickets and verdicts -------------------------------------------------------------------


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

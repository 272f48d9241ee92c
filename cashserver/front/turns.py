"""Upload turns: how many uploads are built, validated and spooled at the same time.

A transport takes a turn (:meth:`UploadTurns.take`, blocking) before it reads or
decodes an upload, converts it, and hands upload and turn to
:meth:`cashserver.ingest.Ingest.accept`, which gives the turn back as soon as the
upload is spooled, before the wait for the verdict. That work holds the GIL anyway,
so a few turns cost no throughput, and registers waiting for a turn wait as bytes on
their sockets (or in a frame), not as thousands of decoded objects each.
"""

from __future__ import annotations

import threading
from types import TracebackType


class UploadTurn:
    """One upload's turn, held from :meth:`UploadTurns.take` until :meth:`give_back`.

    Giving it back twice is harmless, so whoever finishes first (the ingest service
    once the upload is spooled, or the transport on its way out) gives it back.
    A turn is used by the one thread serving its call.
    """

    def __init__(self, slots: threading.BoundedSemaphore) -> None:
        self._slots = slots
        self._held = True

    @property
    def held(self) -> bool:
        return self._held

    def give_back(self) -> None:
        if self._held:
            self._held = False
            self._slots.release()

    def __enter__(self) -> UploadTurn:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.give_back()


class UploadTurns:
    """At most ``at_once`` turns are held at a time."""

    def __init__(self, at_once: int) -> None:
        self._slots = threading.BoundedSemaphore(at_once)

    def take(self) -> UploadTurn:
        """Wait for a free turn and hold it."""
        self._slots.acquire()
        return UploadTurn(self._slots)

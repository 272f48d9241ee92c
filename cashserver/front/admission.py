"""Who may upload: the registers directory held in memory, so no call waits on the database.

The accept path (Handshake, UploadShift, the Thrift calls) asks :meth:`Admission.admit`
and tells :meth:`Admission.saw`; both are dictionary operations. This module never
meets the database: the writer is the one writer of the ``registers`` table
(:class:`cashserver.writer.directory.DirectorySync`).

- The writer gives the directory: :meth:`Admission.replace` with the whole of it,
  at start (before any listener takes a call) and whenever it changes, so
  ``registers add`` reaches a running daemon within about a second. With a writer
  process the directory comes over the channel (``DirectoryChanged``).
- The writer takes the sightings gathered since its last round
  (:meth:`Admission.take_sightings`: last seen, the software version of the last
  Handshake, the clock skew the accept path measured,
  :mod:`cashserver.skew`). A register admitted with ``auto_register`` is sighted too, and the
  writer creates it with its sighting (the loader also creates a register when its
  first shift loads, whichever comes first). Sightings that could not be handed
  over go back (:meth:`Admission.restore`).

With ``auto_register`` off, only the registers of the directory last given are
admitted: a register added meanwhile is refused until the writer's next round.
"""

from __future__ import annotations

import threading

from cashserver.clock import now_ms
from cashserver.log import get_logger
from cashserver.skew import SkewMeasurement
from cashserver.verdict import RegisterEntry, RegisterKey, Sighting, merge_sightings

log = get_logger(__name__)


class RegisterRefused(PermissionError):
    """The register is not in the directory and registers are not added automatically."""


class Admission:
    """The registers directory in memory, and the sightings waiting to be written."""

    def __init__(self, auto_register: bool) -> None:
        self.auto_register = auto_register
        self._entries: dict[RegisterKey, RegisterEntry] = {}
        """Replaced whole on each change, never changed in place: readers take no lock."""
        self._admitted: set[RegisterKey] = set()
        """Registers let in with ``auto_register`` that the directory does not have yet."""
        self._sightings: dict[RegisterKey, Sighting] = {}
        self._lock = threading.Lock()

    # -- the accept path ------------------------------------------------------------------

    def admit(self, store_code: str, register_code: str) -> int | None:
        """Let a register in; returns its own protocol version (None: the default).

        Raises :class:`RegisterRefused` for a register the directory does not hold
        when ``auto_register`` is off.
        """
        key = (store_code, register_code)
        entry = self._entries.get(key)
        if entry is not None:
            return entry.protocol_version
        if not self.auto_register:
            log.warning("register.refused", store_code=store_code, register_code=register_code)
            raise RegisterRefused(
                f"register {store_code}/{register_code} is not in the registers directory"
            )
        with self._lock:
            new = key not in self._admitted
            self._admitted.add(key)
        if new:
            log.info("register.admitted", store_code=store_code, register_code=register_code)
        return None

    def saw(
        self,
        store_code: str,
        register_code: str,
        software_version: str | None,
        clock_skew: SkewMeasurement | None = None,
    ) -> None:
        """Note that a register called now (with its software version, from a Handshake,
        and its clock, when the call measured it). A call that measures less keeps what
        an earlier one of the same round measured (:func:`merge_sightings`)."""
        seen = {(store_code, register_code): Sighting(now_ms(), software_version, clock_skew)}
        with self._lock:
            self._sightings = merge_sightings(self._sightings, seen)

    # -- the writer's side ------------------------------------------------------------------

    def replace(self, entries: dict[RegisterKey, RegisterEntry]) -> None:
        """Hold ``entries`` as the whole directory from now on."""
        with self._lock:
            self._entries = entries
            self._admitted -= entries.keys()

    def take_sightings(self) -> dict[RegisterKey, Sighting]:
        """The sightings since the last call, handed over to be written."""
        with self._lock:
            pending, self._sightings = self._sightings, {}
        return pending

    def restore(self, pending: dict[RegisterKey, Sighting]) -> None:
        """Take back sightings that could not be handed over (newer ones win)."""
        with self._lock:
            self._sightings = merge_sightings(pending, self._sightings)

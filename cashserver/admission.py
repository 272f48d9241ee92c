"""Who may upload: the registers directory held in memory, so no call waits on the database.

The accept path (Handshake, UploadShift, the Thrift calls) asks :meth:`Admission.admit`
and tells :meth:`Admission.saw`; both are dictionary operations. The database is
met only by this module's own thread, every :data:`SYNC_INTERVAL_S`:

- it writes the sightings gathered since the last round (``last_seen_at``, the
  software version of the last Handshake, the clock skew measured by the accept
  path, :mod:`cashserver.skew`) in one transaction, adding registers
  that were admitted in memory and have not been created yet (the loader also
  creates a register when its first shift loads, whichever comes first);
- it reads the directory's fingerprint (row count, highest id, sum of revisions),
  and when that differs from the one it loaded, it loads the whole directory
  again. So ``registers add`` (and any other change through
  :mod:`cashserver.store.registers`) reaches a running daemon within about
  :data:`SYNC_INTERVAL_S`, plus the time of the query.

While the database is down or locked the round fails (``directory.sync_failed``,
logged once per outage), sightings stay in memory for the next round, and the
directory admits from what it last loaded, plus, with ``auto_register``, any
register it has not seen before.

A written clock skew beyond ``max_clock_skew_s`` that was within it before (or
never measured) is logged as ``register.clock_skewed``: judged against the stored
value it replaces, so once per excursion, across restarts too.
"""

from __future__ import annotations

import threading

from cashserver.clock import now_ms
from cashserver.log import get_logger
from cashserver.skew import SkewMeasurement, newly_skewed
from cashserver.store.registers import (
    Fingerprint,
    RegisterEntry,
    RegisterKey,
    Registers,
    Sighting,
)

log = get_logger(__name__)

SYNC_INTERVAL_S = 1.0
"""How often sightings are written and the directory's fingerprint is read."""


class RegisterRefused(PermissionError):
    """The register is not in the directory and registers are not added automatically."""


class Admission:
    """The registers directory in memory, and the sightings waiting to be written."""

    def __init__(
        self,
        registers: Registers,
        auto_register: bool,
        interval_s: float = SYNC_INTERVAL_S,
        max_clock_skew_s: int = 120,
    ) -> None:
        self.registers = registers
        self.auto_register = auto_register
        self.interval_s = interval_s
        self.max_clock_skew_s = max_clock_skew_s
        self._entries: dict[RegisterKey, RegisterEntry] = {}
        """Replaced whole on each load, never changed in place: readers take no lock."""
        self._fingerprint: Fingerprint | None = None
        self._admitted: set[RegisterKey] = set()
        """Registers let in with ``auto_register`` that the last load did not have."""
        self._sightings: dict[RegisterKey, Sighting] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._failing = False

    # -- the accept path: memory only ---------------------------------------------------

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
        an earlier one of the same round measured."""
        key = (store_code, register_code)
        with self._lock:
            if (earlier := self._sightings.get(key)) is not None:
                software_version = software_version or earlier.software_version
                clock_skew = clock_skew or earlier.clock_skew
            self._sightings[key] = Sighting(now_ms(), software_version, clock_skew)

    # -- the database side: this object's thread ------------------------------------------

    def load(self) -> None:
        """Load the whole directory now; raises whatever the database raises."""
        fingerprint = self.registers.fingerprint()
        entries = self.registers.load_all()
        with self._lock:
            self._entries = entries
            self._fingerprint = fingerprint
            self._admitted -= entries.keys()

    def sync(self) -> None:
        """One round: write the sightings, then reload the directory if it changed.

        Raises whatever the database raises; sightings not written are kept.
        """
        with self._lock:
            pending, self._sightings = self._sightings, {}
        try:
            written = self.registers.record_sightings(pending)
        except BaseException:
            with self._lock:  # keep them, unless a newer one came meanwhile
                self._sightings = pending | self._sightings
            raise
        for store_code, register_code in written.created:
            log.info("register.added", store_code=store_code, register_code=register_code)
        limit = self.max_clock_skew_s
        for change in written.skews:
            if newly_skewed(change.before_s, change.after.clock_skew_s, limit):
                store_code, register_code = change.key
                log.warning(
                    "register.clock_skewed",
                    store_code=store_code,
                    register_code=register_code,
                    clock_skew_s=change.after.clock_skew_s,
                    source=str(change.after.source),
                )
        if self.registers.fingerprint() != self._fingerprint:
            self.load()

    def start(self) -> None:
        """Start syncing every ``interval_s`` (call :meth:`load` first)."""
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="directory", daemon=True)
        self._thread.start()

    def stop(self, grace_s: float) -> None:
        """End the thread, writing the last sightings if the database lets it within grace."""
        self._stop.set()
        thread, self._thread = self._thread, None
        if thread is None:  # never started (start-up failed): nothing to write
            return
        thread.join(grace_s)
        if thread.is_alive():  # stuck on a locked database: the sightings are lost
            log.warning("directory.stop_forced", sightings=len(self._sightings))
            return
        self._round()

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            self._round()

    def _round(self) -> None:
        try:
            self.sync()
        except Exception as exc:  # the database is down or locked: try again next round
            if not self._failing:
                log.warning("directory.sync_failed", error=(str(exc).splitlines() or [""])[0])
            self._failing = True
            return
        if self._failing:
            log.info("directory.sync_resumed")
        self._failing = False

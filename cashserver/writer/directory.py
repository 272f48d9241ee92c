"""The writer's round over the registers directory: the one writer of sightings.

The front keeps the directory in memory (:class:`cashserver.front.admission.Admission`)
and never meets the database. Every :data:`SYNC_INTERVAL_S` this module's thread:

- writes the sightings gathered since the last round (``last_seen_at``, the
  software version of the last Handshake, the clock skew the front measured,
  :mod:`cashserver.skew`) in one transaction, creating the
  registers that were admitted with ``auto_register`` and are not in the table yet.
  Sightings come from the in-process :class:`Admission` (its ``take_sightings``,
  a *source*) or from the front process over the channel (:meth:`DirectorySync.note`);
- reads the directory's fingerprint (row count, highest id, sum of revisions),
  and when that differs from the one it loaded, loads the whole directory again
  and hands it to each *subscriber* (the in-process admission, or the channel to
  the front). So ``registers add`` (and any other change through
  :mod:`cashserver.store.registers`) reaches a running daemon within about
  :data:`SYNC_INTERVAL_S`, plus the time of the query.

While the database is down or locked the round fails (``directory.sync_failed``,
logged once per outage), sightings stay in memory for the next round, and the
front admits from what it was last given.

A written clock skew beyond ``max_clock_skew_s`` that was within it before (or
never measured) is logged as ``register.clock_skewed``: judged against the stored
value it replaces, so once per excursion, across restarts too.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from cashserver.front.admission import Admission
from cashserver.log import get_logger
from cashserver.skew import newly_skewed
from cashserver.store.registers import Registers
from cashserver.verdict import (
    Fingerprint,
    RegisterEntry,
    RegisterKey,
    Sighting,
    SightingsWritten,
    merge_sightings,
)

log = get_logger(__name__)

SYNC_INTERVAL_S = 1.0
"""How often sightings are written and the directory's fingerprint is read."""

Directory = dict[RegisterKey, RegisterEntry]


class DirectorySync:
    """Writes sightings and keeps the directory's subscribers current."""

    def __init__(
        self,
        registers: Registers,
        interval_s: float = SYNC_INTERVAL_S,
        max_clock_skew_s: int = 120,
    ) -> None:
        self.registers = registers
        self.interval_s = interval_s
        self.max_clock_skew_s = max_clock_skew_s
        self.sources: list[Callable[[], dict[RegisterKey, Sighting]]] = []
        """Called each round for the sightings gathered since the last one."""
        self.subscribers: list[Callable[[Directory], None]] = []
        """Called with the whole directory after each load."""
        self.entries: Directory = {}
        """The directory as last loaded."""
        self._fingerprint: Fingerprint | None = None
        self._pending: dict[RegisterKey, Sighting] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._failing = False

    def attach(self, admission: Admission) -> None:
        """Feed an in-process admission, and write what it saw."""
        self.sources.append(admission.take_sightings)
        self.subscribers.append(admission.replace)

    def note(self, seen: dict[RegisterKey, Sighting]) -> None:
        """Sightings that came from elsewhere (the front process); written next round."""
        with self._lock:
            self._pending = merge_sightings(self._pending, seen)

    def load(self) -> None:
        """Load the whole directory now and hand it on; raises whatever the database raises."""
        fingerprint = self.registers.fingerprint()
        self.entries = self.registers.load_all()
        self._fingerprint = fingerprint
        for subscriber in self.subscribers:
            subscriber(self.entries)

    def sync(self) -> None:
        """One round: write the sightings, then reload the directory if it changed.

        Raises whatever the database raises; sightings not written are kept.
        """
        for source in self.sources:
            self.note(source())
        with self._lock:
            pending, self._pending = self._pending, {}
        try:
            written = self.registers.record_sightings(pending) if pending else None
        except BaseException:
            self.note_older(pending)
            raise
        if written is not None:
            self._log_written(written)
        if self.registers.fingerprint() != self._fingerprint:
            self.load()

    def _log_written(self, written: SightingsWritten) -> None:
        for store_code, register_code in written.created:
            log.info("register.added", store_code=store_code, register_code=register_code)
        for change in written.skews:
            if newly_skewed(change.before_s, change.after.clock_skew_s, self.max_clock_skew_s):
                store_code, register_code = change.key
                log.warning(
                    "register.clock_skewed",
                    store_code=store_code,
                    register_code=register_code,
                    clock_skew_s=change.after.clock_skew_s,
                    source=str(change.after.source),
                )

    def note_older(self, pending: dict[RegisterKey, Sighting]) -> None:
        """Keep sightings that were not written, unless newer ones came meanwhile."""
        with self._lock:
            self._pending = merge_sightings(pending, self._pending)

    def start(self) -> None:
        """Start a round every ``interval_s`` (call :meth:`load` first)."""
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
            log.warning("directory.stop_forced", sightings=len(self._pending))
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

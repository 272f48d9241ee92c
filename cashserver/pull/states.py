"""Registers' loading states, written in batches.

Every pull records two states (DURING, then how it ended). Written one by one,
a round over a thousand registers is two thousand write transactions, each
waiting for the database's write lock beside the loader and each synced to disk.
:class:`StateBuffer` keeps the latest state of each register and writes them
all in one transaction every :data:`FLUSH_S` seconds (and at :meth:`close`), so
a state shows in ``registers list`` within that time.
"""

from __future__ import annotations

import threading
from typing import Protocol

from cashserver.log import get_logger

log = get_logger(__name__)

FLUSH_S = 0.5


StateRow = tuple[str, str, str, str, int]
"""``(store_code, register_code, state, message, at_ms)``."""


class StateSink(Protocol):
    """Where the states are written: the store's registers directory in the writer
    (:class:`cashserver.store.registers.Registers`), or, for a command run while a
    daemon runs, the daemon's writer (:class:`cashserver.writer.control.DaemonStates`)."""

    def set_states(self, rows: list[StateRow]) -> None: ...


class StateBuffer:
    def __init__(self, registers: StateSink) -> None:
        self.registers = registers
        self._pending: dict[tuple[str, str], StateRow] = {}
        self._lock = threading.Lock()
        self._flushing = threading.Lock()
        """Held from taking the pending states until they are written: two flushes at
        once (the timer's, a pull's) could otherwise commit an older state last."""
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def set_state(
        self, store_code: str, register_code: str, state: str, message: str, at_ms: int
    ) -> None:
        with self._lock:
            self._pending[(store_code, register_code)] = (
                store_code,
                register_code,
                state,
                message,
                at_ms,
            )

    def flush(self) -> None:
        """Write what is pending; on a database error keep it (unless newer) for later."""
        with self._flushing:
            with self._lock:
                pending, self._pending = self._pending, {}
            if not pending:
                return
            try:
                self.registers.set_states(list(pending.values()))
            except Exception as exc:
                log.warning("pull.state_not_recorded", registers=len(pending), error=str(exc))
                with self._lock:
                    self._pending = {**pending, **self._pending}

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="pull-states", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(FLUSH_S):
            self.flush()

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5.0)
        self.flush()

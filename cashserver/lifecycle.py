"""The pieces of a process's lifecycle, the uvicorn way: stop flags set by signals,
one grace deadline shared by every stage, and stages started in order and stopped
in reverse.

A stage is one thing the process starts and stops (the store, the loader, a
listener, the scheduler). Start runs each stage's ``start`` in order; a failure
stops the stages already started and propagates. Stop runs each started stage's
``stop`` in reverse with the same :class:`Deadline`: whatever time the first
stages use is gone for the later ones, so the whole stop fits in the grace
period (and the grace period fits in the systemd unit's ``TimeoutStopSec``).
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from types import FrameType

from cashserver.log import get_logger

log = get_logger(__name__)

POLL_S = 0.05
"""How often a wait on a deadline looks at the clock and the force flag."""
OVERRUN_S = 0.5
"""How long a stage may still take once the deadline has passed."""


class StartupError(RuntimeError):
    """The daemon cannot start; the message is one line for the operator."""


class StopFlags:
    """What the signal handler sets, and nothing else happens in the handler.

    The first SIGTERM or SIGINT sets :attr:`should_exit` (stop gracefully); a second
    one sets :attr:`force_exit` as well, after which every wait of the shutdown is
    skipped. The main loop polls the flags, logs and acts.
    """

    def __init__(self) -> None:
        self.should_exit = False
        self.force_exit = False
        self.signals: list[int] = []

    def handle(self, signum: int, _frame: FrameType | None) -> None:
        self.signals.append(signum)
        if self.should_exit:
            self.force_exit = True
        self.should_exit = True


@contextmanager
def captured_signals(flags: StopFlags) -> Iterator[StopFlags]:
    """Route SIGTERM and SIGINT to ``flags`` while inside, restoring the handlers after."""
    previous = {sig: signal.signal(sig, flags.handle) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield flags
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


class Deadline:
    """The moment by which stopping must be done, passed to every stage.

    ``at`` is on the monotonic clock, which is the same for every process of the
    machine, so a deadline can be handed to a child process as a number. Once
    ``forced`` says so, no time remains.
    """

    def __init__(self, at: float, forced: Callable[[], bool] = lambda: False) -> None:
        self.at = at
        self._forced = forced

    @classmethod
    def after(cls, seconds: float, forced: Callable[[], bool] = lambda: False) -> Deadline:
        return cls(time.monotonic() + seconds, forced)

    def remaining(self) -> float:
        if self._forced():
            return 0.0
        return max(0.0, self.at - time.monotonic())

    @property
    def passed(self) -> bool:
        return self.remaining() <= 0.0

    def wait_for(self, condition: Callable[[], bool]) -> bool:
        """Wait until ``condition()`` holds or the deadline passes; returns the condition."""
        while not condition():
            left = self.remaining()
            if left <= 0:
                return condition()
            time.sleep(min(POLL_S, left))
        return True


@dataclass
class Stage:
    """One thing a process starts and stops; ``stop`` gets the shared deadline."""

    name: str
    start: Callable[[], None]
    stop: Callable[[Deadline], None] = field(default=lambda _deadline: None)


class Stages:
    """Stages started in order and stopped in reverse; only started ones are stopped."""

    def __init__(self, stages: Sequence[Stage] = ()) -> None:
        self.planned: list[Stage] = list(stages)
        self.started: list[Stage] = []

    def add(self, stage: Stage) -> None:
        self.planned.append(stage)

    def start(self) -> None:
        """Start every planned stage in order; raises what a stage raised, the others
        already started still running (the caller stops them)."""
        for stage in self.planned:
            stage.start()
            self.started.append(stage)

    def stop(self, deadline: Deadline) -> None:
        """Stop the started stages in reverse, each with what remains of ``deadline``.

        Each stage's ``stop`` runs on a helper thread and is waited for until it
        returns or the deadline has passed (or been forced) by :data:`OVERRUN_S`,
        so a stage that blocks longer than it was given cannot hold the process
        past its grace period; it is logged and the next stage stops. A stage that
        raises is logged and the others still stop.
        """
        while self.started:
            stage = self.started.pop()
            done = threading.Event()

            def run(stage: Stage = stage, done: threading.Event = done) -> None:
                try:
                    stage.stop(deadline)
                except Exception:
                    log.exception("daemon.stage_stop_failed", stage=stage.name)
                finally:
                    done.set()

            threading.Thread(target=run, name=f"stop-{stage.name}", daemon=True).start()
            overrun_by: float | None = None
            while not done.wait(POLL_S):
                if not deadline.passed:
                    continue
                overrun_by = overrun_by or time.monotonic() + OVERRUN_S
                if time.monotonic() >= overrun_by:
                    log.warning("daemon.stage_overran", stage=stage.name)
                    break

"""Waiting on a condition with a deadline: the suite's one way to let time pass."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")

WAIT_S = 15.0
POLL_S = 0.05


def wait_for(
    condition: Callable[[], T | None], timeout_s: float = WAIT_S, what: str = "condition"
) -> T:
    """The first truthy value of ``condition()``, polled until ``timeout_s`` passed.

    Raises AssertionError naming ``what`` when the deadline passes first.
    """
    deadline = time.monotonic() + timeout_s
    while not (value := condition()):
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not met within {timeout_s} s")
        time.sleep(POLL_S)
    return value


def holds_for(condition: Callable[[], object], duration_s: float, what: str = "condition") -> None:
    """Asserts that ``condition()`` stays truthy for all of ``duration_s``, polled meanwhile.

    The opposite of ``wait_for``: for "still held after its time to live" style checks.
    """
    deadline = time.monotonic() + duration_s
    while time.monotonic() < deadline:
        assert condition(), f"{what}: stopped holding before {duration_s} s"
        time.sleep(POLL_S)


def retry(
    action: Callable[[], T],
    retry_on: Callable[[Exception], bool],
    timeout_s: float = WAIT_S,
    what: str = "action",
) -> T:
    """``action()``'s result, calling it again while it raises an exception ``retry_on``
    accepts; the last such exception propagates once ``timeout_s`` has passed."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            return action()
        except Exception as exc:
            if not retry_on(exc) or time.monotonic() > deadline:
                raise
        time.sleep(POLL_S)

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

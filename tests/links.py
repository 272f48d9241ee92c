"""A stand-in for the forwarder's link to the central server, for tests that need its
answers scripted rather than a central server running."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from cashserver.domain import Receipt, Shift
from cashserver.forward.link import Answer


class ScriptedLink:
    """Answers the n-th upload (1, 2, ...) with ``answer(n)`` and notes when each came."""

    def __init__(self, answer: Callable[[int], Answer]) -> None:
        self.answer = answer
        self.tries: list[float] = []

    def upload(
        self,
        shift: Shift,
        receipt_ids: Sequence[int],
        read: Callable[[Sequence[int]], list[Receipt]],
    ) -> Answer:
        self.tries.append(time.monotonic())
        return self.answer(len(self.tries))

    def close(self) -> None:
        pass

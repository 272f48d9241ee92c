"""A register's clock skew (SPEC 16): measured from what it sends, judged against a limit.

Pure functions over millisecond times. Two things measure a register's clock:

- its Handshake's ``register_time``: the register's clock minus the server's at
  receipt, ahead or behind (a Handshake without it measures nothing);
- an upload whose latest receipt closed more than the limit after the server
  received the upload: a clock running ahead by that much. Receipts in the past
  say nothing (a shift may well be sent late), so an upload never measures a
  clock that is behind, nor a skew within the limit.

The latest measurement is the register's ``clock_skew_s``, in whole seconds
(rounded half away from zero). A register is skewed while ``|clock_skew_s|`` is
beyond the limit; it is reported (``register.clock_skewed``) when it becomes so,
and again only after a measurement back within the limit.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum


class SkewSource(StrEnum):
    HANDSHAKE = "handshake"
    RECEIPTS = "receipts"


@dataclass(frozen=True, slots=True)
class SkewMeasurement:
    """One measurement of a register's clock: its time minus the server's, in seconds."""

    clock_skew_s: int
    source: SkewSource


def whole_seconds(ms: int) -> int:
    """Milliseconds to whole seconds, rounded half away from zero."""
    seconds = (abs(ms) + 500) // 1000
    return seconds if ms >= 0 else -seconds


def from_handshake(register_time_ms: int | None, received_ms: int) -> SkewMeasurement | None:
    """The skew a Handshake shows; None when the register sent no ``register_time``."""
    if register_time_ms is None:
        return None
    return SkewMeasurement(whole_seconds(register_time_ms - received_ms), SkewSource.HANDSHAKE)


def from_receipts(
    closed_at_ms: Iterable[int], received_ms: int, limit_s: int
) -> SkewMeasurement | None:
    """The skew an upload's receipts show: their latest ``closed_at`` minus the moment the
    server received them, when that is more than ``limit_s`` ahead; else None."""
    latest = max(closed_at_ms, default=None)
    if latest is None or latest - received_ms <= limit_s * 1000:
        return None
    return SkewMeasurement(whole_seconds(latest - received_ms), SkewSource.RECEIPTS)


def is_skewed(clock_skew_s: int | None, limit_s: int) -> bool:
    """Beyond the limit, ahead or behind; a register never measured is not skewed."""
    return clock_skew_s is not None and abs(clock_skew_s) > limit_s


def newly_skewed(before_s: int | None, after_s: int | None, limit_s: int) -> bool:
    """Whether going from ``before_s`` to ``after_s`` is to be reported: it crossed the
    limit outward (from within it, or from never measured)."""
    return is_skewed(after_s, limit_s) and not is_skewed(before_s, limit_s)

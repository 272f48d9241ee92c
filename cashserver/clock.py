"""The one clock: the time now, and times as ISO 8601 text.

Times are int milliseconds since the Unix epoch (UTC) everywhere inside, as in
:mod:`cashserver.domain`; this is where they come from and how they are shown.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from functools import lru_cache


def now_ms() -> int:
    """Milliseconds since the epoch, now."""
    return time.time_ns() // 1_000_000


@lru_cache(maxsize=1024)
def _day_prefix(day: int) -> str:
    return datetime.fromtimestamp(day * 86_400, tz=UTC).strftime("%Y-%m-%dT")


def iso_utc(ms: int | None) -> str | None:
    """ISO 8601 UTC with a ``Z``; milliseconds are shown only when not zero.

    The date part comes from a cache by day, and the time of day is plain
    arithmetic (POSIX time: every day is 86,400 s): an exchange file
    shows thousands of times of the same day or two, and this is several times
    faster than ``strftime`` per time, to the same text.
    """
    if ms is None:
        return None
    seconds, millis = divmod(ms, 1000)
    day, second = divmod(seconds, 86_400)
    hour, second = divmod(second, 3_600)
    minute, second = divmod(second, 60)
    text = f"{_day_prefix(day)}{hour:02d}:{minute:02d}:{second:02d}"
    return f"{text}.{millis:03d}Z" if millis else f"{text}Z"

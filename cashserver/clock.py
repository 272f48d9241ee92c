"""The one clock: the time now, and times as ISO 8601 text.

Times are int milliseconds since the Unix epoch (UTC) everywhere inside, as in
:mod:`cashserver.domain`; this is where they come from and how they are shown.
"""

from __future__ import annotations

import time
from datetime import UTC, date, datetime, tzinfo
from functools import lru_cache


def parse_iso_ms(text: str, zone: tzinfo = UTC) -> int:
    """ISO 8601 text as epoch milliseconds: a ``Z`` or an offset is honoured, a time
    without one is in ``zone``. Raises ValueError if the text is not ISO 8601."""
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=zone)
    return int(moment.timestamp() * 1000)


def local_midnight_ms(day: date, zone: tzinfo) -> int:
    """The instant ``day`` starts in ``zone``, in epoch milliseconds."""
    return int(datetime.combine(day, datetime.min.time(), tzinfo=zone).timestamp() * 1000)


def now_ms() -> int:
    """Milliseconds since the epoch, now."""
    return time.time_ns() // 1_000_000


@lru_cache(maxsize=1024)
def _day_prefix(day: int) -> str:
    return datetime.fromtimestamp(day * 86_400, tz=UTC).strftime("%Y-%m-%dT")


HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS
"""A day of 24 hours in milliseconds (a UTC day; a local day may be 23 or 25 hours)."""

_MINUTES = tuple(f"{hour:02d}:{minute:02d}:" for hour in range(24) for minute in range(60))
_SECONDS = tuple(f"{second:02d}" for second in range(60))
_MILLIS = ("Z", *(f".{millis:03d}Z" for millis in range(1, 1000)))


def iso_utc(ms: int | None) -> str | None:
    """ISO 8601 UTC with a ``Z``; milliseconds are shown only when not zero.

    The date part comes from a cache by day, the rest from tables by minute of
    the day, second and millisecond (POSIX time: every day is 86,400 s). An
    exchange file shows thousands of times of the same day or two, and this is
    three times faster than ``strftime`` per time, to the same text.
    """
    if ms is None:
        return None
    seconds, millis = divmod(ms, 1000)
    day, second = divmod(seconds, 86_400)
    minute, second = divmod(second, 60)
    return f"{_day_prefix(day)}{_MINUTES[minute]}{_SECONDS[second]}{_MILLIS[millis]}"


def local_text(value: int | str | None, zone: tzinfo, seconds: bool = False) -> str:
    """A time for people: ``YYYY-MM-DD HH:MM`` (``:SS`` with ``seconds``) in ``zone``;
    "" for None. ``value`` is milliseconds, or ISO 8601 as the JSON rows carry it."""
    if value is None or value == "":
        return ""
    if isinstance(value, int):
        moment = datetime.fromtimestamp(value / 1000, UTC)
    else:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return moment.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M")

"""The one clock: the time now, and times as ISO 8601 text.

Times are int milliseconds since the Unix epoch (UTC) everywhere inside, as in
:mod:`cashserver.domain`; this is where they come from and how they are shown.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime


def now_ms() -> int:
    """Milliseconds since the epoch, now."""
    return time.time_ns() // 1_000_000


def iso_utc(ms: int | None) -> str | None:
    """ISO 8601 UTC with a ``Z``; milliseconds are shown only when not zero."""
    if ms is None:
        return None
    seconds, millis = divmod(ms, 1000)
    text = datetime.fromtimestamp(seconds, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{text}.{millis:03d}Z" if millis else f"{text}Z"

"""The daily trim of the events table (``[jobs] events_keep_days``)."""

from __future__ import annotations

from cashserver.clock import DAY_MS, now_ms
from cashserver.log import get_logger
from cashserver.store.events import Events

log = get_logger(__name__)


def trim_events(events: Events, keep_days: int) -> int:
    """Delete events older than ``keep_days``; returns how many."""
    removed = events.trim(now_ms() - keep_days * DAY_MS)
    if removed:
        log.info("events.trimmed", events=removed, keep_days=keep_days)
    return removed

"""``cashserver upstream status`` and ``GET /api/upstream`` (SPEC 15): one document.

Everything in it is read from the database, so the command, the console and every
daemon of a cluster show the same thing: the backlog from the forwarding rows, the
last acknowledgement from their times, and the link's state and last error from the
event log (the newest of ``forward.sent``, ``forward.rejected`` and ``forward.failed``
says whether the central server answered the last try).
"""

from __future__ import annotations

from typing import Any

import orjson
from sqlalchemy import Engine, func, select

from cashserver.clock import iso_utc
from cashserver.config import Config
from cashserver.store.forwards import Forwards
from cashserver.store.schema import events, forwards

TRIES = ("forward.sent", "forward.rejected", "forward.failed")
REJECTED_LISTED = 100


def upstream_status(engine: Engine, config: Config, with_rejected: bool = True) -> dict[str, Any]:
    """The SPEC 15 status object (``rejected`` added when ``with_rejected``)."""
    target = config.upstream.target
    store = Forwards(engine)
    backlog = store.backlog()
    last_try = (
        select(events.c.event)
        .where(events.c.event.in_(TRIES))
        .order_by(events.c.time.desc(), events.c.event_id.desc())
        .limit(1)
    )
    last_failure = (
        select(events.c.time, events.c.fields)
        .where(events.c.event == "forward.failed")
        .order_by(events.c.time.desc(), events.c.event_id.desc())
        .limit(1)
    )
    with engine.connect() as conn:
        latest = conn.execute(last_try).scalar()
        failure = conn.execute(last_failure).first()
        last_forwarded = conn.execute(select(func.max(forwards.c.acked_at))).scalar()
    state = "off" if not target else "retrying" if latest == "forward.failed" else "ok"
    error = None
    if failure is not None:
        fields = orjson.loads(failure.fields)
        error = str(fields.get("reason") or "")
    document: dict[str, Any] = {
        "target": target,
        "state": state,
        "backlog_shifts": backlog.shifts,
        "backlog_receipts": backlog.receipts,
        "oldest_unforwarded_at": iso_utc(backlog.oldest_ms),
        "last_forwarded_at": iso_utc(None if last_forwarded is None else int(last_forwarded)),
        "last_error": error,
        "last_error_at": iso_utc(None if failure is None else int(failure.time)),
        "rejected_shifts": backlog.rejected,
    }
    if with_rejected:
        document["rejected"] = [
            {**item, "at": iso_utc(item["at"])} for item in store.rejected(REJECTED_LISTED)
        ]
    return document

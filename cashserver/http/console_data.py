"""What the console's pages and the JSON API both show, read the same way.

Every API document has the keys of the matching CLI ``--json`` output, and its
query parameters are the CLI's filters; the pages render the same documents.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime, timedelta
from typing import Any

from cashserver.clock import iso_utc, parse_iso_ms
from cashserver.http.context import HttpContext
from cashserver.skew import is_skewed
from cashserver.store.event_log import EventFilter, event_page
from cashserver.store.reading import Reader, ShiftFilter, register_document
from cashserver.store.reports import Reports

LOG_PAGE_SIZE = 50
LOG_MAX_LIMIT = 1000
TRUE_WORDS = ("1", "true", "yes", "on")


class BadQuery(ValueError):
    """A query parameter that cannot be read; the message names it."""


def date_param(params: Mapping[str, str], name: str) -> date | None:
    text = params.get(name, "").strip()
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise BadQuery(f"{name}: expected YYYY-MM-DD, got {text!r}") from None


def instant_param(params: Mapping[str, str], name: str) -> int | None:
    """An ISO 8601 time in milliseconds: UTC unless it carries an offset."""
    text = params.get(name, "").strip()
    if not text:
        return None
    try:
        return parse_iso_ms(text)
    except ValueError:
        raise BadQuery(f"{name}: expected an ISO 8601 time, got {text!r}") from None


def int_param(params: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    text = params.get(name, "").strip()
    if not text:
        return default
    if not text.isdigit() or not low <= int(text) <= high:
        raise BadQuery(f"{name}: expected a whole number from {low} to {high}, got {text!r}")
    return int(text)


def flag_param(params: Mapping[str, str], name: str) -> bool:
    return params.get(name, "").strip().lower() in TRUE_WORDS


def text_param(params: Mapping[str, str], name: str) -> str | None:
    return params.get(name, "").strip() or None


# -- registers ------------------------------------------------------------------------


def register_rows(
    ctx: HttpContext,
    store_code: str | None = None,
    state: str | None = None,
    skewed: bool = False,
) -> list[dict[str, Any]]:
    """The directory's rows; ``state`` keeps the registers in that loading state
    (``ERROR``...; ``none``: never pulled), ``skewed`` those whose last measured clock
    skew is beyond ``[registers] max_clock_skew_s``: the Overview's links."""
    rows = [register_document(i) for i in Reader(ctx.engine, ctx.config).registers(store_code)]
    if state is not None:
        wanted = None if state.lower() == "none" else state.upper()
        rows = [r for r in rows if r["state"] == wanted]
    if skewed:
        limit = ctx.config.registers.max_clock_skew_s
        rows = [r for r in rows if is_skewed(r["clock_skew_s"], limit)]
    return rows


# -- shifts ---------------------------------------------------------------------------


def shift_filter(params: Mapping[str, str]) -> ShiftFilter:
    return ShiftFilter(
        store_code=text_param(params, "store"),
        register_code=text_param(params, "register"),
        date_from=date_param(params, "from"),
        date_to=date_param(params, "to"),
        not_exported=flag_param(params, "not_exported"),
        sales_date=date_param(params, "sales_date"),
        not_forwarded=flag_param(params, "not_forwarded"),
    )


def shift_rows(ctx: HttpContext, flt: ShiftFilter) -> list[dict[str, Any]]:
    return Reader(ctx.engine, ctx.config).shift_rows(flt)


def month_of(ms: int | None, ctx: HttpContext, store_code: str) -> tuple[date, date]:
    """The local month holding the instant ``ms`` (today when None): [1st, next 1st)."""
    zone = ctx.config.store_timezone(store_code)
    moment = datetime.now(zone) if ms is None else datetime.fromtimestamp(ms / 1000, zone)
    first = moment.date().replace(day=1)
    following = (first + timedelta(days=32)).replace(day=1)
    return first, following


# -- reports ----------------------------------------------------------------------------


def store_day_rows(
    ctx: HttpContext, store: str | None, date_from: date | None, date_to: date | None
) -> list[dict[str, Any]]:
    return Reports(ctx.engine, ctx.config).store_days(store, date_from, date_to)


def department_report(ctx: HttpContext, workshift_id: int) -> dict[str, Any] | None:
    return Reports(ctx.engine, ctx.config).departments(workshift_id)


# -- log --------------------------------------------------------------------------------


def event_filter(params: Mapping[str, str]) -> EventFilter:
    return EventFilter(
        event=params.get("event", "").strip(),
        since_ms=instant_param(params, "since"),
        until_ms=instant_param(params, "until"),
    )


def log_rows(
    ctx: HttpContext, flt: EventFilter, limit: int, offset: int
) -> tuple[list[dict[str, Any]], int]:
    """Events as ``cashserver log --json`` prints them (``time`` ISO 8601 UTC), newest first."""
    rows, total = event_page(ctx.engine, flt, limit, offset)
    for row in rows:
        row["time"] = iso_utc(row["time"])
    return rows, total

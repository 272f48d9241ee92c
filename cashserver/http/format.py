"""How the console prints values: money, quantities and times for people.

Money is kopecks in, roubles out with a thin space between thousands and two
decimals, computed with integers (never a float). Times are shown in the store's
time zone, since that is the day an operator reconciles.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from cashserver.clock import local_text
from cashserver.config import Config
from cashserver.money import format_money

THOUSANDS = "\u202f"  # narrow no-break space: groups digits and never wraps


def _group(whole: int) -> str:
    return f"{whole:,}".replace(",", THOUSANDS)


def money(kopecks: int | None) -> str:
    if kopecks is None:
        return ""
    return format_money(kopecks, thousands=THOUSANDS, minus="−")


def quantity(thousandths: int | None) -> str:
    if thousandths is None:
        return ""
    sign = "−" if thousandths < 0 else ""
    whole, part = divmod(abs(thousandths), 1000)
    return f"{sign}{_group(whole)}.{part:03d}"


def count(value: int | None) -> str:
    return "" if value is None else _group(value)


def parse_instant(value: Any) -> datetime | None:
    """An ISO 8601 UTC string (as the JSON rows carry) or epoch milliseconds."""
    if value is None or value == "":
        return None
    if isinstance(value, int):
        return datetime.fromtimestamp(value / 1000, UTC)
    return datetime.fromisoformat(str(value).replace("Z", "+00:00"))


class TimeFormat:
    """``local(value, store_code)``: a time in the store's zone, ``YYYY-MM-DD HH:MM``."""

    def __init__(self, config: Config) -> None:
        self.config = config

    def local(self, value: Any, store_code: str | None = None, seconds: bool = False) -> str:
        return local_text(value, self.config.store_timezone(store_code or ""), seconds)

    def local_date(self, value: Any, store_code: str | None = None) -> str:
        moment = parse_instant(value)
        if moment is None:
            return ""
        return moment.astimezone(self.config.store_timezone(store_code or "")).date().isoformat()


def install_filters(env: Any, config: Config) -> None:
    """Add the console's filters to a Jinja2 environment."""
    times = TimeFormat(config)
    env.filters.update(
        money=money,
        quantity=quantity,
        count=count,
        local=times.local,
        local_date=times.local_date,
    )

"""The console's pull: the registers ticked on the Registers page, for local dates.

Runs through the daemon's own :class:`~cashserver.pull.runner.Puller` (so its shifts
go through the daemon's loader, and its per-register lock keeps a scheduled pull
and this one apart). A date is midnight in the register's time zone, as for
``cashserver pull --from DATE``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import date
from typing import Any
from zoneinfo import ZoneInfo

from cashserver.clock import local_midnight_ms
from cashserver.config import Config
from cashserver.domain import SalesQuery, TimeRange
from cashserver.pull.runner import Puller, PullTarget, pull_registers, target_of
from cashserver.store.reading import RegisterInfo

SKIPPED = "SKIPPED"
WAIT_FOR_RUNNING_S = 5.0
"""How long a console pull waits for a scheduled pull of the same register to end."""


def midnight_ms(day: date, zone: str) -> int:
    return local_midnight_ms(day, ZoneInfo(zone))


def pull_now(
    config: Config,
    puller: Puller,
    registers: Sequence[RegisterInfo],
    date_from: date,
    date_to: date,
) -> list[Mapping[str, Any]]:
    """One ``pull --json`` row a register, in the order given; one without an address
    is a row with state ``SKIPPED``."""
    jobs: list[tuple[PullTarget, SalesQuery]] = []
    rows: list[Mapping[str, Any] | None] = []
    for info in registers:
        target = target_of(info, config)
        if target is None:
            rows.append(
                {
                    "store_code": info.store_code,
                    "register_code": info.register_code,
                    "state": SKIPPED,
                    "state_message": "no address: this register is not pulled",
                    "shifts": 0,
                    "receipts_stored": 0,
                    "receipts_duplicate": 0,
                }
            )
            continue
        query = TimeRange(
            midnight_ms(date_from, target.timezone), midnight_ms(date_to, target.timezone)
        )
        jobs.append((target, query))
        rows.append(None)
    results = iter(pull_registers(puller, jobs, config.pull.concurrency, wait_s=WAIT_FOR_RUNNING_S))
    return [row if row is not None else next(results).as_json() for row in rows]


def console_pull(
    config: Config, puller: Puller
) -> Callable[[Sequence[RegisterInfo], date, date], list[Mapping[str, Any]]]:
    """The :data:`~cashserver.http.context.PullRunner` of a daemon: its own puller."""

    def run(
        registers: Sequence[RegisterInfo], date_from: date, date_to: date
    ) -> list[Mapping[str, Any]]:
        return pull_now(config, puller, registers, date_from, date_to)

    return run

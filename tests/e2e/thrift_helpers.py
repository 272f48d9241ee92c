"""Reading a daemon's events, and Thrift shifts to push."""

from __future__ import annotations

import json
from typing import Any

from cashserver.emulator.generate import ShiftPlan, generate_upload
from tests.e2e.daemon import ServeProcess
from tests.waiting import wait_for


def events(daemon: ServeProcess, name: str) -> list[dict[str, Any]]:
    """The daemon's logged events called ``name``, oldest first."""
    found = []
    for line in daemon.log_text().splitlines():
        if f'"{name}"' in line:
            try:
                event = json.loads(line)
            except ValueError:
                continue
            if event.get("event") == name:
                found.append(event)
    return found


def wait_event(daemon: ServeProcess, name: str, **fields: Any) -> dict[str, Any]:
    """The first event ``name`` whose fields include ``fields``, waiting for it."""

    def match() -> dict[str, Any] | None:
        return next(
            (e for e in events(daemon, name) if all(e.get(k) == v for k, v in fields.items())),
            None,
        )

    try:
        found: dict[str, Any] = wait_for(match)
    except AssertionError:
        raise AssertionError(f"no {name} {fields}: {daemon.log_text()[-3000:]}") from None
    return found


def shift(register: str, number: int, receipts: int = 10, store: str = "S1") -> Any:
    return generate_upload(ShiftPlan(store, register, number, receipts, seed=3))

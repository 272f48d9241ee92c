"""Register clock skew (SPEC 16) through a real ``serve``, over both protocols.

Registers shake hands with clocks 10 minutes ahead (gRPC) and 5 minutes behind
(Thrift); another uploads receipts closed an hour in the server's future; an older
register sends no ``register_time`` at all. ``registers list`` shows each measured
skew, the metric counts the skewed ones, and each is reported once.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from cashserver.clock import now_ms
from cashserver.domain import (
    Line,
    Payment,
    PaymentMethod,
    Receipt,
    ReceiptKind,
    Shift,
    Upload,
    UploadStatus,
)
from cashserver.emulator.generate import ShiftPlan, generate_upload
from cashserver.emulator.push import GrpcPusher
from cashserver.emulator.thrift_push import ThriftPusher
from tests.e2e.daemon import ServeProcess, scrape
from tests.waiting import wait_for

MINUTE_S = 60
CLOSE_S = 3.0
"""How near the measured skew must be to the real one: a call's own time and rounding."""


def registers(daemon: ServeProcess) -> dict[str, dict[str, Any]]:
    rows = json.loads(daemon.cli("registers", "list", "--json").stdout)
    return {r["register_code"]: r for r in rows}


def measured(daemon: ServeProcess, codes: set[str]) -> dict[str, dict[str, Any]]:
    """``registers list`` once every register of ``codes`` has been seen."""

    def all_seen() -> dict[str, dict[str, Any]] | None:
        rows = registers(daemon)
        return rows if all(rows.get(c, {}).get("last_seen_at") for c in codes) else None

    return wait_for(all_seen, 30, "the registers' sightings written")


def future_upload(register: str, ahead_ms: int) -> Upload:
    """An open shift whose receipts the register closed ``ahead_ms`` after now."""
    closed = now_ms() + ahead_ms
    items = tuple(
        Receipt(
            uid=str(uuid.uuid4()),
            number=n,
            kind=ReceiptKind.SALE,
            closed_at=closed - (3 - n) * 60_000,
            lines=(Line(1, "A1", "", "tea", "Grocery", 1000, 9900, 9900),),
            payments=(Payment(PaymentMethod.CASH, 9900),),
        )
        for n in (1, 2, 3)
    )
    return Upload(Shift("S1", register, 1, closed - 3_600_000), items)


def test_skew_over_both_protocols_and_from_receipts(serve: ServeProcess) -> None:
    ahead = GrpcPusher(serve.grpc_target, timeout_s=10, clock_offset_s=10 * MINUTE_S)
    behind = ThriftPusher(serve.thrift_target, timeout_s=10, clock_offset_s=-5 * MINUTE_S)
    receipts_ahead = GrpcPusher(serve.grpc_target, timeout_s=10, clock_offset_s=None)
    older = ThriftPusher(serve.thrift_target, timeout_s=10, clock_offset_s=None)
    try:
        ahead.handshake("S1", "G1")
        behind.handshake("S1", "T1")
        receipts_ahead.handshake("S1", "U1")
        result = receipts_ahead.upload(future_upload("U1", 3_600_000))
        assert result.status is UploadStatus.LOADED
        settings = older.handshake("S1", "O1")  # an older register: no register_time
        assert settings.protocol_version == 4
        plain = older.upload(generate_upload(ShiftPlan("S1", "O1", 1, 20, seed=3)))
        assert plain.status is UploadStatus.LOADED
    finally:
        for pusher in (ahead, behind, receipts_ahead):
            pusher.close()
    rows = measured(serve, {"G1", "T1", "U1", "O1"})
    skews = {code: row["clock_skew_s"] for code, row in rows.items()}
    assert abs(skews["G1"] - 600) <= CLOSE_S, skews
    assert abs(skews["T1"] + 300) <= CLOSE_S, skews
    assert abs(skews["U1"] - 3600) <= CLOSE_S, skews
    assert skews["O1"] is None  # seen, never measured

    assert wait_for(
        lambda: scrape(serve).get(("cashserver_registers_clock_skewed", ())) == 3,
        15,
        "three skewed registers in /metrics",
    )
    table = serve.cli("registers", "list").stdout
    assert "clock skew (s)" in table.splitlines()[0]
    status, body = serve.http("/api/registers")
    assert status == 200
    assert {r["register_code"]: r["clock_skew_s"] for r in json.loads(body)} == skews

    # G1 again, still ahead, then a new register M1 ahead as a marker: once M1's report
    # is in the log, a second report of G1 (written in the same round or before) would be.
    again = GrpcPusher(serve.grpc_target, timeout_s=10, clock_offset_s=10 * MINUTE_S + 30)
    marker = GrpcPusher(serve.grpc_target, timeout_s=10, clock_offset_s=15 * MINUTE_S)
    try:
        again.handshake("S1", "G1")
        marker.handshake("S1", "M1")
    finally:
        again.close()
        marker.close()

    def with_marker() -> list[dict[str, Any]] | None:
        found = serve.events("register.clock_skewed")
        return found if any(e["register_code"] == "M1" for e in found) else None

    reports = wait_for(with_marker, 30, "M1's clock reported")
    by_register: dict[str, tuple[str, int]] = {}
    for event in reports:
        assert event["register_code"] not in by_register, f"reported twice: {event}"
        by_register[event["register_code"]] = (event["source"], event["clock_skew_s"])
    assert set(by_register) == {"G1", "T1", "U1", "M1"}
    assert [by_register[c][0] for c in ("G1", "T1", "U1", "M1")] == [
        "handshake",
        "handshake",
        "receipts",
        "handshake",
    ]
    assert all(e["store_code"] == "S1" for e in reports)
    assert scrape(serve).get(("cashserver_registers_clock_skewed", ())) == 4


def test_a_clock_back_within_the_limit_stops_counting(serve: ServeProcess) -> None:
    for offset in (-20 * MINUTE_S, 1):
        # The emulator as integrators run it, its clock set off on the command line.
        serve.cli(
            "emulator",
            "push",
            "--target",
            serve.thrift_target,
            "--protocol",
            "3",
            "--store",
            "S1",
            "--register",
            "T9",
            "--receipts",
            "5",
            "--clock-offset-s",
            str(offset),
        )

        def near(offset: int = offset) -> bool:
            skew = registers(serve).get("T9", {}).get("clock_skew_s")
            return skew is not None and abs(skew - offset) <= CLOSE_S

        wait_for(near, 30, f"T9 measured near {offset} s")
        skewed = 1 if abs(offset) > 120 else 0
        assert scrape(serve).get(("cashserver_registers_clock_skewed", ())) == skewed

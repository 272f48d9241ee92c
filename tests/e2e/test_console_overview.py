"""The Overview in a real browser (Debian's chromium through Playwright) against ``serve``.

Sales of two named stores over the last days and today are pushed over gRPC; then
problems are made real: a register pulled at an address where nothing listens (ERROR),
a garbage file dropped into ``incoming/`` (to ``broken/``), a shift without an open
time uploaded twice (rule 2: ``error/``), and a store whose outbox folder is a file
(its closed shift fails to export). The page must run no script with an error, draw
both charts with the stores' names in their legends, and each problem's count must
be the number of items the page it links to lists. Screenshots go to
``test-artifacts/browser/``.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, cast
from zoneinfo import ZoneInfo

import pytest

from cashserver.domain import Shift, Upload
from cashserver.emulator.push import GrpcPusher
from cashserver.http.passwords import hash_password
from tests.e2e.browser import ARTIFACTS, browser_problem, chromium_page
from tests.e2e.daemon import ServeProcess
from tests.pg import free_port
from tests.recent_sales import sale, shift_upload
from tests.waiting import wait_for

PASSWORD = "open sesame"
DEADLINE_S = 20.0
NAMES = {"S1": "Lenina 12", "S2": "Market Square"}
ZONE = ZoneInfo("Europe/Moscow")
HOUR_MS = 3_600_000


@pytest.fixture
def browser_page() -> Iterator[tuple[Any, list[str]]]:
    problem = browser_problem()
    if problem is not None:
        pytest.skip(problem)
    with chromium_page(1100, 900, DEADLINE_S) as page:
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(f"page error: {exc}"))
        page.on(
            "console",
            lambda msg: (
                errors.append(f"console {msg.type}: {msg.text}")
                if msg.type in ("error", "warning")
                else None
            ),
        )
        yield page, errors


@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[ServeProcess]:
    sections: dict[str, dict[str, Any]] = {
        "http": {"password_hash": hash_password(PASSWORD)},
        "server": {"timezone": "Europe/Moscow"},
        "pull": {"timeout_s": 2},
    }
    sections.update({f"stores.{code}": {"name": name} for code, name in NAMES.items()})
    serve = ServeProcess(tmp_path, **cast("dict[str, Any]", sections))
    serve.start()
    yield serve
    serve.kill()


def shot(page: Any, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def at(day: int, hour: int, minute: int = 0) -> int:
    """Milliseconds at a local time ``day`` days from today in Moscow."""
    today = datetime.now(ZONE).replace(hour=0, minute=0, second=0, microsecond=0)
    moment = (today + timedelta(days=day)).replace(hour=hour, minute=minute)
    return int(moment.timestamp() * 1000)


def push_sales(serve: ServeProcess) -> None:
    """Four past days of both stores, and today until the last full hour."""
    now_hour = datetime.now(ZONE).hour
    pusher = GrpcPusher(serve.grpc_target)
    try:
        number = 0
        for day in (-20, -6, -2, -1):
            for store, base in (("S1", 90_000_00), ("S2", 55_000_00)):
                number += 1
                sales = [(at(day, 9 + i), base // 4 + (day + 30) * 100_00) for i in range(4)]
                pusher.upload(shift_upload(store, "R1", number, sales))
        today = [(at(0, h, 15), 1_250_00) for h in range(max(0, now_hour - 5), now_hour)]
        today += [(at(0, max(0, now_hour - 1), 40), 2_000_00)] if now_hour else []
        if today:
            pusher.upload(shift_upload("S1", "R2", 100, today, closed=False))
            pusher.upload(shift_upload("S2", "R2", 100, today[:2], closed=False))
    finally:
        pusher.close()


def make_problems(serve: ServeProcess) -> None:
    # A register whose address answers nothing: its pull ends in ERROR.
    dead = f"127.0.0.1:{free_port()}"
    serve.cli("registers", "add", "S2", "DEAD", "--address", dead, "--pull-interval", "0")
    day = datetime.now(ZONE).date()
    pulled = serve.cli(
        "pull", "S2/DEAD", "--from", str(day - timedelta(days=1)), "--to", str(day), check=False
    )
    assert pulled.returncode == 1, pulled.stdout + pulled.stderr
    # A file that is not a sales file: broken/.
    incoming = serve.data_dir / "spool" / "incoming"
    (incoming / "00000000000000000001-dropped-by-hand.json").write_text("this is { not json")
    # A shift without an open time, twice: rule 2 keeps the second in error/.
    pusher = GrpcPusher(serve.grpc_target)
    try:
        for n in (1, 2):
            pusher.upload(Upload(Shift("S1", "NOOPEN", 7, None), (sale(at(-1, 12), 100_00, n),)))
        # A store whose outbox folder is a file: its closed shift cannot be exported.
        (serve.data_dir / "outbox" / "json").mkdir(parents=True, exist_ok=True)
        (serve.data_dir / "outbox" / "json" / "S3").write_text("in the way")
        pusher.upload(shift_upload("S3", "R1", 1, [(at(-1, 10), 500_00)]))
        # A shift left open three days ago: that store-day is incomplete.
        pusher.upload(shift_upload("S2", "LATE", 1, [(at(-3, 20), 300_00)], closed=False))
        # A register whose receipts are closed an hour in the server's future: skewed.
        ahead = int(time.time() * 1000) + HOUR_MS
        pusher.upload(shift_upload("S1", "FAST", 1, [(ahead, 100_00)], closed=False))
    finally:
        pusher.close()


def overview(serve: ServeProcess) -> dict[str, Any]:
    status, body = serve.http("/api/overview")
    assert status in (200, 303), body
    return dict(json.loads(body)) if status == 200 else {}


def test_the_overview_shows_problems_and_sales(
    browser_page: tuple[Any, list[str]], daemon: ServeProcess
) -> None:
    page, errors = browser_page
    base = daemon.http_url
    push_sales(daemon)

    page.goto(base + "/")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r".*/$"))

    # With sales pushed and exported, nothing is wrong; both charts name both stores.
    def exported() -> bool:
        page.goto(base + "/")
        return "Nothing is wrong" in str(page.inner_text("#problems-summary"))

    wait_for(exported, DEADLINE_S, "no problems once the pushed shifts are exported")
    for chart in ("revenue", "receipts"):
        legend = page.locator(f"#chart-{chart} .legend-label").all_text_contents()
        assert legend == [NAMES["S1"], NAMES["S2"]], (chart, legend)
    # A marker a store and day with sales (4 past days each, and today when it has sales).
    sold = json.loads(page.context.request.get(base + "/api/overview").text())["revenue_days"]
    markers = sum(1 for store in sold["stores"] for value in store["revenue"] if value)
    assert markers >= 8 and page.locator("#chart-revenue circle").count() == markers
    if datetime.now(ZONE).hour:
        assert page.locator("#chart-receipts rect").count() >= 1
    y_ticks = page.locator("#chart-revenue text.tick").all_text_contents()
    assert any("\u202f" in t for t in y_ticks), y_ticks  # thousands of roubles, grouped
    shot(page, "overview-01-no-problems")

    make_problems(daemon)
    counts: dict[str, int] = {}
    made = {
        "registers_error": 1,
        "spool_broken": 1,
        "spool_error": 1,
        "exports_failed": 1,
        "store_days_incomplete": 1,
        "clocks_skewed": 1,
    }

    def settled() -> bool:
        document = json.loads(page.context.request.get(base + "/api/overview").text())
        counts.update({p["key"]: int(p["count"]) for p in document["problems"]})
        return all(counts[key] == n for key, n in made.items())

    wait_for(settled, DEADLINE_S, f"the made problems counted: {counts}")
    assert counts["shifts_not_exported"] == 1, counts
    page.goto(base + "/")
    shot(page, "overview-02-problems")
    for key, count in counts.items():
        tile = page.locator(f"#problem-{key}")
        assert tile.locator(".problem-count").inner_text() == str(count)
        assert ("problem-bad" in (tile.get_attribute("class") or "")) == bool(count)

    # Each problem's link leads to a page listing exactly what it counted.
    def follow(key: str) -> None:
        page.goto(base + "/")
        page.click(f"#problem-{key} a")
        page.wait_for_load_state()

    follow("registers_error")
    assert page.locator("table.registers tbody tr").count() == 1
    assert "DEAD" in page.inner_text("table.registers tbody")
    assert page.locator("table.registers .state-error").count() == 1
    shot(page, "overview-03-registers-error")

    follow("clocks_skewed")
    assert page.locator("table.registers tbody tr").count() == 1
    assert "FAST" in page.inner_text("table.registers tbody")
    assert page.locator("table.registers .skewed").count() == 1
    shot(page, "overview-03b-registers-skewed")

    follow("store_days_incomplete")
    days = page.locator("table.incomplete-days tbody tr")
    assert (
        days.count() == 1
        and str(datetime.now(ZONE).date() - timedelta(days=3)) in days.inner_text()
    )
    days.locator("a").click()
    page.wait_for_url(re.compile(r".*/shifts\?store=S2&sales_date=.*"))
    assert page.locator("tr[data-workshift]").count() == 1
    assert "LATE" in page.inner_text("tr[data-workshift]")
    shot(page, "overview-03c-store-day-shifts")

    follow("spool_broken")
    assert page.url.endswith("/spool#broken")
    broken = page.locator("#files-broken tbody tr")
    assert broken.count() == 1 and "dropped-by-hand" in broken.inner_text()
    assert "cannot parse" in broken.inner_text()
    errored = page.locator("#files-error tbody tr")
    assert errored.count() == 1 and "NOOPEN" in errored.inner_text()
    assert errored.locator(".file-reason").inner_text() not in ("", "(no reason file)")
    shot(page, "overview-04-spool")

    follow("exports_failed")
    assert page.url.endswith("/export#failed")
    failed = page.locator("#failed-table tbody tr")
    assert failed.count() == 1 and "S3" in failed.inner_text()
    assert page.locator("#backlog-table tbody tr").count() == counts["shifts_not_exported"]
    shot(page, "overview-05-export")

    api = json.loads(page.context.request.get(base + "/api/spool").text())
    assert (len(api["broken"]), len(api["error"])) == (1, 1)
    assert api["broken"][0]["reason"] == "cannot parse"
    registers = json.loads(page.context.request.get(base + "/api/registers?state=ERROR").text())
    assert [r["register_code"] for r in registers] == ["DEAD"]

    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(base + "/")
    shot(page, "overview-06-phone")
    assert not errors, errors


@pytest.fixture
def forwarding_daemon(tmp_path: Path) -> Iterator[ServeProcess]:
    """A store server whose central server does not answer."""
    serve = ServeProcess(
        tmp_path,
        http={"password_hash": hash_password(PASSWORD)},
        upstream={"target": f"127.0.0.1:{free_port()}", "retry_max_s": 2},
    )
    serve.start()
    yield serve
    serve.kill()


def test_the_upstream_backlog_links_to_the_shifts_not_forwarded(
    browser_page: tuple[Any, list[str]], forwarding_daemon: ServeProcess
) -> None:
    page, errors = browser_page
    base = forwarding_daemon.http_url
    pusher = GrpcPusher(forwarding_daemon.grpc_target)
    try:
        for number, day in enumerate((-2, -1), start=1):
            pusher.upload(shift_upload("S1", "R1", number, [(at(day, 10), 150_00)]))
    finally:
        pusher.close()
    page.goto(base + "/")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r".*/$"))

    def retrying() -> bool:
        page.goto(base + "/")
        return "upstream retrying" in str(page.inner_text("#problem-shifts_not_forwarded"))

    wait_for(retrying, DEADLINE_S, "the upstream tile says the link is retrying")
    tile = page.locator("#problem-shifts_not_forwarded")
    assert tile.locator(".problem-count").inner_text() == "2"
    shot(page, "overview-07-upstream")
    tile.locator("a").click()
    page.wait_for_url(re.compile(r".*/shifts\?not_forwarded=1$"))
    assert page.locator("tr[data-workshift]").count() == 2
    assert page.locator("#not-forwarded-filter").count() == 1
    shot(page, "overview-08-not-forwarded")
    assert not errors, errors

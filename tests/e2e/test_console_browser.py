"""The console in a real browser (Debian's chromium through Playwright) against ``serve``.

An operator logs in, sees the registers with their states, opens a register's
shifts, re-exports two not-exported shifts and sees them exported, opens the
department report from a shift's open date, starts a 10-day pull, declines it,
confirms it, and filters the log. Every page is saved as a screenshot under
``test-artifacts/browser/``. Names that arrive over the wire as ``<script>`` show
as text and run nothing. On a 1,400-pixel screen the Stores and Shifts pages, with
long store names and nine-digit sums, need no sideways scrolling.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from cashserver.domain import Line, Payment, PaymentMethod, Receipt, ReceiptKind, Shift, Upload
from cashserver.emulator.generate import opened_at_for
from cashserver.emulator.push import GrpcPusher
from cashserver.http.format import money
from cashserver.http.passwords import hash_password
from tests.e2e.browser import ARTIFACTS, browser_problem, chromium_page
from tests.e2e.daemon import ServeProcess, cli_env
from tests.pg import free_port
from tests.waiting import wait_for

PASSWORD = "open sesame"
EVIL = "<script>window.__pwned = 1</script>"
DEADLINE_S = 20.0


@pytest.fixture
def browser_page() -> Iterator[Any]:
    problem = browser_problem()
    if problem is not None:
        pytest.skip(problem)
    # A small laptop's window; the Shifts page is also shot at a phone's width.
    with chromium_page(900, 900, DEADLINE_S) as page:
        dialogs: list[str] = []

        def on_dialog(dialog: Any) -> None:
            dialogs.append(dialog.message)
            dialog.dismiss()

        page.on("dialog", on_dialog)
        yield page
        assert not dialogs, f"a page ran a script from the data: {dialogs}"


@pytest.fixture
def emulator() -> Iterator[str]:
    """A register's RegisterSales (the bundled emulator) for the pull."""
    address = f"127.0.0.1:{free_port()}"
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "cashserver.cli.main",
            "emulator",
            "serve",
            "--listen",
            address,
            "--protocol",
            "4",
            "--store",
            "S2",
            "--register",
            "P1",
            "--shifts",
            "20",
            "--receipts",
            "20",
            "--first-date",
            "2026-01-01",
        ],
        env=cli_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    yield address
    process.kill()
    process.wait()


@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[ServeProcess]:
    serve = ServeProcess(tmp_path, http={"password_hash": hash_password(PASSWORD)})
    serve.start()
    yield serve
    serve.kill()


def eventually(check: Callable[[], bool], what: str) -> None:
    wait_for(check, DEADLINE_S, what=what)


def shot(page: Any, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def push_sales(serve: ServeProcess) -> None:
    # Open shifts: serve exports closed shifts by itself, open ones only on re-export.
    serve.cli(
        "emulator",
        "push",
        "--target",
        serve.grpc_target,
        "--store",
        "S1",
        "--register",
        "R1",
        "--shifts",
        "3",
        "--receipts",
        "15",
        "--open",
    )
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
        "R2",
        "--shifts",
        "2",
        "--receipts",
        "10",
        "--open",
    )
    evil = Receipt(
        str(uuid.UUID(int=4242, version=4)),
        1,
        ReceiptKind.SALE,
        opened_at_for(1) + 3_600_000,
        cashier=EVIL,
        lines=(Line(1, "X1", "", EVIL, EVIL, 1000, 199_999_00, 199_999_00),),
        payments=(Payment(PaymentMethod.NONCASH, 199_999_00),),
    )
    pusher = GrpcPusher(serve.grpc_target)
    try:
        pusher.upload(Upload(Shift("S1", "R3", 1, opened_at_for(1)), (evil,)))
    finally:
        pusher.close()


def test_an_operator_works_in_the_console(
    browser_page: Any, daemon: ServeProcess, emulator: str
) -> None:
    page = browser_page
    push_sales(daemon)
    daemon.cli("registers", "add", "S2", "P1", "--address", emulator, "--pull-interval", "0")
    base = daemon.http_url

    # Log in: the console sends a visitor to the login page first.
    page.goto(base + "/registers")
    assert "/login" in page.url
    shot(page, "01-login")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r".*/registers$"))

    # Registers with their states, by colour and word.
    rows = page.locator("table.registers tbody tr")
    assert rows.count() == 4
    assert page.locator("table.registers .state-none").count() == 4
    assert "never pulled" in page.inner_text("table.registers")
    shot(page, "02-registers")

    # A register's shifts: two not-exported shifts selected and re-exported.
    page.click("table.registers >> text=R1")
    page.wait_for_url(re.compile(r".*/shifts\?.*register=R1"))
    assert page.locator("tr.not-exported").count() == 3
    chosen = [
        page.locator("tr.not-exported").nth(i).get_attribute("data-workshift") for i in (0, 1)
    ]
    for workshift in chosen:
        page.check(f"tr[data-workshift='{workshift}'] input[type=checkbox]")
    page.click("#reexport")
    page.wait_for_selector("#reexport-result")
    assert "2 written, 0 unchanged, 0 failed" in page.inner_text("#reexport-result")
    for workshift in chosen:
        row = page.locator(f"tr[data-workshift='{workshift}']")
        assert "not-exported" not in (row.get_attribute("class") or "")
        assert row.locator(".exported-cell").inner_text() == "yes"
    assert page.locator("tr.not-exported").count() == 1
    shot(page, "03-shifts-reexported")

    # The department report, from a shift's open date.
    page.click(f"tr[data-workshift='{chosen[0]}'] a[title='department report']")
    page.wait_for_url(re.compile(r".*/departments$"))
    assert page.locator("table.departments tbody tr").count() >= 1
    shot(page, "04-departments")

    # A name that arrived over the wire as <script> is shown as text.
    page.goto(base + "/shifts?store=S1&register=R3")
    page.click("a[title='department report']")
    page.wait_for_url(re.compile(r".*/departments$"))
    assert EVIL in page.inner_text("table.departments")
    assert page.evaluate("window.__pwned") is None
    assert "199\u202f999.00" in page.inner_text("table.departments")
    shot(page, "05-departments-escaped")

    # A 10-day pull: declined pulls nothing and says so; confirmed pulls.
    page.goto(base + "/registers")
    page.check("input[name=register][value='S2/P1']")
    page.fill("input[name=from]", "2026-01-05")
    page.fill("input[name=to]", "2026-01-15")
    page.click("#pull-submit")
    page.wait_for_selector("#pull-confirm")
    assert "Pull 10 days of sales from 1 register(s)?" in page.inner_text("#pull-confirm")
    shot(page, "06-pull-confirm")
    page.click("#pull-no")
    page.wait_for_selector("#pull-notice")
    assert "nothing was pulled" in page.inner_text("#pull-notice")
    shot(page, "07-pull-declined")
    page.check("input[name=register][value='S2/P1']")
    page.fill("input[name=from]", "2026-01-05")
    page.fill("input[name=to]", "2026-01-15")
    page.click("#pull-submit")
    page.click("#pull-yes")
    page.wait_for_selector("#pull-result")
    result = page.inner_text("#pull-result")
    assert "Pulled 1 register(s)" in result and "0 error(s)" in result
    assert re.search(r"[1-9]\d* shift\(s\)", result), result
    shot(page, "08-pull-result")
    page.goto(base + "/registers")
    pulled = page.locator("table.registers tr", has_text="P1")
    assert pulled.locator(".state-ready").count() == 1, pulled.inner_text()
    shot(page, "08b-registers-after-pull")

    # Store days over a range.
    page.goto(base + "/stores?store=S1&from=2026-01-01&to=2027-01-01")
    assert page.locator("table.store-days tbody tr").count() >= 1
    shot(page, "09-stores")

    # The log, filtered by event name (the daemon writes events every second).
    def log_shows_reexport() -> bool:
        page.goto(base + "/log")
        page.fill("input[name=event]", "console.reexported")
        page.click("#log-filter button[type=submit]")
        page.wait_for_load_state()
        return bool(
            page.locator(
                "table.log tbody tr td:nth-child(2)", has_text="console.reexported"
            ).count()
            == 1
        )

    eventually(log_shows_reexport, "the re-export in the log")
    assert page.locator("table.log tbody tr").count() == 1
    shot(page, "10-log-filtered")

    for name in ("export", "settings"):
        page.goto(f"{base}/{name}")
        shot(page, f"11-{name}")
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(base + "/shifts?store=S1&register=R1")
    assert page.locator("tr[data-workshift]").count() == 3
    shot(page, "12-shifts-phone")


def test_names_from_the_wire_are_escaped_without_a_browser(serve: ServeProcess) -> None:
    """The same check as above where no browser runs: the HTML itself carries no tag."""
    push_sales(serve)
    status, body = serve.http("/api/shifts?store=S1&register=R3")
    assert status == 200, body
    (row,) = json.loads(body)
    status, page = serve.http(f"/shifts/{row['workshift_id']}/departments")
    html = page.decode()
    assert status == 200 and EVIL not in html
    assert "&lt;script&gt;window.__pwned = 1&lt;/script&gt;" in html


LONG_NAMES = {
    "S7": "Гипермаркет «Лента» на проспекте Маршала Жукова, дом 31, корпус 2",
    "HYPER-MARKET-0042": "Торговый центр «Европейский», первый этаж, касса самообслуживания",
}
MONEY_KEYS = (
    *("sales_cash", "sales_noncash", "returns_cash", "returns_noncash"),
    *("revenue_cash", "revenue_noncash", "cash_in", "cash_out", "drawer"),
)


def big_shift(store: str, register: str, number: int, day: int) -> Upload:
    """A hypermarket register's day: two of them make a store-day of nine-digit rouble
    sums (hundreds of millions), the widest a store's day is likely to be."""
    opened = opened_at_for(day) + number  # distinct open times, a day apart per day

    def receipt(n: int, kind: ReceiptKind, method: PaymentMethod, amount: int) -> Receipt:
        lines = () if kind in (ReceiptKind.CASH_IN, ReceiptKind.CASH_OUT) else (
            Line(1, "X1", "", "товар", "1", 1000, amount, amount),
        )  # fmt: skip
        uid = str(uuid.UUID(int=hash((store, register, number, n)) % 2**64, version=4))
        return Receipt(
            uid, n, kind, opened + n * 60_000, "Иванова А.", lines, (Payment(method, amount),)
        )

    receipts = (
        receipt(1, ReceiptKind.CASH_IN, PaymentMethod.CASH, 5_000_000_00),
        receipt(2, ReceiptKind.SALE, PaymentMethod.CASH, 61_728_394_54),
        receipt(3, ReceiptKind.SALE, PaymentMethod.NONCASH, 49_382_716_05),
        receipt(4, ReceiptKind.RETURN, PaymentMethod.CASH, 1_234_567_89),
        receipt(5, ReceiptKind.RETURN, PaymentMethod.NONCASH, 2_345_678_90),
        receipt(6, ReceiptKind.CASH_OUT, PaymentMethod.CASH, 60_000_000_00),
    )
    return Upload(Shift(store, register, number, opened, opened + 12 * 3_600_000), receipts)


def fits(page: Any, width: int) -> dict[str, int]:
    """The page's and its tables' widths: nothing may scroll sideways."""
    sizes: dict[str, int] = page.evaluate(
        """() => ({
            document: document.documentElement.scrollWidth,
            overflow: Math.max(0, ...[...document.querySelectorAll('.scroll')].map(
                s => s.scrollWidth - s.clientWidth)),
            table: Math.ceil(Math.max(...[...document.querySelectorAll('table')].map(
                t => t.getBoundingClientRect().right))),
        })"""
    )
    assert sizes["document"] <= width and sizes["overflow"] == 0, sizes
    return sizes


def row_keys(page: Any) -> set[str]:
    cells = page.locator("table.store-days tbody.day td[data-key]")
    return {cells.nth(i).get_attribute("data-key") for i in range(cells.count())}


def test_stores_and_shifts_fit_a_1400_pixel_screen(browser_page: Any, tmp_path: Path) -> None:
    stores = {f"stores.{code}": {"name": name} for code, name in LONG_NAMES.items()}
    daemon = ServeProcess(tmp_path, "", http={"password_hash": hash_password(PASSWORD)}, **stores)
    daemon.start()
    try:
        pusher = GrpcPusher(daemon.grpc_target)
        try:
            for store in LONG_NAMES:
                for day in (1, 2, 3):
                    for register in ("R1", "KASSA-SAMOOBSLUZHIVANIYA-07"):
                        assert pusher.upload(big_shift(store, register, day, day)).workshift_id
        finally:
            pusher.close()
        page = browser_page
        page.set_viewport_size({"width": 1400, "height": 900})
        page.goto(daemon.http_url + "/registers")
        page.fill("input[name=password]", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url(re.compile(r".*/registers$"))

        page.goto(daemon.http_url + "/stores?from=2026-01-01&to=2026-02-01")
        assert page.locator("table.store-days tbody.day").count() == 6
        shot(page, "13-stores-1400")
        sizes = fits(page, 1400)
        assert sizes["table"] <= 1400, sizes  # with SPEC 11's complete, open and problem shifts
        assert row_keys(page) >= {"open_shifts", "problem_shifts"}
        row = page.locator("tbody[data-store='S7'][data-date='2026-01-01']")
        assert row.locator("td[data-key=sales_cash]").inner_text() == "123\u202f456\u202f789.08"
        assert LONG_NAMES["S7"] in row.inner_text()

        page.goto(daemon.http_url + "/shifts?store=S7&from=2026-01-01&to=2026-02-01")
        assert page.locator("tr[data-workshift]").count() == 6
        shot(page, "14-shifts-1400")
        fits(page, 1400)
        (api_row, *_) = page.request.get(daemon.http_url + "/api/shifts?store=S7").json()
        shown = page.locator(f"tbody:has(tr[data-workshift='{api_row['workshift_id']}'])")
        for key in MONEY_KEYS:
            assert shown.locator(f"td[data-key={key}]").inner_text() == money(api_row[key]), key
    finally:
        daemon.kill()

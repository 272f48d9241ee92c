"""The console's pages and its JSON API through Starlette's test client, on SQLite."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine
from structlog.testing import capture_logs

from cashserver.config import Config
from cashserver.domain import Line, Payment, PaymentMethod, Receipt, ReceiptKind, Shift, Upload
from cashserver.emulator.generate import ShiftPlan, generate_upload
from cashserver.http.format import money
from cashserver.reports import STORE_DAY_KEYS
from cashserver.store.engine import open_engine, upgrade
from cashserver.store.reading import Reader, ShiftFilter
from cashserver.store.repository import Repository
from tests.integration.http_client import client_for, log_in, make_config

EVIL = "<script>alert(1)</script>"


@pytest.fixture
def site(tmp_path: Path) -> Iterator[tuple[Config, Engine]]:
    config = make_config(tmp_path)
    engine = open_engine(config.database_url)
    upgrade(engine)
    yield config, engine
    engine.dispose()


def load_shifts(engine: Engine) -> list[int]:
    repo = Repository(engine)
    ids = []
    for n in (1, 2, 3):
        ids.append(
            repo.load(generate_upload(ShiftPlan("S1", "R1", n, receipts=12, seed=n))).workshift_id
        )
    evil = Receipt(
        str(uuid.UUID(int=77, version=4)),
        1,
        ReceiptKind.SALE,
        1_772_348_400_000,
        cashier=EVIL,
        lines=(Line(1, "X", "", EVIL, EVIL, 1000, 123456789, 123456789),),
        payments=(Payment(PaymentMethod.CASH, 123456789),),
    )
    ids.append(repo.load(Upload(Shift("S2", "R9", 1, 1_772_348_400_000), (evil,))).workshift_id)
    return ids


def test_pages_render_and_the_api_mirrors_the_cli(site: tuple[Config, Engine]) -> None:
    config, engine = site
    ids = load_shifts(engine)
    client = client_for(config, engine)
    log_in(client)
    for path in (
        "/registers",
        "/shifts",
        "/stores",
        "/log",
        "/export",
        "/upstream",
        "/settings",
        f"/shifts/{ids[0]}/departments",
        "/shifts?store=S1&register=R1",
    ):
        reply = client.get(path)
        assert reply.status_code == 200, (path, reply.text[:300])
    page = client.get("/shifts?store=S1&register=R1&from=2000-01-01&to=2100-01-01").text
    assert page.count('class="highlight not-exported"') == 3
    assert f'href="/shifts/{ids[0]}/departments"' in page
    rows = client.get("/api/shifts?store=S1&register=R1").json()
    assert rows == Reader(engine, config).shift_rows(ShiftFilter("S1", "R1"))
    days = client.get("/api/report/stores?store=S2").json()
    assert days and list(days[0]) == list(STORE_DAY_KEYS)
    assert client.get("/api/report/stores?from=nonsense").status_code == 400
    assert client.get(f"/api/report/departments/{ids[0]}").json()["workshift_id"] == ids[0]
    assert client.get("/api/report/departments/99999").status_code == 404
    assert {r["register_code"] for r in client.get("/api/registers").json()} == {"R1", "R9"}
    events = client.get("/api/log?event=shift.").json()
    assert isinstance(events, list)


def test_money_has_thousands_separators_and_two_decimals() -> None:
    assert money(123456789) == "1\u202f234\u202f567.89"
    assert money(-5) == "−0.05"
    assert money(0) == "0.00"


def test_reexport_selected_marks_them_exported(site: tuple[Config, Engine]) -> None:
    config, engine = site
    ids = load_shifts(engine)
    client = client_for(config, engine)
    log_in(client)
    page = client.get("/shifts?store=S1&register=R1&from=2000-01-01&to=2100-01-01").text
    token = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert token
    form = {
        "csrf_token": token.group(1),
        "store": "S1",
        "register": "R1",
        "from": "2000-01-01",
        "to": "2100-01-01",
        "workshift_id": [str(ids[0]), str(ids[1])],
    }
    reply = client.post("/shifts/reexport", data=form)
    assert reply.status_code == 200
    assert "2 written, 0 unchanged, 0 failed" in reply.text
    assert reply.text.count('class="highlight not-exported"') == 1
    exported = {r["workshift_id"]: r["exported"] for r in client.get("/api/shifts?store=S1").json()}
    assert exported == {ids[0]: True, ids[1]: True, ids[2]: False}
    no_token = client.post("/shifts/reexport", data={"workshift_id": str(ids[2])})
    assert no_token.status_code == 403


def test_names_from_registers_are_shown_as_text(site: tuple[Config, Engine]) -> None:
    config, engine = site
    ids = load_shifts(engine)
    client = client_for(config, engine)
    log_in(client)
    page = client.get(f"/shifts/{ids[3]}/departments").text
    assert EVIL not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "1\u202f234\u202f567.89" in page


def test_a_long_pull_asks_first_and_declining_pulls_nothing(site: tuple[Config, Engine]) -> None:
    config, engine = site
    load_shifts(engine)
    client = client_for(config, engine)
    log_in(client)
    page = client.get("/registers").text
    token = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert token
    form = {
        "csrf_token": token.group(1),
        "register": "S1/R1",
        "from": "2026-03-01",
        "to": "2026-03-11",
    }
    asked = client.post("/registers/pull", data=form)
    assert asked.status_code == 200 and "Pull 10 days of sales from 1 register(s)?" in asked.text
    with capture_logs() as logs:
        declined = client.post("/registers/pull", data={**form, "confirm": "no"})
    assert "Declined: nothing was pulled." in declined.text
    assert [e["days"] for e in logs if e["event"] == "console.pull_declined"] == [10]


def test_export_everything_and_the_api_writes(site: tuple[Config, Engine]) -> None:
    config, engine = site
    ids = load_shifts(engine)
    client = client_for(config, engine)
    token = log_in(client)
    page = client.get("/export").text
    assert "3 closed shift(s) have exchange files missing or out of date." in page
    reply = client.post("/export", data={"csrf_token": token})
    assert reply.status_code == 200 and "0 failed" in reply.text
    assert "The exchange files of every closed shift are up to date." in reply.text
    again = client.post("/api/export", headers={"x-csrf-token": token}).json()
    assert again["shifts"] == [] and again["failed"] == 0
    chosen = client.post(
        "/api/reexport", json={"workshift_ids": [ids[3]]}, headers={"x-csrf-token": token}
    ).json()
    assert [s["workshift_id"] for s in chosen["shifts"]] == [ids[3]]
    assert set(chosen) == {"written", "unchanged", "failed", "skipped", "shifts"}
    bad = client.post("/api/reexport", json={"ids": 1}, headers={"x-csrf-token": token})
    assert bad.status_code == 400


def test_settings_page_sets_and_removes(site: tuple[Config, Engine]) -> None:
    config, engine = site
    client = client_for(config, engine)
    token = log_in(client)
    form = {"csrf_token": token, "key": "SEND_DICTS_ON_CASHES_BY_URL_LOCAL_DIRECTORY"}
    saved = client.post("/settings", data={**form, "value": "/srv/dicts", "action": "set"})
    assert saved.status_code == 200 and "saved" in saved.text and "/srv/dicts" in saved.text
    assert client.get("/api/settings").json() == {form["key"]: "/srv/dicts"}
    removed = client.post("/settings", data={**form, "action": "unset"})
    assert "removed" in removed.text and client.get("/api/settings").json() == {}

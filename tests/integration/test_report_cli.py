"""``cashserver report stores`` and ``report departments`` from the command line."""

from __future__ import annotations

from sqlalchemy import Engine

from cashserver.reports import DEPARTMENT_KEYS, STORE_DAY_KEYS
from cashserver.store.repository import Repository
from tests.integration.site import Site, plans


def test_report_stores_json_and_table(site: Site, site_engine: Engine) -> None:
    repo = Repository(site_engine)
    for upload in plans():
        repo.load(upload)
    rows = site.json("report", "stores")
    assert rows and all(list(r) == list(STORE_DAY_KEYS) for r in rows)
    assert rows == sorted(rows, key=lambda r: (r["store_code"], r["date"]))
    shifts = site.json("shifts")
    for key in ("receipts_count", "sales_cash", "revenue_noncash", "drawer"):
        assert sum(r[key] for r in rows) == sum(s[key] for s in shifts)
    only = site.json("report", "stores", "--store", "S2", "--from", rows[0]["date"])
    assert {r["store_code"] for r in only} == {"S2"}
    code, out, err = site.call("report", "stores")
    assert code == 0, err
    first = rows[0]
    rubles = f"{first['drawer'] // 100}.{first['drawer'] % 100:02d}"
    assert "drawer" in out.splitlines()[0] and rubles in out


def test_report_departments_json_table_and_unknown_shift(site: Site, site_engine: Engine) -> None:
    outcome = Repository(site_engine).load(plans()[0])
    report = site.json("report", "departments", str(outcome.workshift_id))
    assert report["workshift_id"] == outcome.workshift_id and report["load_mode"] == "line"
    assert report["departments"]
    assert all(list(r) == list(DEPARTMENT_KEYS) for r in report["departments"])
    assert list(report["total"]) == list(DEPARTMENT_KEYS[1:])
    assert report["total"]["sales"] == sum(r["sales"] for r in report["departments"])
    code, out, _ = site.call("report", "departments", str(outcome.workshift_id))
    assert code == 0 and "TOTAL" in out
    code, _, err = site.call("report", "departments", "999999")
    assert code == 1 and "no shift 999999" in err
    assert site.call("report", "stores", "--from", "2026-13-01")[0] == 2

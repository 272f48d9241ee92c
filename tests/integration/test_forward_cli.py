"""``cashserver upstream status``, ``forward`` and ``shifts --not-forwarded`` (SPEC 15),
run in-process against a data folder."""

from __future__ import annotations

import json

from sqlalchemy import Engine

from cashserver.store.forwards import Forwards
from cashserver.store.repository import Repository
from tests.integration.site import Site, plans


def with_target(site: Site, target: str = "127.0.0.1:9") -> None:
    text = site.config_path.read_text()
    site.config_path.write_text(f'{text}[upstream]\ntarget = "{target}"\ntimeout_s = 2\n')


def test_without_a_target_forwarding_is_off_and_rows_have_no_forwarded_key(
    site: Site, site_engine: Engine
) -> None:
    Repository(site_engine).load(plans()[0])
    status = site.json("upstream", "status")
    assert status["state"] == "off" and status["target"] == ""
    assert status["backlog_shifts"] == 1  # what would wait, were a target set
    assert "forwarded" not in site.json("shifts")[0]
    code, _, err = site.call("forward", "1")
    assert code == 2 and "no [upstream] target" in err


def test_with_a_target_rows_say_forwarded_and_the_backlog_lists_them(
    site: Site, site_engine: Engine
) -> None:
    with_target(site)
    ids = [Repository(site_engine).load(u).workshift_id for u in plans()]
    Forwards(site_engine).mark_acked(ids[0], 1, 10)
    rows = site.json("shifts")
    assert [r["forwarded"] for r in rows] == [True, False, False, False]
    assert [r["workshift_id"] for r in site.json("shifts", "--not-forwarded")] == ids[1:]
    code, out, _ = site.call("shifts", "--not-forwarded")
    assert code == 0 and "forwarded" in out.splitlines()[0]
    status = site.json("upstream", "status")
    assert (status["state"], status["backlog_shifts"], status["rejected"]) == ("ok", 3, [])


def test_forward_reports_a_central_server_that_does_not_answer_and_exits_1(
    site: Site, site_engine: Engine
) -> None:
    with_target(site)  # port 9 (discard): nothing listens there
    Repository(site_engine).load(plans()[0])
    code, out, _ = site.call("forward", "1", "--json")
    assert code == 1
    document = json.loads(out)
    assert document["summary"] == {"shifts": 1, "acknowledged": 0, "rejected": 0, "failed": 1}
    (row,) = document["shifts"]
    assert row["status"] == "failed" and row["message"].startswith("UNAVAILABLE")
    assert site.json("upstream", "status")["state"] == "retrying"
    code, _, err = site.call("forward", "--store", "S1", "--rejected")
    assert code == 2 and "one" in err

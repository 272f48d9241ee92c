"""The registers directory of SPEC 10: add, set, remove, list, and what loads record."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Engine

from cashserver.clock import iso_utc
from cashserver.config import parse_config
from cashserver.emulator.generate import ShiftPlan, generate_upload
from cashserver.store.engine import open_engine, upgrade
from cashserver.store.reading import Reader, RegisterInfo
from cashserver.store.registers import Registers
from cashserver.store.repository import Repository
from tests.integration.site import Site

SPEC10_KEYS = [
    "store_code",
    "register_code",
    "address",
    "protocol_version",
    "pull_interval_s",
    "timezone",
    "department",
    "state",
    "state_message",
    "state_at",
    "last_load_at",
    "last_sale_at",
    "software_version",
    "last_seen_at",
    "clock_skew_s",
]


@pytest.fixture
def site(tmp_path: Path) -> Site:
    path = tmp_path / "cashserver.toml"
    path.write_text(
        f'[server]\ndata_dir = "{tmp_path / "data"}"\n[grpc]\nlisten = ""\n[thrift]\nlisten = ""\n',
        encoding="utf-8",
    )
    return Site(tmp_path, path)


def test_add_sets_every_field_and_list_shows_them_as_stored(site: Site) -> None:
    code, _, err = site.call(
        "registers", "add", "S1", "R1",
        "--address", "10.0.0.5:11001", "--protocol", "3", "--pull-interval", "600",
        "--timezone", "Asia/Vladivostok", "--department", "7",
        "--tls-ca", "ca.pem", "--tls-cert", "c.pem", "--tls-key", "k.pem",
    )  # fmt: skip
    assert code == 0, err
    assert site.call("registers", "add", "S1", "R2")[0] == 0
    rows = site.json("registers", "list")
    assert [list(r) for r in rows] == [SPEC10_KEYS, SPEC10_KEYS]
    first, second = rows
    assert first["address"] == "10.0.0.5:11001"
    assert (first["protocol_version"], first["pull_interval_s"]) == (3, 600)
    assert (first["timezone"], first["department"]) == ("Asia/Vladivostok", "7")
    assert first["state"] is None and first["last_load_at"] is None
    # Never set: null, not the defaults they fall back to.
    assert all(second[k] is None for k in SPEC10_KEYS[2:13] if k != "software_version")


def test_set_changes_only_what_is_given_and_empty_clears(site: Site) -> None:
    site.call("registers", "add", "S1", "R1", "--address", "h:1", "--pull-interval", "60")
    code, _, err = site.call("registers", "set", "S1", "R1", "--address", "", "--department", "D")
    assert code == 0, err
    row = site.json("registers", "list")[0]
    assert (row["address"], row["pull_interval_s"], row["department"]) == (None, 60, "D")
    assert site.call("registers", "set", "S1", "NOPE", "--address", "h:2")[0] == 1


def test_remove_keeps_the_shifts_and_add_brings_it_back(site: Site) -> None:
    engine = open_engine(site.config.database_url)
    upgrade(engine)
    Repository(engine).load(generate_upload(ShiftPlan("S1", "R1", 1, 5)))
    engine.dispose()
    assert site.call("registers", "remove", "S1", "R1")[0] == 0
    assert site.json("registers", "list") == []
    assert len(site.json("shifts")) == 1
    assert site.call("registers", "remove", "S1", "R1")[0] == 1
    assert site.call("registers", "add", "S1", "R1", "--address", "h:3")[0] == 0
    assert site.json("registers", "list")[0]["address"] == "h:3"


@pytest.mark.parametrize(
    "args",
    [
        ("registers", "add", "S1", "R1", "--address", "nohost"),
        ("registers", "add", "S1", "R1", "--protocol", "5"),
        ("registers", "add", "S1", "R1", "--pull-interval", "-1"),
        ("registers", "add", "S1", "R1", "--timezone", "Mars/Olympus"),
        ("registers", "set", "S 1", "R1"),
    ],
)
def test_bad_values_exit_2(site: Site, args: tuple[str, ...]) -> None:
    assert site.call(*args)[0] == 2


def test_a_load_records_last_load_and_last_sale(engine: Engine) -> None:
    repository = Repository(engine)
    upload = generate_upload(ShiftPlan("S1", "R1", 1, 10))
    repository.load(upload)
    reader_row = next(r for r in _registers(engine) if r.register_code == "R1")
    assert reader_row.last_sale_at == max(r.closed_at for r in upload.receipts)
    first_load = reader_row.last_load_at
    assert first_load is not None
    # An all-duplicate load is still a load; an older shift does not move last_sale_at back.
    older = generate_upload(ShiftPlan("S1", "R1", 1, 10))
    repository.load(older)
    again = next(r for r in _registers(engine) if r.register_code == "R1")
    assert again.last_load_at is not None and again.last_load_at >= first_load
    assert again.last_sale_at == reader_row.last_sale_at
    earlier = generate_upload(ShiftPlan("S1", "R1", 1, 3, seed=9))
    repository.load(earlier)
    assert _registers(engine)[0].last_sale_at == reader_row.last_sale_at
    assert iso_utc(again.last_sale_at) is not None


def test_state_is_written_through_the_directory(engine: Engine) -> None:
    directory = Registers(engine)
    directory.add_entry("S1", "R1", {"address": "h:1"})
    directory.set_state("S1", "R1", "ERROR", "timed out", 1234)
    row = _registers(engine)[0]
    assert (row.state, row.state_message, row.state_at) == ("ERROR", "timed out", 1234)


def _registers(engine: Engine) -> list[RegisterInfo]:
    return Reader(engine, parse_config({})).registers()

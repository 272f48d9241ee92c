"""Clock skew through the directory's sync rounds: stored with the sightings, reported once."""

from __future__ import annotations

import re
from pathlib import Path

from sqlalchemy import Engine
from structlog.testing import capture_logs

from cashserver.admission import Admission
from cashserver.config import parse_config
from cashserver.skew import SkewMeasurement, SkewSource
from cashserver.store.engine import open_engine, upgrade
from cashserver.store.reading import Reader
from cashserver.store.registers import Registers
from tests.integration.http_client import client_for, log_in
from tests.integration.http_client import make_config as http_config

HANDSHAKE, RECEIPTS = SkewSource.HANDSHAKE, SkewSource.RECEIPTS


def skews(engine: Engine) -> dict[str, int | None]:
    infos = Reader(engine, parse_config({})).registers()
    return {i.register_code: i.clock_skew_s for i in infos}


def round_events(admission: Admission) -> list[dict[str, object]]:
    with capture_logs() as logs:
        admission.sync()
    return [
        {k: v for k, v in e.items() if k != "log_level"}
        for e in logs
        if e["event"] == "register.clock_skewed"
    ]


def test_skew_is_kept_and_reported_once_per_excursion(engine: Engine) -> None:
    Registers(engine).add("S1", "R1", None)
    admission = Admission(Registers(engine), auto_register=True, max_clock_skew_s=120)
    admission.load()
    # A register that never sent its time is not measured.
    admission.saw("S1", "R1", "v1")
    assert round_events(admission) == [] and skews(engine) == {"R1": None}

    admission.saw("S1", "R1", "v2", SkewMeasurement(600, HANDSHAKE))
    admission.saw("S1", "R1", None)  # its upload right after measures nothing: 600 stays
    assert round_events(admission) == [
        {
            "event": "register.clock_skewed",
            "store_code": "S1",
            "register_code": "R1",
            "clock_skew_s": 600,
            "source": "handshake",
        }
    ]
    assert skews(engine) == {"R1": 600}

    admission.saw("S1", "R1", None, SkewMeasurement(3600, RECEIPTS))
    assert round_events(admission) == []  # still beyond: not again
    assert skews(engine) == {"R1": 3600}

    admission.saw("S1", "R1", None, SkewMeasurement(2, HANDSHAKE))
    assert round_events(admission) == [] and skews(engine) == {"R1": 2}
    admission.saw("S1", "R1", None, SkewMeasurement(-300, HANDSHAKE))
    events = round_events(admission)
    assert [(e["clock_skew_s"], e["source"]) for e in events] == [(-300, "handshake")]

    # A restarted daemon judges against the stored value: no second report.
    again = Admission(Registers(engine), auto_register=True, max_clock_skew_s=120)
    again.load()
    again.saw("S1", "R1", None, SkewMeasurement(-290, HANDSHAKE))
    assert round_events(again) == [] and skews(engine) == {"R1": -290}


def test_a_new_register_skewed_from_its_first_handshake(engine: Engine) -> None:
    admission = Admission(Registers(engine), auto_register=True, max_clock_skew_s=120)
    admission.load()
    admission.admit("S2", "R7")
    admission.saw("S2", "R7", "v1", SkewMeasurement(-3000, HANDSHAKE))
    admission.saw("S2", "R8", "v1", SkewMeasurement(30, HANDSHAKE))
    events = round_events(admission)
    assert [(e["register_code"], e["clock_skew_s"]) for e in events] == [("R7", -3000)]
    assert skews(engine) == {"R7": -3000, "R8": 30}


def test_registers_page_and_api_show_the_skew(tmp_path: Path) -> None:
    config = http_config(tmp_path)
    engine = open_engine(config.database_url)
    upgrade(engine)
    admission = Admission(Registers(engine), auto_register=True, max_clock_skew_s=120)
    admission.load()
    admission.saw("S1", "AHEAD", "v1", SkewMeasurement(600, HANDSHAKE))
    admission.saw("S1", "FINE", "v1", SkewMeasurement(-7, HANDSHAKE))
    admission.saw("S1", "OLD", "v1")
    admission.sync()
    client = client_for(config, engine)
    log_in(client)
    api = {r["register_code"]: r["clock_skew_s"] for r in client.get("/api/registers").json()}
    assert api == {"AHEAD": 600, "FINE": -7, "OLD": None}
    page = client.get("/registers").text
    cells = re.findall(r'<td class="num clock-skew">(.*?)</td>', page)
    assert len(cells) == 3
    assert 'class="warn skewed"' in cells[0] and "+600 s" in cells[0]
    assert "-7 s" in cells[1] and "skewed" not in cells[1]
    assert "—" in cells[2]
    engine.dispose()

"""The registers directory in memory: admission without the database, and its sync rounds."""

from __future__ import annotations

from collections.abc import Mapping

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.exc import OperationalError
from structlog.testing import capture_logs

from cashserver.admission import Admission, RegisterRefused
from cashserver.store.registers import RegisterKey, Registers, Sighting, SightingsWritten
from cashserver.store.schema import registers


def stored(engine: Engine) -> dict[str, tuple[int | None, str, int | None]]:
    """register code -> (protocol_version, software_version, last_seen_at)."""
    query = select(
        registers.c.register_code,
        registers.c.protocol_version,
        registers.c.software_version,
        registers.c.last_seen_at,
    )
    with engine.connect() as conn:
        return {r[0]: (r[1], r[2], r[3]) for r in conn.execute(query)}


def test_known_registers_get_their_protocol_and_new_ones_are_admitted(engine: Engine) -> None:
    Registers(engine).add("S1", "R1", 3)
    admission = Admission(Registers(engine), auto_register=True)
    admission.load()
    assert admission.admit("S1", "R1") == 3
    with capture_logs() as logs:
        assert admission.admit("S1", "NEW") is None
        assert admission.admit("S1", "NEW") is None
    assert [e["event"] for e in logs] == ["register.admitted"]
    assert "NEW" not in stored(engine)  # admitted in memory only, until the next round


def test_without_auto_register_only_the_directory_is_admitted(engine: Engine) -> None:
    Registers(engine).add("S1", "R1", None)
    admission = Admission(Registers(engine), auto_register=False)
    admission.load()
    assert admission.admit("S1", "R1") is None
    with pytest.raises(RegisterRefused, match="S1/R2"):
        admission.admit("S1", "R2")
    Registers(engine).add("S1", "R2", 4)  # `registers add`, by another process
    admission.sync()
    assert admission.admit("S1", "R2") == 4
    Registers(engine).add("S1", "R1", 3)  # a changed protocol is a change too
    admission.sync()
    assert admission.admit("S1", "R1") == 3


def test_a_round_writes_sightings_and_adds_the_registers_admitted_in_memory(
    engine: Engine,
) -> None:
    Registers(engine).add("S1", "R1", None)
    admission = Admission(Registers(engine), auto_register=True)
    admission.load()
    admission.admit("S2", "R9")
    admission.saw("S1", "R1", "frontol 6.1")
    admission.saw("S1", "R1", None)  # an upload after the Handshake keeps its version
    admission.saw("S2", "R9", "atol 10")
    with capture_logs() as logs:
        admission.sync()
    assert [(e["event"], e["register_code"]) for e in logs] == [("register.added", "R9")]
    rows = stored(engine)
    assert rows["R1"][1] == "frontol 6.1" and rows["R1"][2] is not None
    assert rows["R9"][1] == "atol 10" and rows["R9"][2] is not None
    assert admission.admit("S2", "R9") is None  # now loaded from the directory
    admission.sync()  # nothing new: nothing written, nothing added
    assert stored(engine) == rows


class FailingOnce(Registers):
    def __init__(self, engine: Engine) -> None:
        super().__init__(engine)
        self.failures = 1

    def record_sightings(self, seen: Mapping[RegisterKey, Sighting]) -> SightingsWritten:
        if self.failures:
            self.failures -= 1
            raise OperationalError("UPDATE registers", {}, ConnectionError("database is locked"))
        return super().record_sightings(seen)


def test_sightings_wait_in_memory_while_the_database_is_unavailable(engine: Engine) -> None:
    admission = Admission(FailingOnce(engine), auto_register=True)
    admission.load()
    admission.admit("S1", "R1")
    admission.saw("S1", "R1", "v1")
    with pytest.raises(OperationalError):
        admission.sync()
    assert admission.admit("S1", "R1") is None  # still admitted meanwhile
    admission.sync()
    assert stored(engine)["R1"][1] == "v1"

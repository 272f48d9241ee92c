"""The writer's door for the command line: a running daemon's writer makes the changes."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from cashserver.config import Config
from cashserver.pull.states import StateBuffer
from cashserver.store.reading import Reader
from cashserver.store.registers import Registers
from cashserver.writer.control import ChangeRegister, ControlServer, DaemonStates, ask


@pytest.fixture
def door(config: Config, engine: Engine) -> Iterator[Path]:
    registers = Registers(engine)
    states = StateBuffer(registers)
    server = ControlServer(config.data_dir, registers, states)
    server.start()
    try:
        yield config.data_dir
    finally:
        server.stop()


def test_directory_changes_are_made_by_the_daemons_writer(
    door: Path, config: Config, engine: Engine
) -> None:
    add = ChangeRegister("add", "S1", "R1", {"address": "127.0.0.1:7000", "protocol_version": 3})
    assert ask(door, add).done
    assert not ask(door, add).done  # it exists
    assert ask(door, ChangeRegister("set", "S1", "R1", {"pull_interval_s": 60})).done
    [info] = Reader(engine, config).registers()
    assert (info.address, info.protocol_version, info.pull_interval_s) == ("127.0.0.1:7000", 3, 60)
    assert ask(door, ChangeRegister("remove", "S1", "R1")).done
    assert not ask(door, ChangeRegister("remove", "S1", "R1")).done  # not there any more
    assert Reader(engine, config).registers() == []


def test_a_commands_pull_states_are_written_by_the_daemons_writer(
    door: Path, config: Config, engine: Engine
) -> None:
    Registers(engine).add("S1", "R1", None)
    DaemonStates(door).set_states([("S1", "R1", "ERROR", "timed out", 1234)])
    [info] = Reader(engine, config).registers()
    assert (info.state, info.state_message, info.state_at) == ("ERROR", "timed out", 1234)


def test_without_a_daemon_the_door_is_closed(tmp_path: Path) -> None:
    with pytest.raises(OSError):
        ask(tmp_path, ChangeRegister("remove", "S1", "R1"))

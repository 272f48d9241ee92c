"""The last-upload clock's starting point (SPEC 16): the newest load the database
records, on both backends."""

from __future__ import annotations

from sqlalchemy import Engine

from cashserver.store.registers import latest_load_s, lock_register, note_loaded


def test_the_latest_load_is_the_newest_of_any_register(engine: Engine) -> None:
    assert latest_load_s(engine) is None  # a new database: the clock starts at start
    with engine.begin() as conn:
        first = lock_register(conn, "S1", "R1")
        note_loaded(conn, first, 1_700_000_500_250, None)
        second = lock_register(conn, "S2", "R1")
        note_loaded(conn, second, 1_700_000_000_000, 1_699_999_999_000)
    assert latest_load_s(engine) == 1_700_000_500.25

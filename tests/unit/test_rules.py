"""The shift identity rules of SPEC section 2, as the pure function ``decide``.

The stored shifts of one register with one number are modelled as a list of
candidates; applying a decision to that list is what the store does with it.
"""

from __future__ import annotations

import random

from hypothesis import assume, given
from hypothesis import strategies as st

from cashserver.rules import (
    SAME_SHIFT_WINDOW_MS,
    Candidate,
    Decision,
    MergeInto,
    NewShift,
    Rejected,
    decide,
)

WINDOW = 172_800_000  # 48 hours, as SPEC 2 states it: |O - O'| < 172800 s
T0 = 1_767_225_600_000  # 2026-01-01T00:00:00Z
SPAN = 60 * 24 * 3_600_000  # open times within two months of T0

times = st.integers(T0 - SPAN, T0 + SPAN)
maybe_times = st.none() | times


@st.composite
def candidate_lists(
    draw: st.DrawFn, opened: st.SearchStrategy[int | None] = maybe_times, min_size: int = 0
) -> list[Candidate]:
    """Stored shifts with distinct workshift_ids, in no particular order."""
    ids = draw(st.lists(st.integers(1, 10_000), min_size=min_size, max_size=6, unique=True))
    return [Candidate(ws, draw(opened)) for ws in ids]


offsets = st.one_of(
    st.sampled_from([0, WINDOW - 1, 1 - WINDOW, WINDOW, -WINDOW]),
    st.integers(1 - WINDOW, WINDOW - 1),
    st.integers(WINDOW, 3 * WINDOW),
    st.integers(-3 * WINDOW, -WINDOW),
)


@st.composite
def scenarios(
    draw: st.DrawFn, null_share: float = 0.25, min_size: int = 1
) -> tuple[int, list[Candidate]]:
    """An incoming open time and stored shifts near it, far from it, or without one."""
    opened_at = draw(times)
    ids = draw(st.lists(st.integers(1, 10_000), min_size=min_size, max_size=6, unique=True))
    stored = []
    for ws in ids:
        null = draw(st.floats(0, 1)) < null_share
        stored.append(Candidate(ws, None if null else opened_at + draw(offsets)))
    return opened_at, stored


def apply(decision: Decision, opened_at: int | None, stored: list[Candidate]) -> list[Candidate]:
    """What the store does with a decision: add a shift, fill an open time, or nothing."""
    if isinstance(decision, NewShift):
        return [*stored, Candidate(max((c.workshift_id for c in stored), default=0) + 1, opened_at)]
    if isinstance(decision, MergeInto) and opened_at is not None:
        return [  # a null stored open time is filled in; a set one never moves
            Candidate(c.workshift_id, opened_at)
            if c.workshift_id == decision.workshift_id and c.opened_at is None
            else c
            for c in stored
        ]
    return stored


def test_window_is_48_hours() -> None:
    assert SAME_SHIFT_WINDOW_MS == WINDOW


# -- rule 1 ---------------------------------------------------------------------


@given(maybe_times)
def test_a_number_never_seen_is_a_new_shift(opened_at: int | None) -> None:
    assert decide(opened_at, []) == NewShift()


# -- idempotence ----------------------------------------------------------------


@given(scenarios(min_size=0))
def test_reapplying_an_upload_with_an_open_time_never_creates_a_second_shift(
    scenario: tuple[int, list[Candidate]],
) -> None:
    opened_at, stored = scenario
    first = decide(opened_at, stored)
    after = apply(first, opened_at, stored)
    second = decide(opened_at, after)
    expected = first.workshift_id if isinstance(first, MergeInto) else after[-1].workshift_id
    assert second == MergeInto(expected)
    assert apply(second, opened_at, after) == after


@given(maybe_times, candidate_lists())
def test_reapplying_an_upload_never_creates_a_second_shift(
    opened_at: int | None, stored: list[Candidate]
) -> None:
    first = decide(opened_at, stored)
    after = apply(first, opened_at, stored)
    second = decide(opened_at, after)
    assert not isinstance(second, NewShift)
    assert apply(second, opened_at, after) == after
    if isinstance(first, MergeInto):
        assert second == MergeInto(first.workshift_id)
    elif isinstance(first, NewShift) and opened_at is not None:
        assert second == MergeInto(after[-1].workshift_id)


def test_a_null_open_time_upload_repeated_is_not_loaded_again() -> None:
    # Rule 1 stores it the first time; the second time rule 2 applies (SPEC 2 as written).
    assert decide(None, []) == NewShift()
    assert isinstance(decide(None, [Candidate(1, None)]), Rejected)


# -- rules 3 and 5: the 48-hour window -------------------------------------------


def test_exactly_48_hours_away_is_a_new_shift() -> None:
    stored = [Candidate(7, T0)]
    assert decide(T0 + 172_800_000, stored) == NewShift()
    assert decide(T0 - 172_800_000, stored) == NewShift()


def test_one_millisecond_under_48_hours_is_the_same_shift() -> None:
    stored = [Candidate(7, T0)]
    assert decide(T0 + 172_799_999, stored) == MergeInto(7)
    assert decide(T0 - 172_799_999, stored) == MergeInto(7)


@given(times, st.integers(-WINDOW + 1, WINDOW - 1), st.integers(1, 10_000))
def test_under_48_hours_never_gets_a_new_shift(stored_at: int, delta: int, ws: int) -> None:
    assert decide(stored_at + delta, [Candidate(ws, stored_at)]) == MergeInto(ws)


@given(times, st.integers(WINDOW, 10 * WINDOW), st.booleans(), st.integers(1, 10_000))
def test_48_hours_or_more_always_gets_a_new_shift(
    stored_at: int, distance: int, earlier: bool, ws: int
) -> None:
    incoming = stored_at - distance if earlier else stored_at + distance
    assert decide(incoming, [Candidate(ws, stored_at)]) == NewShift()


@given(scenarios(null_share=0))
def test_new_shift_exactly_when_every_stored_open_time_is_48_hours_away(
    scenario: tuple[int, list[Candidate]],
) -> None:
    opened_at, stored = scenario
    decision = decide(opened_at, stored)
    all_far = all(abs(opened_at - c.opened_at) >= WINDOW for c in stored if c.opened_at is not None)
    assert isinstance(decision, NewShift) == all_far


@given(scenarios())
def test_nearest_open_time_wins(scenario: tuple[int, list[Candidate]]) -> None:
    opened_at, stored = scenario
    distances = {
        c.workshift_id: abs(opened_at - c.opened_at) for c in stored if c.opened_at is not None
    }
    assume(min(distances.values(), default=WINDOW) < WINDOW)
    decision = decide(opened_at, stored)
    assert isinstance(decision, MergeInto)
    assert distances[decision.workshift_id] == min(distances.values())


def test_nearest_wins_over_latest_and_over_a_null_open_time() -> None:
    stored = [
        Candidate(1, T0 - 3_600_000),  # 1 h before: nearest
        Candidate(2, T0 + 7_200_000),  # 2 h after
        Candidate(3, None),
        Candidate(4, T0 + 40 * 3_600_000),
    ]
    assert decide(T0, stored) == MergeInto(1)


@given(maybe_times, candidate_lists(), st.randoms(use_true_random=False))
def test_the_order_of_stored_shifts_does_not_matter(
    opened_at: int | None, stored: list[Candidate], rnd: random.Random
) -> None:
    shuffled = list(stored)
    rnd.shuffle(shuffled)
    assert decide(opened_at, shuffled) == decide(opened_at, stored)


# -- rule 2: null on both sides --------------------------------------------------


@given(candidate_lists(opened=st.none(), min_size=1))
def test_null_open_time_against_only_null_open_times_is_rejected(
    stored: list[Candidate],
) -> None:
    decision = decide(None, stored)
    assert isinstance(decision, Rejected)
    assert decision.reason


# -- rule 4: exactly one side null -----------------------------------------------


@given(candidate_lists(min_size=1))
def test_null_incoming_merges_into_the_latest_stored_with_an_open_time(
    stored: list[Candidate],
) -> None:
    with_time = [c.workshift_id for c in stored if c.opened_at is not None]
    assume(with_time)
    assert decide(None, stored) == MergeInto(max(with_time))


@given(scenarios(null_share=0.5))
def test_set_incoming_with_nothing_near_fills_the_latest_null_stored_shift(
    scenario: tuple[int, list[Candidate]],
) -> None:
    opened_at, stored = scenario
    assume(all(abs(opened_at - c.opened_at) >= WINDOW for c in stored if c.opened_at is not None))
    null_ids = [c.workshift_id for c in stored if c.opened_at is None]
    assume(null_ids)
    decision = decide(opened_at, stored)
    assert decision == MergeInto(max(null_ids))
    filled = apply(decision, opened_at, stored)
    assert Candidate(max(null_ids), opened_at) in filled


def test_rule_4_examples() -> None:
    far = T0 + 10 * WINDOW
    assert decide(T0, [Candidate(3, None), Candidate(9, None), Candidate(5, far)]) == MergeInto(9)
    assert decide(None, [Candidate(3, T0), Candidate(9, None), Candidate(5, far)]) == MergeInto(5)

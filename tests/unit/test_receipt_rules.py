"""Receipts already known (SPEC 2, "Merging is idempotent"): duplicates and conflicts.

The store is modelled as a dict uid -> (workshift_id, first stored receipt); loading
an upload into a shift is what the repository does with the two pure functions.
"""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st
from msgspec import structs

from cashserver.domain import Payment, PaymentMethod, Receipt, ReceiptKind
from cashserver.rules import (
    CONTENT_DIFFERS,
    OTHER_SHIFT,
    WITHIN_UPLOAD,
    Repeats,
    against_stored,
    within_upload,
)
from tests.strategies import receipts, uids

Store = dict[str, tuple[int, Receipt]]


@st.composite
def batches(draw: st.DrawFn, pool: list[str]) -> list[Receipt]:
    """Receipts whose uids come from a small pool: repeats, some with other content."""
    count = draw(st.integers(0, 8))
    return [
        structs.replace(draw(receipts()), uid=draw(st.sampled_from(pool))) for _ in range(count)
    ]


@st.composite
def scenarios(draw: st.DrawFn) -> tuple[Store, int, list[Receipt]]:
    """A store holding some of the pool's uids (in this shift or others), a shift, an upload."""
    pool = draw(st.lists(uids(), min_size=1, max_size=5, unique=True))
    workshift_id = draw(st.integers(1, 3))
    store: Store = {}
    for uid in pool:
        if draw(st.booleans()):
            store[uid] = (draw(st.integers(1, 3)), structs.replace(draw(receipts()), uid=uid))
    return store, workshift_id, draw(batches(pool))


def load(store: Store, workshift_id: int, upload: list[Receipt]) -> tuple[list[Receipt], Repeats]:
    """What the repository does: store the new uids, judge the known ones."""
    unique, repeats = within_upload(upload)
    known = {
        uid: (store[uid][0], store[uid][1] if store[uid][0] == workshift_id else None)
        for uid in unique
        if uid in store
    }
    repeats += against_stored(workshift_id, unique, known)
    new = [r for uid, r in unique.items() if uid not in store]
    for receipt in new:
        store[receipt.uid] = (workshift_id, receipt)
    return new, repeats


@given(scenarios())
def test_every_receipt_is_stored_or_a_duplicate(scenario: tuple[Store, int, list[Receipt]]) -> None:
    store, workshift_id, upload = scenario
    stored, repeats = load(store, workshift_id, upload)
    assert len(stored) + repeats.duplicate == len(upload)
    assert len({r.uid for r in stored}) == len(stored)


@given(scenarios())
def test_the_first_version_stands(scenario: tuple[Store, int, list[Receipt]]) -> None:
    store, workshift_id, upload = scenario
    before = dict(store)
    stored, _ = load(store, workshift_id, upload)
    assert all(store[uid] == first for uid, first in before.items())
    firsts: dict[str, Receipt] = {}
    for receipt in upload:
        firsts.setdefault(receipt.uid, receipt)
    assert stored == [firsts[uid] for uid in firsts if uid not in before]


@given(scenarios())
def test_each_conflict_has_its_reason(scenario: tuple[Store, int, list[Receipt]]) -> None:
    store, workshift_id, upload = scenario
    before = dict(store)
    _, repeats = load(store, workshift_id, upload)
    firsts: dict[str, Receipt] = {}
    within = 0
    for receipt in upload:
        first = firsts.setdefault(receipt.uid, receipt)
        within += first != receipt
    expected_elsewhere = {uid for uid in firsts if uid in before and before[uid][0] != workshift_id}
    expected_differs = {
        uid
        for uid, first in firsts.items()
        if uid in before and before[uid][0] == workshift_id and before[uid][1] != first
    }
    by_reason: dict[str, list[str]] = {WITHIN_UPLOAD: [], OTHER_SHIFT: [], CONTENT_DIFFERS: []}
    for conflict in repeats.conflicts:
        by_reason[conflict.reason].append(conflict.uid)
        if conflict.reason == OTHER_SHIFT:
            assert conflict.stored_workshift_id == before[conflict.uid][0]
        elif conflict.reason == CONTENT_DIFFERS:
            assert conflict.stored_workshift_id == workshift_id
        else:
            assert conflict.stored_workshift_id == 0
    assert len(by_reason[WITHIN_UPLOAD]) == within
    assert set(by_reason[OTHER_SHIFT]) == expected_elsewhere
    assert set(by_reason[CONTENT_DIFFERS]) == expected_differs


@given(scenarios(), st.integers(2, 4))
def test_loading_the_same_upload_again_stores_nothing_more(
    scenario: tuple[Store, int, list[Receipt]], times: int
) -> None:
    store, workshift_id, upload = scenario
    _, first = load(store, workshift_id, upload)
    after_first = dict(store)
    for _ in range(times - 1):
        stored, repeats = load(store, workshift_id, upload)
        assert stored == [] and repeats.duplicate == len(upload)
        assert repeats.conflicts == first.conflicts  # the same verdict every time
    assert store == after_first


def test_examples() -> None:
    sale = Receipt(
        "00000000-0000-4000-8000-000000000001",
        1,
        ReceiptKind.CASH_IN,
        1_767_225_600_000,
        "A",
        payments=(Payment(PaymentMethod.CASH, 100),),
    )
    other = structs.replace(sale, cashier="B")
    unique, repeats = within_upload([sale, other, sale])
    assert list(unique.values()) == [sale]
    assert repeats.duplicate == 2 and [c.reason for c in repeats.conflicts] == [WITHIN_UPLOAD]
    assert against_stored(7, unique, {sale.uid: (7, sale)}) == Repeats(1, ())
    assert [c.reason for c in against_stored(7, unique, {sale.uid: (7, other)}).conflicts] == [
        CONTENT_DIFFERS
    ]
    assert against_stored(7, unique, {sale.uid: (3, None)}).conflicts[0].stored_workshift_id == 3

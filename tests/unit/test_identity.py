"""Who a client certificate may upload for, and the forwarding node's name (SPEC 4, 15)."""

from __future__ import annotations

import pytest

from cashserver.rpc.identity import BadNodeName, forwarding_node, may_act_for


@pytest.mark.parametrize(
    ("cn", "store", "register", "allowed"),
    [
        # STORE/REGISTER: that register only (SPEC 4).
        ("S1/R1", "S1", "R1", True),
        ("S1/R1", "S1", "R2", False),
        ("S1/R1", "S2", "R1", False),
        # A bare store code: every register of that store, no other store.
        ("S1", "S1", "R1", True),
        ("S1", "S1", "R99", True),
        ("S1", "S2", "R1", False),
        ("S1", "S10", "R1", False),
        ("S10", "S1", "R1", False),
        # Case and look-alikes are not the store.
        ("s1", "S1", "R1", False),
        ("S1/", "S1", "R1", False),
        ("/R1", "S1", "R1", False),
        ("S1/R1/x", "S1", "R1", False),
        # No certificate, or an empty CN: nothing.
        (None, "S1", "R1", False),
        ("", "S1", "R1", False),
    ],
)
def test_a_certificate_cn_acts_for_its_register_or_its_store(
    cn: str | None, store: str, register: str, allowed: bool
) -> None:
    assert may_act_for(cn, store, register) is allowed


def test_a_trusted_forwarder_acts_for_every_store_and_only_it() -> None:
    trusted = frozenset({"region-1"})
    assert may_act_for("region-1", "S1", "R1", trusted)
    assert may_act_for("region-1", "S2", "R7", trusted)
    assert not may_act_for("region-2", "S1", "R1", trusted)
    # Being trusted adds to a CN's own rights; a store's CN keeps its store either way.
    assert may_act_for("S1", "S1", "R1", trusted) and not may_act_for("S1", "S2", "R1", trusted)


def test_the_forwarding_node_is_read_from_the_metadata() -> None:
    assert forwarding_node(None) == ""
    assert forwarding_node([("user-agent", "grpc-python")]) == ""
    assert forwarding_node([("x", "y"), ("cashserver-node", "store-1")]) == "store-1"
    assert forwarding_node([("cashserver-node", b"store-2")]) == "store-2"


@pytest.mark.parametrize("name", ["", "x" * 129, "store\x01"])
def test_a_bad_forwarding_node_is_refused(name: str) -> None:
    with pytest.raises(BadNodeName, match="cashserver-node"):
        forwarding_node([("cashserver-node", name)])

"""Forwarding over mutual TLS (SPEC 15): a store server whose certificate CN is the bare
store code `S1` forwards S1's shifts; a shift of S2 pushed to it is refused by the
central server, set aside with the answer, and does not hold up S1; once the central
server trusts the store server, `forward --rejected` sends it."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from cashserver.config import GrpcConfig
from cashserver.domain import UploadStatus
from cashserver.emulator.generate import ShiftPlan, generate_upload
from cashserver.emulator.push import GrpcPusher
from tests.e2e.daemon import ServeProcess
from tests.e2e.forwarding import all_in, by_key, rows, status, store_server
from tests.e2e.test_grpc_tls import Pki
from tests.waiting import wait_for

if "trusted_forwarders" not in {f.name for f in dataclasses.fields(GrpcConfig)}:
    pytest.skip(
        "the central side of SPEC 15 (bare store-code CNs, [grpc] trusted_forwarders)"
        " is not in this tree yet",
        allow_module_level=True,
    )


def test_a_store_server_forwards_its_own_store_and_sets_a_foreign_shift_aside(
    tmp_path: Path,
) -> None:
    folder = tmp_path / "pki"
    folder.mkdir()
    pki = Pki(folder)
    grpc_tls = {
        "tls_cert": str(pki.root / "server.pem"),
        "tls_key": str(pki.root / "server.key"),
        "tls_client_ca": str(pki.root / "ca.pem"),
    }
    central = ServeProcess(tmp_path / "central", grpc=grpc_tls, thrift={"listen": ""})
    client = pki.client("store-s1", "S1")
    store = store_server(
        tmp_path / "store",
        central.grpc_target,
        upstream={"tls_ca": client.ca, "tls_cert": client.cert, "tls_key": client.key},
    )
    central.start(wait=False)
    store.start()
    pusher = GrpcPusher(store.grpc_target)
    try:
        pushed = [("S1", "R1", 1), ("S2", "R1", 1), ("S1", "R1", 2), ("S1", "R2", 1)]
        for code, register, number in pushed:
            upload = generate_upload(ShiftPlan(code, register, number, 10, seed=3))
            assert pusher.upload(upload).status is UploadStatus.LOADED

        def s2_set_aside() -> bool:
            s = status(store)
            return bool(s["rejected_shifts"] == 1 and s["backlog_shifts"] == 0)

        wait_for(s2_set_aside, 60.0, "S1 forwarded and S2 set aside")
        document = json.loads(store.cli("upstream", "status", "--json").stdout)
        (rejected,) = document["rejected"]
        assert rejected["workshift_id"] == 2
        assert rejected["message"].startswith("PERMISSION_DENIED")
        assert document["state"] == "ok"
        assert {(r["store_code"], r["shift_number"]) for r in rows(central)} == {
            ("S1", 1),
            ("S1", 2),
        }
        assert [
            r["workshift_id"]
            for r in json.loads(store.cli("shifts", "--not-forwarded", "--json").stdout)
        ] == [2]

        # The central server's operator trusts the store server for every store.
        central.kill()
        central = ServeProcess(
            tmp_path / "central",
            grpc={**grpc_tls, "trusted_forwarders": ["S1"]},
            thrift={"listen": ""},
        )
        central.start()
        again = store.cli("forward", "--rejected", "--json")
        assert json.loads(again.stdout)["summary"] == {
            "shifts": 1,
            "acknowledged": 1,
            "rejected": 0,
            "failed": 0,
        }
        wait_for(lambda: all_in(store, central), 30.0, "everything forwarded")
        assert by_key(rows(central)) == by_key(rows(store))
        assert status(store)["rejected_shifts"] == 0
    finally:
        pusher.close()
        store.kill()
        central.kill()

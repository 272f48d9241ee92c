"""The series SPEC 16 adds, from a real ``cashserver serve``: readiness per check, the
oldest incoming file, and the last upload's time, which a restart does not reset."""

from __future__ import annotations

import time

from cashserver.domain import UploadStatus
from cashserver.emulator.generate import ShiftPlan, generate_upload
from cashserver.emulator.push import GrpcPusher
from tests.e2e.daemon import ServeProcess, scrape
from tests.waiting import wait_for

LAST_UPLOAD = ("cashserver_last_upload_timestamp_seconds", ())


def ready_checks(daemon: ServeProcess) -> dict[str, float]:
    return {
        dict(labels)["check"]: value
        for (name, labels), value in scrape(daemon).items()
        if name == "cashserver_ready"
    }


def test_readiness_incoming_age_and_the_last_upload_survive_a_restart(
    serve: ServeProcess,
) -> None:
    everything = {"grpc": 1, "thrift": 1, "spool": 1, "database": 1}
    # Until the front's first report reaches the writer, its listeners count as not ready.
    wait_for(lambda: ready_checks(serve) == everything, 30, "every check ready")
    found = scrape(serve)
    assert found[("cashserver_spool_oldest_incoming_age_seconds", ())] == 0
    assert not any(name.startswith("cashserver_tls_cert") for name, _ in found)  # no TLS
    started = found[LAST_UPLOAD]
    assert abs(started - time.time()) < 120  # a new database: the daemon's start

    pusher = GrpcPusher(serve.grpc_target)
    try:
        before = time.time()
        upload = generate_upload(ShiftPlan("S1", "R1", 1, 10, seed=5))
        assert pusher.upload(upload).status is UploadStatus.LOADED
        after = time.time()
    finally:
        pusher.close()
    uploaded = wait_for(
        lambda: scrape(serve)[LAST_UPLOAD] >= before and scrape(serve)[LAST_UPLOAD], 15, "upload"
    )
    assert before <= uploaded <= after + 1

    assert serve.terminate() == 0
    serve.start()
    restarted = scrape(serve)[LAST_UPLOAD]
    # The newest load in the database, not the restart: the quiet time goes on counting.
    assert before - 1 <= restarted <= after + 1

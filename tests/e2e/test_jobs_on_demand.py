"""``cashserver trim-dicts``, ``trim`` and ``archive`` beside a running ``serve``."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

from cashserver.clock import now_ms
from cashserver.domain import UploadStatus
from cashserver.emulator.generate import ShiftPlan, generate_upload
from cashserver.emulator.push import GrpcPusher
from cashserver.http.passwords import hash_password
from cashserver.jobs.dicts import SETTING
from tests.aging import aged
from tests.e2e.daemon import ServeProcess
from tests.waiting import wait_for


def wait_for_exports(daemon: ServeProcess, shifts: int, timeout_s: float = 60.0) -> None:
    def exported() -> bool:
        rows = json.loads(daemon.cli("shifts", "--json").stdout)
        return len(rows) >= shifts and all(r["exported"] for r in rows)

    wait_for(exported, timeout_s, what=f"{shifts} shifts exported")


def test_trim_dicts_reads_the_running_daemons_settings_behind_a_password(
    tmp_path: Path,
) -> None:
    daemon = ServeProcess(tmp_path, http={"password_hash": hash_password("pw")})
    daemon.start()
    try:
        dicts = tmp_path / "dicts"
        (dicts / "store-1").mkdir(parents=True)
        (dicts / "store-1" / "goods.xml").write_text("<goods/>")
        (dicts / "prices.json").write_text("{}")
        assert daemon.http("/api/settings")[0] == 401  # the console login protects it
        daemon.cli("settings", "set", SETTING, str(dicts))
        result = daemon.cli("trim-dicts")
        printed = result.stdout.splitlines()
        assert f"deleted: {dicts / 'prices.json'}" in printed
        assert f"deleted: {dicts / 'store-1' / 'goods.xml'}" in printed
        assert printed[-1].startswith(f"trimmed {dicts}: 2 file(s), 1 folder(s)")
        assert dicts.is_dir() and list(dicts.iterdir()) == []
        [event] = daemon.events("dicts.trimmed")
        assert (event["files"], event["folders"]) == (2, 1)

        daemon.cli("settings", "set", SETTING, str(daemon.data_dir / "spool"))
        refused = daemon.cli("trim-dicts", check=False)
        assert refused.returncode == 1
        assert refused.stdout.startswith("refused: ") and "data_dir" in refused.stdout
        assert (daemon.data_dir / "spool" / "incoming").is_dir()
    finally:
        daemon.kill()
    skipped = daemon.cli("trim-dicts", check=False)  # the daemon is gone: nobody answers
    assert skipped.returncode == 1 and skipped.stdout.startswith("skipped: ")


def test_trim_while_a_register_keeps_pushing(tmp_path: Path) -> None:
    daemon = ServeProcess(tmp_path, jobs={"keep_shifts_days": 30, "trim_batch_receipts": 200})
    daemon.start()
    now = now_ms()
    pusher = GrpcPusher(daemon.grpc_target)
    try:
        for n in range(1, 41):  # 40 shifts, 40 to 119 days old
            upload = aged(generate_upload(ShiftPlan("S1", "OLD", n, 60, seed=n)), 40 + 2 * n, now)
            assert pusher.upload(upload).status is UploadStatus.LOADED
        fresh = aged(generate_upload(ShiftPlan("S1", "NEW", 1, 60, seed=99)), 1, now)
        assert pusher.upload(fresh).status is UploadStatus.LOADED
        wait_for_exports(daemon, 41)

        dry = json.loads(daemon.cli("trim", "--dry-run", "--json").stdout)
        assert len(dry["shifts"]) == 40 and dry["receipts"] == 2400

        errors: list[BaseException] = []
        latencies: list[float] = []
        stop = threading.Event()

        def push_meanwhile() -> None:
            live = GrpcPusher(daemon.grpc_target)
            number = 1
            try:
                while not stop.is_set():
                    upload = aged(generate_upload(ShiftPlan("S1", "LIVE", number, 30)), 0, now)
                    started = time.perf_counter()
                    result = live.upload(upload)
                    latencies.append(time.perf_counter() - started)
                    assert result.status is UploadStatus.LOADED, result
                    number += 1
            except BaseException as exc:
                errors.append(exc)
            finally:
                live.close()

        thread = threading.Thread(target=push_meanwhile)
        thread.start()
        try:
            done = json.loads(daemon.cli("trim", "--json").stdout)
        finally:
            stop.set()
            thread.join(60)
        assert errors == []
        assert latencies, "the pusher pushed nothing while the trimmer ran"
        assert len(done["shifts"]) == 40 and done["transactions"] >= 12
        rows = json.loads(daemon.cli("shifts", "--json").stdout)
        assert {r["register_code"] for r in rows} == {"NEW", "LIVE"}
        assert len(daemon.events("shift.trimmed")) == 40
    finally:
        pusher.close()
        daemon.kill()

"""The spool on real files: atomic writes, the sales file format, folders, retry."""

from __future__ import annotations

import os
from pathlib import Path

import orjson
import pytest

from cashserver.domain import Origin
from cashserver.emulator.generate import ShiftPlan, generate_upload
from cashserver.sales_file import BrokenSalesFile, decode_sales_file, encode_sales_file, origin_of
from cashserver.spool import Spool, SpoolUnavailable


@pytest.fixture
def spool(tmp_path: Path) -> Spool:
    spool = Spool(tmp_path / "spool")
    spool.prepare()
    return spool


def test_put_writes_a_sales_file_that_reads_back_as_the_same_upload(spool: Spool) -> None:
    upload = generate_upload(ShiftPlan("S1", "R1", 1, 25, seed=1))
    path = spool.put(upload, "grpc")
    assert path.parent == spool.folder("incoming")
    decoded, envelope = decode_sales_file(path.read_bytes())
    assert decoded == upload
    assert envelope["format"] == "cashserver.sales"
    assert envelope["version"] == 1
    assert envelope["source"] == "grpc"
    assert not [p for p in spool.folder("incoming").iterdir() if p.name.startswith(".")]


def test_a_forwarded_upload_names_the_node_that_forwarded_it(spool: Spool) -> None:
    upload = generate_upload(ShiftPlan("S1", "R1", 1, 5, seed=1))
    path = spool.put(upload, "forward", forwarded_by="store-1")
    decoded, envelope = decode_sales_file(path.read_bytes())
    assert decoded == upload
    assert (envelope["source"], envelope["forwarded_by"]) == ("forward", "store-1")
    assert origin_of(envelope["source"], envelope["forwarded_by"]) == Origin("forward", "store-1")
    # A register's own upload is written as before: no forwarded_by at all.
    pushed = spool.put(upload, "grpc")
    assert b"forwarded_by" not in pushed.read_bytes()
    assert "forwarded_by" not in decode_sales_file(pushed.read_bytes())[1]


def test_a_sales_file_written_before_forwarding_reads_as_before() -> None:
    upload = generate_upload(ShiftPlan("S1", "R1", 1, 3, seed=2))
    # The sales file of the previous release, byte for byte: the envelope, then the upload.
    body = encode_sales_file(upload, "pull", 1_700_000_000_000)
    old = orjson.dumps(
        {
            "format": "cashserver.sales",
            "version": 1,
            "received_at": 1_700_000_000_000,
            "source": "pull",
            "upload": orjson.loads(body)["upload"],
        }
    )
    decoded, envelope = decode_sales_file(old)
    assert decoded == upload and "forwarded_by" not in envelope
    assert origin_of(envelope["source"]) == Origin("pull")


@pytest.mark.parametrize(
    ("source", "forwarded_by", "origin"),
    [
        ("grpc", "", Origin("push")),
        ("thrift", "", Origin("push")),
        (None, None, Origin("push")),
        ("pull", "", Origin("pull")),
        ("forward", "store-1", Origin("forward", "store-1")),
    ],
)
def test_the_origin_of_each_source(
    source: str | None, forwarded_by: str | None, origin: Origin
) -> None:
    assert origin_of(source, forwarded_by) == origin


def test_incoming_lists_files_in_arrival_order(spool: Spool) -> None:
    paths = [
        spool.put(generate_upload(ShiftPlan("S1", "R1", n, 2, seed=1)), "grpc") for n in range(5)
    ]
    assert spool.incoming() == paths


def test_prepare_removes_leftover_temp_files(spool: Spool) -> None:
    leftover = spool.folder("incoming") / ".tmp-half-written.json"
    leftover.write_bytes(b'{"format": "cashs')
    assert spool.prepare() == 1
    assert not leftover.exists()


def test_a_foreign_file_with_iso_times_and_enum_names_is_read(spool: Spool) -> None:
    document = {
        "shift": {
            "store_code": "S1",
            "register_code": "R1",
            "shift_number": 7,
            "opened_at": "2026-03-01T08:00:00Z",
            "closed_at": None,
        },
        "receipts": [
            {
                "uid": "8F14E45F-CEEA-467F-A0E6-2D5B9B1E3C11",
                "number": 1,
                "kind": "SALE",
                "closed_at": "2026-03-01T09:00:00+03:00",
                "lines": [
                    {
                        "position": 1,
                        "item_code": "1",
                        "barcode": "",
                        "name": "Tea",
                        "department": "1",
                        "quantity": 1000,
                        "price": 5000,
                        "amount": 5000,
                    }
                ],
                "payments": [{"method": "CASH", "amount": 5000}],
            }
        ],
    }
    upload, _ = decode_sales_file(orjson.dumps(document))
    assert upload.shift.opened_at == 1_772_352_000_000
    assert upload.receipts[0].uid == "8f14e45f-ceea-467f-a0e6-2d5b9b1e3c11"
    assert upload.receipts[0].closed_at == 1_772_344_800_000


@pytest.mark.parametrize(
    ("data", "words"),
    [
        (b"\x00\x01garbage", "JSONDecodeError"),
        (b"[1, 2]", "not a JSON object"),
        (b'{"format": "other", "version": 1}', "unsupported format"),
        (b'{"shift": {"store_code": "S1"}}', "missing"),
    ],
)
def test_broken_files_are_named_broken(data: bytes, words: str) -> None:
    with pytest.raises(BrokenSalesFile, match=words):
        decode_sales_file(data)


def test_a_structurally_invalid_upload_is_a_broken_file() -> None:
    upload = generate_upload(ShiftPlan("S1", "R1", 1, 3, seed=1))
    document = orjson.loads(encode_sales_file(upload, "x", 0))
    document["upload"]["receipts"][1]["uid"] = "nope"
    with pytest.raises(BrokenSalesFile, match=r"receipts\[1\]\.uid: not a UUID"):
        decode_sales_file(orjson.dumps(document))


def test_move_writes_a_reason_beside_the_file_and_retry_brings_it_back(spool: Spool) -> None:
    path = spool.put(generate_upload(ShiftPlan("S1", "R1", 1, 2, seed=1)), "grpc")
    spool.move([path], "error", {"reason": "r", "error": "e", "time": "t"})
    moved = spool.folder("error") / path.name
    reason = spool.folder("error") / f"{path.name}.reason"
    assert moved.exists() and orjson.loads(reason.read_bytes())["reason"] == "r"
    assert spool.retry() == [path.name]
    assert (spool.folder("incoming") / path.name).exists()
    assert not reason.exists()
    with pytest.raises(FileNotFoundError):
        spool.retry(["no-such-file.json"])


def test_status_counts_files_and_oldest_age(spool: Spool) -> None:
    path = spool.put(generate_upload(ShiftPlan("S1", "R1", 1, 2, seed=1)), "grpc")
    os.utime(path, (path.stat().st_atime - 100, path.stat().st_mtime - 100))
    status = {s.folder: s for s in spool.status()}
    assert status["incoming"].files == 1
    assert status["incoming"].oldest_age_s is not None and status["incoming"].oldest_age_s >= 99
    assert status["processed"].files == 0 and status["processed"].oldest_age_s is None


def test_an_unwritable_spool_refuses_and_leaves_nothing(spool: Spool) -> None:
    if os.getuid() == 0:
        # root ignores permissions: make the folder vanish instead.
        incoming = spool.folder("incoming")
        incoming.rmdir()
        incoming.write_text("not a folder")
    else:
        spool.folder("incoming").chmod(0o500)
    with pytest.raises(SpoolUnavailable):
        spool.put(generate_upload(ShiftPlan("S1", "R1", 1, 2, seed=1)), "grpc")


def test_spool_commands_show_status_and_retry(
    spool: Spool, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from cashserver.cli.main import main

    config = tmp_path / "cashserver.toml"
    config.write_text(f'[server]\ndata_dir = "{spool.root.parent}"\n')
    upload = generate_upload(ShiftPlan("S1", "R1", 1, 4, seed=1))
    path = spool.put(upload, "grpc")
    assert main(["spool", "show", str(path), "--config", str(config)]) == 0
    shown = capsys.readouterr().out
    assert '"kind": "CASH_IN"' in shown and '"item_code"' in shown
    # What `spool show` prints is itself a sales file that loads as the same upload.
    assert decode_sales_file(shown.encode())[0] == upload
    assert main(["spool", "status", "--json", "--config", str(config)]) == 0
    status = {row["folder"]: row["files"] for row in orjson.loads(capsys.readouterr().out)}
    assert status == {"incoming": 1, "processed": 0, "error": 0, "broken": 0}
    spool.move([path], "error", {"reason": "r", "error": "", "time": "t"})
    assert main(["spool", "retry", "--config", str(config)]) == 0
    assert f"retry: {path.name}" in capsys.readouterr().out
    assert main(["spool", "retry", "nope.json", "--config", str(config)]) == 1
    (tmp_path / "garbage.json").write_bytes(b"{]")
    assert main(["spool", "show", str(tmp_path / "garbage.json"), "--config", str(config)]) == 1

"""Protocol 4 with TLS and mutual TLS, through `cashserver serve`."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
import trustme

from cashserver.domain import UploadStatus
from cashserver.emulator.generate import ShiftPlan, generate_upload
from cashserver.emulator.push import GrpcPusher, TlsFiles
from tests.e2e.daemon import ServeProcess
from tests.waiting import retry, wait_for


class Pki:
    """A CA for the server and registers, and a stranger CA nobody trusts."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.ca = trustme.CA()
        self.stranger = trustme.CA()
        self.ca.cert_pem.write_to_path(str(root / "ca.pem"))
        server = self.ca.issue_cert("127.0.0.1", "localhost")
        server.private_key_pem.write_to_path(str(root / "server.key"))
        server.cert_chain_pems[0].write_to_path(str(root / "server.pem"))

    def client(self, name: str, cn: str, stranger: bool = False) -> TlsFiles:
        issuer = self.stranger if stranger else self.ca
        cert = issuer.issue_cert(f"{name}.registers.invalid", common_name=cn)
        cert.private_key_pem.write_to_path(str(self.root / f"{name}.key"))
        cert.cert_chain_pems[0].write_to_path(str(self.root / f"{name}.pem"))
        return TlsFiles(
            str(self.root / "ca.pem"),
            str(self.root / f"{name}.pem"),
            str(self.root / f"{name}.key"),
        )


@pytest.fixture
def pki(tmp_path: Path) -> Pki:
    folder = tmp_path / "pki"
    folder.mkdir()
    return Pki(folder)


def tls_daemon(tmp_path: Path, pki: Pki, mutual: bool) -> ServeProcess:
    grpc_section = {
        "tls_cert": str(pki.root / "server.pem"),
        "tls_key": str(pki.root / "server.key"),
    }
    if mutual:
        grpc_section["tls_client_ca"] = str(pki.root / "ca.pem")
    daemon = ServeProcess(tmp_path / "daemon", grpc=grpc_section, thrift={"listen": ""})
    daemon.start(wait=False)
    return daemon


def wait_pushed(pusher: GrpcPusher, store: str, register: str, number: int) -> UploadStatus:
    upload = generate_upload(ShiftPlan(store, register, number, 10, seed=1))

    def unavailable(exc: Exception) -> bool:
        return isinstance(exc, grpc.RpcError) and exc.code() is grpc.StatusCode.UNAVAILABLE

    return retry(lambda: pusher.upload(upload).status, unavailable, 30, what="push")


@pytest.fixture
def mtls(tmp_path: Path, pki: Pki) -> Iterator[ServeProcess]:
    daemon = tls_daemon(tmp_path, pki, mutual=True)
    yield daemon
    daemon.kill()


def test_tls_without_client_certificates(tmp_path: Path, pki: Pki) -> None:
    daemon = tls_daemon(tmp_path, pki, mutual=False)
    try:
        pusher = GrpcPusher(daemon.grpc_target, TlsFiles(str(pki.root / "ca.pem")))
        assert wait_pushed(pusher, "S1", "R1", 1) is UploadStatus.LOADED
        assert pusher.handshake("S1", "R1").tls_required is True
        pusher.close()
        plain = GrpcPusher(daemon.grpc_target, timeout_s=3)
        with pytest.raises(grpc.RpcError) as refused:
            plain.upload(generate_upload(ShiftPlan("S1", "R1", 2, 3, seed=1)))
        assert refused.value.code() is grpc.StatusCode.UNAVAILABLE
        plain.close()
    finally:
        daemon.kill()


def test_mutual_tls_accepts_the_register_named_by_its_certificate(
    mtls: ServeProcess, pki: Pki
) -> None:
    pusher = GrpcPusher(mtls.grpc_target, pki.client("r1", "S1/R1"))
    try:
        assert wait_pushed(pusher, "S1", "R1", 1) is UploadStatus.LOADED
        settings = pusher.handshake("S1", "R1")
        assert settings.tls_required is True
        with pytest.raises(grpc.RpcError) as denied:
            pusher.upload(generate_upload(ShiftPlan("S1", "R2", 1, 3, seed=1)))
        assert denied.value.code() is grpc.StatusCode.PERMISSION_DENIED
        assert "S1/R2" in (denied.value.details() or "")
        with pytest.raises(grpc.RpcError) as denied_handshake:
            pusher.handshake("S1", "R9")
        assert denied_handshake.value.code() is grpc.StatusCode.PERMISSION_DENIED
    finally:
        pusher.close()
    rows = json.loads(mtls.cli("shifts", "--json").stdout)
    assert [(r["register_code"], r["shift_number"]) for r in rows] == [("R1", 1)]


@pytest.mark.parametrize("case", ["no certificate", "another CA"])
def test_mutual_tls_refuses_strangers_and_logs_why(mtls: ServeProcess, pki: Pki, case: str) -> None:
    good = GrpcPusher(mtls.grpc_target, pki.client("r1", "S1/R1"))
    assert wait_pushed(good, "S1", "R1", 1) is UploadStatus.LOADED
    good.close()
    if case == "no certificate":
        files = TlsFiles(str(pki.root / "ca.pem"))
    else:
        files = pki.client("intruder", "S1/R1", stranger=True)
    stranger = GrpcPusher(mtls.grpc_target, files, timeout_s=3)
    with pytest.raises(grpc.RpcError) as refused:
        stranger.upload(generate_upload(ShiftPlan("S1", "R1", 2, 3, seed=1)))
    stranger.close()
    assert refused.value.code() is grpc.StatusCode.UNAVAILABLE
    wait_for(lambda: '"tls.rejected"' in mtls.log_text(), 10, what="tls.rejected logged")
    rejected = [
        json.loads(line) for line in mtls.log_text().splitlines() if '"tls.rejected"' in line
    ]
    expected = "CERTIFICATE" if case == "no certificate" else "CERTIFICATE_VERIFY_FAILED"
    assert any(expected in event["reason"] for event in rejected)

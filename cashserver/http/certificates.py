"""When this daemon's TLS certificates expire, for
``cashserver_tls_cert_expiry_timestamp_seconds{listener}`` (SPEC 16).

Read once at start: a listener loads its certificate when it starts, so a file
renewed later is served only after a restart, which reads it again. ``cryptography``
(a runtime dependency for this alone) is imported only when a certificate is set.
"""

from __future__ import annotations

from pathlib import Path

from cashserver.config import Config
from cashserver.log import get_logger

log = get_logger(__name__)


def certificate_files(config: Config) -> dict[str, str]:
    """The certificate file of each listener that serves TLS (``grpc``, ``thrift``), and
    ``upstream``: the client certificate the forwarder presents (SPEC 15), when it
    forwards to a target."""
    files: dict[str, str] = {}
    for name, listen, cert in (
        ("grpc", config.grpc.listen, config.grpc.tls_cert),
        ("thrift", config.thrift.listen, config.thrift.tls_cert),
    ):
        if listen and cert:
            files[name] = cert
    upstream = config.upstream
    target, cert = upstream.target, upstream.tls_cert
    if target and cert:
        files["upstream"] = cert
    return files


def not_after(path: str | Path) -> float:
    """When the first certificate of a PEM file expires, in seconds since the epoch."""
    from cryptography import x509

    certificate = x509.load_pem_x509_certificate(Path(path).read_bytes())
    return certificate.not_valid_after_utc.timestamp()


def expiry_times(config: Config) -> dict[str, float]:
    """:func:`not_after` of each of :func:`certificate_files`; a file that cannot be
    read is logged (``metrics.certificate_unreadable``) and left out."""
    expiry: dict[str, float] = {}
    for listener, path in certificate_files(config).items():
        try:
            expiry[listener] = not_after(path)
        except (OSError, ValueError) as exc:
            log.warning(
                "metrics.certificate_unreadable", listener=listener, path=path, error=str(exc)
            )
    return expiry

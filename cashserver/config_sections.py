"""The sections of the configuration (SPEC section 8), one frozen dataclass each.

Their defaults are the built-in ones; :mod:`cashserver.config` reads them from a file
and the environment and checks them (:func:`cashserver.config.parse_config`).
"""

from __future__ import annotations

import socket
from dataclasses import dataclass, field


@dataclass(frozen=True)
class ServerConfig:
    data_dir: str = "./cashserver-data"
    database_url: str = ""
    """Empty means an SQLite file inside data_dir."""
    timezone: str = "Europe/Moscow"
    backup_dir: str = ""
    """Where the spool archives go; empty means data_dir/backup."""
    log_format: str = "auto"
    """How ``serve`` writes its log on standard error: "json" (one object a line),
    "console" (lines for people), or "auto": console on a terminal, else JSON."""
    processes: int = 2
    """2: the listeners (front) and the writer in separate processes, so the daemon
    uses two cores; 1: everything in one process, as before (and for comparison)."""


@dataclass(frozen=True)
class GrpcConfig:
    listen: str = "0.0.0.0:10001"
    tls_cert: str = ""
    tls_key: str = ""
    tls_client_ca: str = ""
    max_message_bytes: int = 16 * 1024 * 1024
    workers: int = 8
    """Threads serving calls at once; more registers calling at once wait their turn
    (up to ``queued_calls``), which bounds memory and loses no throughput: the
    work of an upload holds the GIL."""
    queued_calls: int = 1000
    """Calls that may wait for a thread; beyond this a call is RESOURCE_EXHAUSTED."""
    trusted_forwarders: tuple[str, ...] = ()
    """Client certificate CNs (of store or region servers) that may upload for every
    store (SPEC 15); only with ``tls_client_ca``."""


@dataclass(frozen=True)
class ThriftConfig:
    listen: str = "0.0.0.0:10002"
    tls_cert: str = ""
    tls_key: str = ""
    max_frame_bytes: int = 64 * 1024 * 1024
    idle_timeout_s: float = 300.0
    """An idle connection is closed after this; registers may pause between calls."""


@dataclass(frozen=True)
class RegistersConfig:
    auto_register: bool = True
    protocol_version: int = 4
    upload_batch_size: int = 500
    advertise_grpc: str = ""
    """The gRPC endpoint Handshake tells registers (say, a balancer's HOST:PORT);
    empty: this daemon's own ``[grpc] listen`` address."""
    advertise_thrift: str = ""
    """The same for Thrift; empty: ``[thrift] listen``."""
    max_clock_skew_s: int = 120
    """A register clock further than this from the server's, ahead or behind, is skewed."""


@dataclass(frozen=True)
class SpoolConfig:
    verdict_timeout_s: float = 2.0
    batch_files: int = 8
    """How many queued sales files the loader may take into one transaction."""


@dataclass(frozen=True)
class ExchangeConfig:
    formats: tuple[str, ...] = ("json",)
    outbox_dir: str = ""
    enterprisedata_version: str = "1.11"
    organization_name: str = ""
    organization_inn: str = ""
    organization_kpp: str = ""
    frontol_database_id: int = 1


@dataclass(frozen=True)
class JobsConfig:
    archive_time: str = "03:33"
    archive_keep_days: int = 30
    events_keep_days: int = 90
    """Events older than this are trimmed daily."""
    dicts_trim_time: str = "03:33"
    settings_url: str = ""
    """Where the dictionary trim reads its setting; empty: this daemon's /api/settings."""
    dicts_allowed_root: str = ""
    """When set, the dictionary trim deletes nothing outside it."""
    keep_shifts_days: int = 0
    """Database trimmer: shifts older than this go (0 = off)."""
    trim_batch_receipts: int = 5000


@dataclass(frozen=True)
class HttpConfig:
    listen: str = "127.0.0.1:10003"
    password_hash: str = ""
    """Made by ``cashserver http hash-password``; empty: no login, loopback only."""
    session_hours: float = 12.0


def _host_name() -> str:
    return socket.gethostname() or "cashserver"


@dataclass(frozen=True)
class ClusterConfig:
    """Several daemons on one PostgreSQL (SPEC section 14)."""

    node_name: str = field(default_factory=_host_name)
    """Names this daemon in events and as the owner of its leases."""
    lease_ttl_s: float = 30.0
    """A lease not renewed for this long is free for another daemon (a dead one's
    work moves within it); holders renew every third of it."""


@dataclass(frozen=True)
class ReportsConfig:
    load_mode: str = "line"
    """Where a department report takes the department: "line" (the line's own) or
    "register" (the register's ``department`` in the directory), like Artix's loadMode."""
    completeness_days: int = 7
    """How many past local days ``cashserver_store_days_incomplete`` looks at."""


@dataclass(frozen=True)
class PullConfig:
    """``[pull]`` (SPEC 10): the server asks registers for their sales."""

    enabled: bool = True
    """Scheduled pulls; on-demand pulls work either way."""
    interval_s: int = 900
    overlap_s: int = 7200
    first_window_s: int = 86400
    concurrency: int = 16
    timeout_s: float = 60.0
    """One register's whole answer, connecting included."""
    confirm_days: int = 7
    tls_ca: str = ""
    tls_cert: str = ""
    tls_key: str = ""


@dataclass(frozen=True)
class UpstreamConfig:
    """``[upstream]`` (SPEC 15): the central server this one forwards every shift to."""

    target: str = ""
    """HOST:PORT of the central server's protocol 4; "" = no forwarding."""
    tls_ca: str = ""
    tls_cert: str = ""
    tls_key: str = ""
    concurrency: int = 4
    """Registers forwarded at once."""
    timeout_s: float = 60.0
    """One shift's upload, connecting included."""
    retry_max_s: float = 300.0
    """The longest wait between tries after a failure."""


@dataclass(frozen=True)
class StoreConfig:
    """Per-store details under ``[stores.<store_code>]``."""

    timezone: str = ""
    name: str = ""

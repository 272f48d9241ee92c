"""Configuration (SPEC section 8): a TOML file, then ``CASHSERVER_<SECTION>_<KEY>``.

Read once into an immutable :class:`Config` and passed down; nothing deeper
reads the environment. Every fault raises :class:`ConfigError` whose message is
one line naming the key, which the CLI turns into exit code 2.
"""

from __future__ import annotations

import dataclasses
import os
import socket
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, get_type_hints
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DEFAULT_CONFIG_PATH = Path("/etc/cashserver/cashserver.toml")
EXCHANGE_FORMATS = ("json", "enterprisedata", "frontol")


class ConfigError(ValueError):
    """A bad configuration value or an unknown key."""


@dataclass(frozen=True)
class ServerConfig:
    data_dir: str = "./cashserver-data"
    database_url: str = ""
    """Empty means an SQLite file inside data_dir."""
    timezone: str = "Europe/Moscow"
    backup_dir: str = ""
    """Where the spool archives go; empty means data_dir/backup."""
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


@dataclass(frozen=True)
class Config:
    server: ServerConfig = field(default_factory=ServerConfig)
    grpc: GrpcConfig = field(default_factory=GrpcConfig)
    thrift: ThriftConfig = field(default_factory=ThriftConfig)
    registers: RegistersConfig = field(default_factory=RegistersConfig)
    spool: SpoolConfig = field(default_factory=SpoolConfig)
    exchange: ExchangeConfig = field(default_factory=ExchangeConfig)
    jobs: JobsConfig = field(default_factory=JobsConfig)
    http: HttpConfig = field(default_factory=HttpConfig)
    pull: PullConfig = field(default_factory=PullConfig)
    cluster: ClusterConfig = field(default_factory=ClusterConfig)
    stores: Mapping[str, StoreConfig] = field(default_factory=dict)
    reports: ReportsConfig = field(default_factory=ReportsConfig)
    upstream: UpstreamConfig = field(default_factory=UpstreamConfig)

    @property
    def data_dir(self) -> Path:
        return Path(self.server.data_dir)

    @property
    def spool_dir(self) -> Path:
        return self.data_dir / "spool"

    @property
    def outbox_dir(self) -> Path:
        return (
            Path(self.exchange.outbox_dir) if self.exchange.outbox_dir else self.data_dir / "outbox"
        )

    @property
    def backup_dir(self) -> Path:
        return Path(self.server.backup_dir) if self.server.backup_dir else self.data_dir / "backup"

    @property
    def database_url(self) -> str:
        if self.server.database_url:
            return self.server.database_url
        return f"sqlite:///{self.data_dir / 'cashserver.db'}"

    def store_timezone(self, store_code: str) -> ZoneInfo:
        store = self.stores.get(store_code)
        return ZoneInfo(store.timezone if store and store.timezone else self.server.timezone)


_SECTIONS: dict[str, type[Any]] = {
    "server": ServerConfig,
    "grpc": GrpcConfig,
    "thrift": ThriftConfig,
    "registers": RegistersConfig,
    "spool": SpoolConfig,
    "exchange": ExchangeConfig,
    "jobs": JobsConfig,
    "http": HttpConfig,
    "pull": PullConfig,
    "reports": ReportsConfig,
    "cluster": ClusterConfig,
    "upstream": UpstreamConfig,
}


def _coerce(key: str, value: Any, annotation: Any) -> Any:
    """Check ``value`` against the field's type; ints are accepted where floats are."""
    if annotation is bool:
        ok = isinstance(value, bool)
    elif annotation is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif annotation is float:
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        value = float(value) if ok else value
    elif annotation is str:
        ok = isinstance(value, str)
    else:
        ok = isinstance(value, list) and all(isinstance(v, str) for v in value)
        value = tuple(value) if ok else value
    if ok:
        return value
    expected = getattr(annotation, "__name__", "list of strings")
    raise ConfigError(f"{key}: expected {expected}, got {value!r}")


def _section(cls: type[Any], prefix: str, values: Mapping[str, Any]) -> Any:
    hints = get_type_hints(cls)
    known = {f.name for f in dataclasses.fields(cls)}
    kwargs = {}
    for key, value in values.items():
        if key not in known:
            raise ConfigError(f"{prefix}.{key}: unknown key")
        kwargs[key] = _coerce(f"{prefix}.{key}", value, hints[key])
    return cls(**kwargs)


def _env_value(raw: str, annotation: Any) -> Any:
    try:
        value = tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        if annotation is str:
            return raw
        raise
    # A string key takes a bare string even when it reads as TOML (an INN, "1.21", "true").
    if annotation is str and not isinstance(value, str):
        return raw
    return value


def _apply_env(data: dict[str, Any], environ: Mapping[str, str]) -> None:
    for name, raw in environ.items():
        if not name.startswith("CASHSERVER_"):
            continue
        rest = name[len("CASHSERVER_") :].lower()
        section = next((s for s in _SECTIONS if rest.startswith(s + "_")), None)
        if section is None:
            raise ConfigError(f"{name}: unknown configuration section")
        key = rest[len(section) + 1 :]
        hints = get_type_hints(_SECTIONS[section])
        if key not in hints:
            raise ConfigError(f"{name}: unknown key {section}.{key}")
        try:
            value = _env_value(raw, hints[key])
        except tomllib.TOMLDecodeError:
            raise ConfigError(f"{name}: not a TOML value: {raw!r}") from None
        data.setdefault(section, {})[key] = value


def _check_listen(key: str, value: str) -> None:
    if value == "":
        return
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ConfigError(f'{key}: expected HOST:PORT or "", got {value!r}')


def _check_timezone(key: str, value: str) -> None:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(f"{key}: unknown time zone {value!r}") from None


def _check_database_url(key: str, value: str) -> None:
    """A URL this daemon can open: SQLite, or PostgreSQL through psycopg 3."""
    if value == "":
        return
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        url = make_url(value)
    except (ArgumentError, ValueError):
        raise ConfigError(
            f"{key}: not a database URL (sqlite:///PATH or postgresql://...)"
        ) from None
    allowed = {"sqlite": ("", "pysqlite"), "postgresql": ("", "psycopg")}
    backend, _, driver = url.drivername.replace("postgres+", "postgresql+").partition("+")
    backend = "postgresql" if backend == "postgres" else backend
    if driver not in allowed.get(backend, ()):
        raise ConfigError(f"{key}: unsupported database {url.drivername!r} (sqlite or postgresql)")


def _check_cluster(config: Config) -> None:
    name = config.cluster.node_name
    if not 1 <= len(name) <= 128 or not name.isprintable():
        raise ConfigError("cluster.node_name: expected 1-128 printable characters")
    if not 1.0 <= config.cluster.lease_ttl_s <= 300.0:
        raise ConfigError("cluster.lease_ttl_s: expected 1 to 300 seconds")
    _check_listen("registers.advertise_grpc", config.registers.advertise_grpc)
    _check_listen("registers.advertise_thrift", config.registers.advertise_thrift)


def _check(config: Config) -> None:
    _check_timezone("server.timezone", config.server.timezone)
    _check_listen("grpc.listen", config.grpc.listen)
    _check_listen("thrift.listen", config.thrift.listen)
    if config.server.processes not in (1, 2):
        raise ConfigError("server.processes: expected 1 or 2")
    if config.registers.protocol_version not in (3, 4):
        raise ConfigError("registers.protocol_version: expected 3 or 4")
    for fmt in config.exchange.formats:
        if fmt not in EXCHANGE_FORMATS:
            raise ConfigError(f"exchange.formats: unknown format {fmt!r}")
    if config.exchange.enterprisedata_version not in ("1.11", "1.21"):
        raise ConfigError('exchange.enterprisedata_version: expected "1.11" or "1.21"')
    positive = {
        "grpc.max_message_bytes": config.grpc.max_message_bytes,
        "grpc.workers": config.grpc.workers,
        "grpc.queued_calls": config.grpc.queued_calls,
        "thrift.max_frame_bytes": config.thrift.max_frame_bytes,
        "registers.upload_batch_size": config.registers.upload_batch_size,
        "registers.max_clock_skew_s": config.registers.max_clock_skew_s,
        "reports.completeness_days": config.reports.completeness_days,
        "spool.batch_files": config.spool.batch_files,
        "jobs.archive_keep_days": config.jobs.archive_keep_days,
        "jobs.events_keep_days": config.jobs.events_keep_days,
    }
    for key, number in positive.items():
        if number <= 0:
            raise ConfigError(f"{key}: must be positive")
    if config.spool.verdict_timeout_s < 0 or config.thrift.idle_timeout_s <= 0:
        raise ConfigError("spool.verdict_timeout_s / thrift.idle_timeout_s: out of range")
    for key, value in (
        ("jobs.archive_time", config.jobs.archive_time),
        ("jobs.dicts_trim_time", config.jobs.dicts_trim_time),
    ):
        hh, _, mm = value.partition(":")
        if not (hh.isdigit() and mm.isdigit() and int(hh) < 24 and int(mm) < 60):
            raise ConfigError(f"{key}: expected HH:MM")
    _check_ops(config)
    for section, tls in (("grpc", config.grpc), ("thrift", config.thrift)):
        if bool(tls.tls_cert) != bool(tls.tls_key):
            raise ConfigError(f"{section}.tls_cert / {section}.tls_key: set both or neither")
    if config.grpc.tls_client_ca and not config.grpc.tls_cert:
        raise ConfigError("grpc.tls_client_ca: needs grpc.tls_cert and grpc.tls_key")
    _check_pull(config.pull)
    if config.reports.load_mode not in ("line", "register"):
        raise ConfigError('reports.load_mode: expected "line" or "register"')
    _check_cluster(config)
    _check_upstream(config.upstream)
    _check_database_url("server.database_url", config.server.database_url)
    for code, store in config.stores.items():
        if store.timezone:
            _check_timezone(f"stores.{code}.timezone", store.timezone)


def _check_ops(config: Config) -> None:
    """The ``[http]`` section and the trimming keys of ``[jobs]``."""
    _check_listen("http.listen", config.http.listen)
    if config.http.session_hours <= 0:
        raise ConfigError("http.session_hours: must be positive")
    if config.http.password_hash and not config.http.password_hash.startswith(
        ("scrypt$", "pbkdf2_sha256$")
    ):
        raise ConfigError("http.password_hash: not made by `cashserver http hash-password`")
    if config.jobs.keep_shifts_days < 0:
        raise ConfigError("jobs.keep_shifts_days: must be 0 (off) or positive")
    if config.jobs.trim_batch_receipts <= 0:
        raise ConfigError("jobs.trim_batch_receipts: must be positive")
    url = config.jobs.settings_url
    if url and not url.startswith(("http://", "https://")):
        raise ConfigError("jobs.settings_url: expected an http:// or https:// URL")
    root = config.jobs.dicts_allowed_root
    if root and not Path(root).is_absolute():
        raise ConfigError("jobs.dicts_allowed_root: must be an absolute path")


def _check_pull(pull: PullConfig) -> None:
    for key in ("interval_s", "concurrency", "timeout_s", "confirm_days", "first_window_s"):
        if getattr(pull, key) <= 0:
            raise ConfigError(f"pull.{key}: must be positive")
    if pull.overlap_s < 0:
        raise ConfigError("pull.overlap_s: must not be negative")
    if bool(pull.tls_cert) != bool(pull.tls_key):
        raise ConfigError("pull.tls_cert / pull.tls_key: set both or neither")


def _check_upstream(upstream: UpstreamConfig) -> None:
    if upstream.target:
        host, sep, port = upstream.target.rpartition(":")
        if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ConfigError("upstream.target: expected HOST:PORT")
    if not 1 <= upstream.concurrency <= 256:
        raise ConfigError("upstream.concurrency: expected 1 to 256")
    if upstream.timeout_s <= 0 or upstream.retry_max_s < 1:
        raise ConfigError("upstream.timeout_s / upstream.retry_max_s: out of range")
    if bool(upstream.tls_cert) != bool(upstream.tls_key):
        raise ConfigError("upstream.tls_cert / upstream.tls_key: set both or neither")
    if upstream.tls_cert and not upstream.tls_ca:
        raise ConfigError("upstream.tls_cert: needs upstream.tls_ca")


def parse_config(data: Mapping[str, Any], environ: Mapping[str, str] | None = None) -> Config:
    """Build a :class:`Config` from parsed TOML ``data`` and environment overrides."""
    merged: dict[str, Any] = {k: dict(v) if isinstance(v, dict) else v for k, v in data.items()}
    _apply_env(merged, environ or {})
    sections: dict[str, Any] = {}
    for name, values in merged.items():
        if name == "stores":
            if not isinstance(values, dict):
                raise ConfigError("stores: expected a table of stores")
            stores = {}
            for code, table in values.items():
                if not isinstance(table, dict):
                    raise ConfigError(f"stores.{code}: expected a table")
                stores[code] = _section(StoreConfig, f"stores.{code}", table)
            sections["stores"] = stores
            continue
        if name not in _SECTIONS:
            raise ConfigError(f"{name}: unknown section")
        if not isinstance(values, dict):
            raise ConfigError(f"{name}: expected a table")
        sections[name] = _section(_SECTIONS[name], name, values)
    config = Config(**sections)
    _check(config)
    return config


def load_config(path: str | Path | None, environ: Mapping[str, str] | None = None) -> Config:
    """Read the file at ``path`` (or the default one if it exists), then the environment.

    ``path=None`` uses ``/etc/cashserver/cashserver.toml`` when present, else the
    built-in defaults. An explicit path that does not exist is an error.
    """
    env = os.environ if environ is None else environ
    if path is None:
        path = DEFAULT_CONFIG_PATH if DEFAULT_CONFIG_PATH.exists() else None
    data: dict[str, Any] = {}
    if path is not None:
        try:
            with open(path, "rb") as handle:
                data = tomllib.load(handle)
        except FileNotFoundError:
            raise ConfigError(f"--config: no such file {str(path)!r}") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    return parse_config(data, env)

"""Configuration (SPEC section 8): a TOML file, then ``CASHSERVER_<SECTION>_<KEY>``.

Read once into an immutable :class:`Config` and passed down; nothing deeper
reads the environment. Every fault raises :class:`ConfigError` whose message is
one line naming the key, which the CLI turns into exit code 2.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, get_type_hints
from zoneinfo import ZoneInfo

from cashserver.config_sections import (
    ClusterConfig,
    ExchangeConfig,
    GrpcConfig,
    HttpConfig,
    JobsConfig,
    PullConfig,
    RegistersConfig,
    ReportsConfig,
    ServerConfig,
    SpoolConfig,
    StoreConfig,
    ThriftConfig,
    UpstreamConfig,
)
from cashserver.config_values import ConfigError as ConfigError  # raised by load_config
from cashserver.config_values import (
    check_database_url,
    check_listen,
    check_timezone,
    env_value,
    read_section,
)

__all__ = [  # the sections are defined in config_sections and read from here
    "ClusterConfig",
    "ExchangeConfig",
    "GrpcConfig",
    "HttpConfig",
    "JobsConfig",
    "PullConfig",
    "RegistersConfig",
    "ReportsConfig",
    "ServerConfig",
    "SpoolConfig",
    "StoreConfig",
    "ThriftConfig",
    "UpstreamConfig",
]

DEFAULT_CONFIG_PATH = Path("/etc/cashserver/cashserver.toml")
EXCHANGE_FORMATS = ("json", "enterprisedata", "frontol")
LOG_FORMATS = ("auto", "json", "console")


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
            value = env_value(raw, hints[key])
        except tomllib.TOMLDecodeError:
            raise ConfigError(f"{name}: not a TOML value: {raw!r}") from None
        data.setdefault(section, {})[key] = value


def _check_cluster(config: Config) -> None:
    name = config.cluster.node_name
    if not 1 <= len(name) <= 128 or not name.isprintable():
        raise ConfigError("cluster.node_name: expected 1-128 printable characters")
    if not 1.0 <= config.cluster.lease_ttl_s <= 300.0:
        raise ConfigError("cluster.lease_ttl_s: expected 1 to 300 seconds")
    check_listen("registers.advertise_grpc", config.registers.advertise_grpc)
    check_listen("registers.advertise_thrift", config.registers.advertise_thrift)


def _check(config: Config) -> None:
    check_timezone("server.timezone", config.server.timezone)
    check_listen("grpc.listen", config.grpc.listen)
    check_listen("thrift.listen", config.thrift.listen)
    if config.server.log_format not in LOG_FORMATS:
        raise ConfigError('server.log_format: expected "auto", "json" or "console"')
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
    for cn in config.grpc.trusted_forwarders:
        if not 1 <= len(cn) <= 64 or not cn.isprintable() or cn != cn.strip():
            raise ConfigError(f"grpc.trusted_forwarders: not a certificate CN: {cn!r}")
    if config.grpc.trusted_forwarders and not config.grpc.tls_client_ca:
        raise ConfigError("grpc.trusted_forwarders: needs grpc.tls_client_ca")
    _check_pull(config.pull)
    if config.reports.load_mode not in ("line", "register"):
        raise ConfigError('reports.load_mode: expected "line" or "register"')
    _check_cluster(config)
    _check_upstream(config.upstream)
    check_database_url("server.database_url", config.server.database_url)
    for code, store in config.stores.items():
        if store.timezone:
            check_timezone(f"stores.{code}.timezone", store.timezone)


def _check_ops(config: Config) -> None:
    """The ``[http]`` section and the trimming keys of ``[jobs]``."""
    check_listen("http.listen", config.http.listen)
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
                stores[code] = read_section(StoreConfig, f"stores.{code}", table)
            sections["stores"] = stores
            continue
        if name not in _SECTIONS:
            raise ConfigError(f"{name}: unknown section")
        if not isinstance(values, dict):
            raise ConfigError(f"{name}: expected a table")
        sections[name] = read_section(_SECTIONS[name], name, values)
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

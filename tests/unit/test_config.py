"""Configuration (SPEC section 8): defaults, the TOML file, environment overrides, faults."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy.engine import make_url

from cashserver import config as config_module
from cashserver.config import Config, ConfigError, load_config, parse_config

REPO_ROOT = Path(__file__).resolve().parents[2]


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def config_error(data: dict[str, object], environ: dict[str, str] | None = None) -> str:
    with pytest.raises(ConfigError) as caught:
        parse_config(data, environ or {})
    message = str(caught.value)
    assert "\n" not in message
    return message


# -- defaults ---------------------------------------------------------------------


def test_without_a_file_the_built_in_defaults_apply(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(config_module, "DEFAULT_CONFIG_PATH", tmp_path / "absent.toml")
    config = load_config(None, environ={})
    assert config == Config()
    assert config.server.data_dir == "./cashserver-data"
    assert config.data_dir == Path("cashserver-data")
    url = make_url(config.database_url)
    assert url.get_backend_name() == "sqlite"
    assert Path(url.database or "") == Path("cashserver-data") / "cashserver.db"
    assert config.spool_dir == Path("cashserver-data") / "spool"
    assert config.outbox_dir == Path("cashserver-data") / "outbox"


def test_the_other_defaults_are_those_of_the_spec_example() -> None:
    config = parse_config({}, {})
    assert config.server.timezone == "Europe/Moscow"
    assert config.grpc.listen == "0.0.0.0:10001"
    assert config.grpc.max_message_bytes == 16_777_216
    assert config.thrift.listen == "0.0.0.0:10002"
    assert config.thrift.max_frame_bytes == 67_108_864
    assert config.registers.auto_register is True
    assert config.registers.protocol_version == 4
    assert config.spool.verdict_timeout_s == 2.0
    assert config.exchange.formats == ("json",)
    assert config.exchange.enterprisedata_version == "1.11"
    assert config.exchange.frontol_database_id == 1


def test_the_default_file_is_read_when_it_exists(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    default = write(tmp_path / "cashserver.toml", '[server]\ndata_dir = "/srv/cash"\n')
    monkeypatch.setattr(config_module, "DEFAULT_CONFIG_PATH", default)
    config = load_config(None, environ={})
    assert config.data_dir == Path("/srv/cash")
    assert config.database_url == "sqlite:////srv/cash/cashserver.db"


# -- the file ----------------------------------------------------------------------


FULL_FILE = """
[server]
data_dir = "/var/lib/cashserver"
database_url = "postgresql://cash@db/cash"
timezone = "Asia/Yekaterinburg"
[grpc]
listen = ""
max_message_bytes = 1048576
[thrift]
listen = "127.0.0.1:9090"
max_frame_bytes = 2048
[registers]
auto_register = false
protocol_version = 3
[spool]
verdict_timeout_s = 1
[exchange]
formats = ["json", "enterprisedata", "frontol"]
outbox_dir = "/srv/outbox"
enterprisedata_version = "1.21"
organization_inn = "7701234567"
frontol_database_id = 7
[stores.S2]
timezone = "Asia/Vladivostok"
"""


def test_file_values_are_read(tmp_path: Path) -> None:
    config = load_config(write(tmp_path / "c.toml", FULL_FILE), environ={})
    assert config.data_dir == Path("/var/lib/cashserver")
    assert config.database_url == "postgresql://cash@db/cash"
    assert config.grpc.listen == ""
    assert config.grpc.max_message_bytes == 1_048_576
    assert config.thrift.listen == "127.0.0.1:9090"
    assert config.registers.auto_register is False
    assert config.registers.protocol_version == 3
    assert config.spool.verdict_timeout_s == 1.0
    assert config.exchange.formats == ("json", "enterprisedata", "frontol")
    assert config.outbox_dir == Path("/srv/outbox")
    assert config.exchange.enterprisedata_version == "1.21"
    assert config.exchange.organization_inn == "7701234567"
    assert config.exchange.frontol_database_id == 7
    assert config.store_timezone("S2") == ZoneInfo("Asia/Vladivostok")
    assert config.store_timezone("S1") == ZoneInfo("Asia/Yekaterinburg")


def test_an_explicit_file_that_does_not_exist_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="--config"):
        load_config(tmp_path / "missing.toml", environ={})


def test_a_file_that_is_not_toml_is_an_error(tmp_path: Path) -> None:
    path = write(tmp_path / "c.toml", "[server\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(path, environ={})


# -- the environment ---------------------------------------------------------------


def test_environment_overrides_the_file(tmp_path: Path) -> None:
    path = write(tmp_path / "c.toml", FULL_FILE)
    environ = {
        "CASHSERVER_SERVER_DATABASE_URL": "sqlite:////tmp/other.db",
        "CASHSERVER_EXCHANGE_FORMATS": '["json", "frontol"]',
        "CASHSERVER_REGISTERS_AUTO_REGISTER": "true",
        "CASHSERVER_REGISTERS_PROTOCOL_VERSION": "4",
        "CASHSERVER_SPOOL_VERDICT_TIMEOUT_S": "0.5",
        "CASHSERVER_GRPC_LISTEN": "0.0.0.0:20001",
        "UNRELATED_VARIABLE": "ignored",
    }
    config = load_config(path, environ=environ)
    assert config.database_url == "sqlite:////tmp/other.db"
    assert config.exchange.formats == ("json", "frontol")
    assert config.registers.auto_register is True
    assert config.registers.protocol_version == 4
    assert config.spool.verdict_timeout_s == 0.5
    assert config.grpc.listen == "0.0.0.0:20001"
    # What the environment does not name still comes from the file.
    assert config.data_dir == Path("/var/lib/cashserver")
    assert config.exchange.frontol_database_id == 7


def test_the_process_environment_is_read_by_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CASHSERVER_SERVER_TIMEZONE", "Europe/Kaliningrad")
    config = load_config(write(tmp_path / "c.toml", ""))
    assert config.server.timezone == "Europe/Kaliningrad"


@pytest.mark.parametrize(
    ("variable", "raw", "section", "key", "expected"),
    [
        ("CASHSERVER_SERVER_DATA_DIR", "/srv/cash data", "server", "data_dir", "/srv/cash data"),
        ("CASHSERVER_SERVER_DATA_DIR", '"/srv/quoted"', "server", "data_dir", "/srv/quoted"),
        ("CASHSERVER_SERVER_TIMEZONE", "UTC", "server", "timezone", "UTC"),
        ("CASHSERVER_GRPC_LISTEN", "", "grpc", "listen", ""),
        # Bare strings that happen to read as TOML numbers or dates are still strings.
        ("CASHSERVER_EXCHANGE_ORGANIZATION_INN", "7701234567", "exchange", "organization_inn",
         "7701234567"),
        ("CASHSERVER_EXCHANGE_ORGANIZATION_KPP", "770101001", "exchange", "organization_kpp",
         "770101001"),
        ("CASHSERVER_EXCHANGE_ENTERPRISEDATA_VERSION", "1.21", "exchange",
         "enterprisedata_version", "1.21"),
        ("CASHSERVER_EXCHANGE_ORGANIZATION_NAME", "true", "exchange", "organization_name", "true"),
    ],
)  # fmt: skip
def test_string_keys_take_bare_strings_from_the_environment(
    variable: str, raw: str, section: str, key: str, expected: str
) -> None:
    config = parse_config({}, {variable: raw})
    assert getattr(getattr(config, section), key) == expected


# -- faults name the key -------------------------------------------------------------


def test_an_unknown_key_in_the_file_is_named() -> None:
    assert config_error({"server": {"data_dri": "/x"}}) == "server.data_dri: unknown key"


def test_an_unknown_section_in_the_file_is_named() -> None:
    assert config_error({"sever": {"data_dir": "/x"}}) == "sever: unknown section"


def test_an_unknown_key_of_a_store_is_named() -> None:
    assert config_error({"stores": {"S1": {"tz": "UTC"}}}) == "stores.S1.tz: unknown key"


@pytest.mark.parametrize(
    ("data", "key"),
    [
        ({"grpc": {"max_message_bytes": "16MB"}}, "grpc.max_message_bytes"),
        ({"grpc": {"max_message_bytes": 1.5}}, "grpc.max_message_bytes"),
        ({"registers": {"auto_register": "yes"}}, "registers.auto_register"),
        ({"registers": {"auto_register": 1}}, "registers.auto_register"),
        ({"registers": {"protocol_version": True}}, "registers.protocol_version"),
        ({"server": {"data_dir": 5}}, "server.data_dir"),
        ({"exchange": {"formats": "json"}}, "exchange.formats"),
        ({"exchange": {"formats": ["json", 1]}}, "exchange.formats"),
        ({"spool": {"verdict_timeout_s": "2s"}}, "spool.verdict_timeout_s"),
    ],
)
def test_a_value_of_the_wrong_type_is_named(data: dict[str, object], key: str) -> None:
    assert config_error(data).startswith(f"{key}: expected ")


@pytest.mark.parametrize(
    ("data", "key"),
    [
        ({"registers": {"protocol_version": 5}}, "registers.protocol_version"),
        ({"exchange": {"formats": ["json", "csv"]}}, "exchange.formats"),
        ({"exchange": {"enterprisedata_version": "2.0"}}, "exchange.enterprisedata_version"),
        ({"grpc": {"listen": "10001"}}, "grpc.listen"),
        ({"thrift": {"listen": "host:port"}}, "thrift.listen"),
        ({"grpc": {"max_message_bytes": 0}}, "grpc.max_message_bytes"),
    ],
)
def test_a_bad_value_is_named(data: dict[str, object], key: str) -> None:
    assert config_error(data).startswith(f"{key}: ")


@pytest.mark.parametrize("zone", ["Mars/Olympus", "Europe", "", "../etc/passwd", "UTC+3"])
def test_a_bad_time_zone_is_named(zone: str) -> None:
    assert config_error({"server": {"timezone": zone}}).startswith("server.timezone: ")


def test_a_bad_store_time_zone_is_named() -> None:
    message = config_error({"stores": {"S9": {"timezone": "Nowhere/Town"}}})
    assert message.startswith("stores.S9.timezone: ")


def test_an_unknown_environment_key_is_named() -> None:
    message = config_error({}, {"CASHSERVER_SERVER_DATADIR": "/x"})
    assert message.startswith("CASHSERVER_SERVER_DATADIR: ")
    assert "server.datadir" in message


def test_an_unknown_environment_section_is_named() -> None:
    message = config_error({}, {"CASHSERVER_DATABASE_URL": "sqlite://"})
    assert message.startswith("CASHSERVER_DATABASE_URL: ")


@pytest.mark.parametrize(
    ("variable", "raw", "key"),
    [
        ("CASHSERVER_REGISTERS_AUTO_REGISTER", "yes", "CASHSERVER_REGISTERS_AUTO_REGISTER"),
        ("CASHSERVER_REGISTERS_AUTO_REGISTER", "1", "registers.auto_register"),
        ("CASHSERVER_EXCHANGE_FORMATS", "json,frontol", "CASHSERVER_EXCHANGE_FORMATS"),
        ("CASHSERVER_GRPC_MAX_MESSAGE_BYTES", '"big"', "grpc.max_message_bytes"),
        ("CASHSERVER_SERVER_TIMEZONE", "Mars/Olympus", "server.timezone"),
    ],
)
def test_a_bad_environment_value_is_named(variable: str, raw: str, key: str) -> None:
    assert config_error({}, {variable: raw}).startswith(f"{key}: ")


# -- through the command line ---------------------------------------------------------


def run_cli(
    *args: str, cwd: Path, extra_env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CASHSERVER_")}
    env["PYTHONPATH"] = str(REPO_ROOT)
    env.update(extra_env or {})
    return subprocess.run(
        [sys.executable, "-m", "cashserver.cli", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize(
    ("text", "extra_env", "key"),
    [
        ('[server]\ndata_dri = "x"\n', {}, "server.data_dri"),
        ('[grpc]\nmax_message_bytes = "big"\n', {}, "grpc.max_message_bytes"),
        ('[server]\ntimezone = "Mars/Olympus"\n', {}, "server.timezone"),
        ("", {"CASHSERVER_REGISTERS_AUTO_REGISTER": "maybe"}, "CASHSERVER_REGISTERS_AUTO_REGISTER"),
    ],
)
def test_a_bad_configuration_exits_2_with_one_line_naming_the_key(
    tmp_path: Path, text: str, extra_env: dict[str, str], key: str
) -> None:
    path = write(tmp_path / "c.toml", "[spool]\nbatch_files = 4\n" + text)
    result = run_cli("shifts", "--json", "--config", str(path), cwd=tmp_path, extra_env=extra_env)
    assert result.returncode == 2
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert key in lines[0]
    assert not (tmp_path / "cashserver-data").exists()


# -- [cluster] and what Handshake advertises (SPEC section 14) --------------------------


def test_the_node_name_defaults_to_the_host_name() -> None:
    import socket

    config = parse_config({}, {})
    assert config.cluster.node_name == socket.gethostname()
    assert config.cluster.lease_ttl_s == 30.0
    assert (config.registers.advertise_grpc, config.registers.advertise_thrift) == ("", "")


def test_cluster_keys_come_from_the_file_and_the_environment() -> None:
    config = parse_config(
        {"cluster": {"node_name": "node-1"}, "registers": {"advertise_grpc": "lb.example:10001"}},
        {"CASHSERVER_CLUSTER_LEASE_TTL_S": "5", "CASHSERVER_REGISTERS_ADVERTISE_THRIFT": "lb:1"},
    )
    assert (config.cluster.node_name, config.cluster.lease_ttl_s) == ("node-1", 5.0)
    assert config.registers.advertise_grpc == "lb.example:10001"
    assert config.registers.advertise_thrift == "lb:1"


@pytest.mark.parametrize(
    ("data", "key"),
    [
        ({"cluster": {"node_name": ""}}, "cluster.node_name"),
        ({"cluster": {"lease_ttl_s": 0.5}}, "cluster.lease_ttl_s"),
        ({"registers": {"advertise_grpc": "no-port"}}, "registers.advertise_grpc"),
        ({"registers": {"advertise_thrift": "h:99999"}}, "registers.advertise_thrift"),
    ],
)
def test_bad_cluster_values_are_named(data: dict[str, object], key: str) -> None:
    assert config_error(data).startswith(key)


# -- [upstream] (SPEC 15) --------------------------------------------------------------


def test_upstream_defaults_to_no_forwarding() -> None:
    upstream = parse_config({}, {}).upstream
    assert (upstream.target, upstream.concurrency, upstream.timeout_s) == ("", 4, 60.0)
    assert upstream.retry_max_s == 300.0
    assert (upstream.tls_ca, upstream.tls_cert, upstream.tls_key) == ("", "", "")


def test_upstream_values_are_read_from_the_file_and_the_environment() -> None:
    config = parse_config(
        {"upstream": {"target": "central.example:10001", "concurrency": 8}},
        {"CASHSERVER_UPSTREAM_RETRY_MAX_S": "30"},
    )
    assert config.upstream.target == "central.example:10001"
    assert config.upstream.concurrency == 8
    assert config.upstream.retry_max_s == 30


@pytest.mark.parametrize(
    ("values", "key"),
    [
        ({"target": "central.example"}, "upstream.target"),
        ({"target": "central.example:0"}, "upstream.target"),
        ({"target": ":10001"}, "upstream.target"),
        ({"concurrency": 0}, "upstream.concurrency"),
        ({"timeout_s": 0}, "upstream.timeout_s / upstream.retry_max_s"),
        ({"retry_max_s": 0.5}, "upstream.timeout_s / upstream.retry_max_s"),
        ({"tls_cert": "c.pem", "tls_ca": "ca.pem"}, "upstream.tls_cert / upstream.tls_key"),
        ({"tls_cert": "c.pem", "tls_key": "k.pem"}, "upstream.tls_cert"),
        ({"targett": "x:1"}, "upstream.targett"),
    ],
)
def test_a_bad_upstream_value_is_named(values: dict[str, object], key: str) -> None:
    assert config_error({"upstream": values}).startswith(f"{key}: ")

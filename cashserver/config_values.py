"""Reading and checking one configuration value: types, ``CASHSERVER_*`` text, and the
checks of a listen address, a time zone and a database URL (:mod:`cashserver.config`).

Every fault raises :class:`ConfigError` whose message is one line naming the key.
"""

from __future__ import annotations

import dataclasses
import re
import tomllib
from collections.abc import Mapping
from typing import Any, get_type_hints
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError


class ConfigError(ValueError):
    """A bad configuration value or an unknown key."""


def coerce(key: str, value: Any, annotation: Any) -> Any:
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


def read_section(cls: type[Any], prefix: str, values: Mapping[str, Any]) -> Any:
    hints = get_type_hints(cls)
    known = {f.name for f in dataclasses.fields(cls)}
    kwargs = {}
    for key, value in values.items():
        if key not in known:
            raise ConfigError(f"{prefix}.{key}: unknown key")
        kwargs[key] = coerce(f"{prefix}.{key}", value, hints[key])
    return cls(**kwargs)


def env_value(raw: str, annotation: Any) -> Any:
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


def check_listen(key: str, value: str) -> None:
    if value == "":
        return
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ConfigError(f'{key}: expected HOST:PORT or "", got {value!r}')


def check_timezone(key: str, value: str) -> None:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(f"{key}: unknown time zone {value!r}") from None


def check_database_url(key: str, value: str) -> None:
    """A URL this daemon can open: SQLite, or PostgreSQL through psycopg 3.

    Only the scheme is read here (the form ``name[+driver]://``, as SQLAlchemy
    parses it): the configuration is core and loads no database library; the rest
    of the URL is the store's to open, which names the key if it cannot.
    """
    if value == "":
        return
    scheme = URL_SCHEME.match(value)
    if scheme is None:
        raise ConfigError(f"{key}: not a database URL (sqlite:///PATH or postgresql://...)")
    drivername = scheme.group(1)
    allowed = {"sqlite": ("", "pysqlite"), "postgresql": ("", "psycopg")}
    backend, _, driver = drivername.replace("postgres+", "postgresql+").partition("+")
    backend = "postgresql" if backend == "postgres" else backend
    if driver not in allowed.get(backend, ()):
        raise ConfigError(f"{key}: unsupported database {drivername!r} (sqlite or postgresql)")


URL_SCHEME = re.compile(r"([\w+]+)://")
URL_PASSWORD = re.compile(r"^([\w+]+://[^:/@]*):[^@/]*@")


def database_url_for_log(url: str) -> str:
    """The database URL with its password hidden (``***``), and ``postgresql://``
    named with its driver, psycopg 3, as the store opens it."""
    shown = URL_PASSWORD.sub(r"\1:***@", url)
    for bare in ("postgresql://", "postgres://"):
        if shown.startswith(bare):
            shown = "postgresql+psycopg://" + shown[len(bare) :]
    return shown

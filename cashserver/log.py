"""Structured logging, configured once, and the journal behind ``cashserver log``.

Every thing that happens has one dotted event name (``shift.loaded``,
``receipt.conflict``) and its facts as fields. Log lines go to standard error
(standard output is kept for the data that commands print): JSON lines or
console rendering, as ``[server] log_format`` says ("auto": console on a
terminal, else JSON).

Dotted events at level info or above are also collected by the :class:`Journal`,
which the daemon and the CLI flush into the events table, whatever is printed:
the commands other than ``serve`` print only warnings and errors (SPEC 6), yet
their info events are in ``cashserver log`` as ``serve``'s are.
"""

from __future__ import annotations

import io
import sys
import threading
import time
from collections.abc import MutableMapping
from dataclasses import dataclass
from typing import Any, TextIO, cast

import orjson
import structlog

_journal: Journal | None = None
_node_name: str | None = None
_JOURNAL_LEVELS = frozenset({"info", "warning", "error", "critical"})
_LEVELS = {"debug": 10, "info": 20, "warning": 30, "error": 40, "critical": 50}


@dataclass(frozen=True, slots=True)
class _Output:
    """What :func:`configure_logging` was last told, for :func:`log_to`."""

    level: str = "info"
    log_format: str = "auto"
    show: str = "info"
    as_json: bool | None = None


_output = _Output()


class Journal:
    """Events waiting to be written to the events table, in the order they happened."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pending: list[tuple[int, str, str]] = []

    def append(self, time_ms: int, event: str, fields: dict[str, Any]) -> None:
        data = orjson.dumps(fields, default=str, option=orjson.OPT_NON_STR_KEYS).decode()
        with self._lock:
            self._pending.append((time_ms, event, data))

    def drain(self) -> list[tuple[int, str, str]]:
        """Take every pending event out: (time in ms, event name, fields as JSON)."""
        with self._lock:
            pending, self._pending = self._pending, []
        return pending

    def extend(self, events: list[tuple[int, str, str]]) -> None:
        """Add events drained from another process's journal (the front's)."""
        with self._lock:
            self._pending.extend(events)

    def put_back(self, events: list[tuple[int, str, str]]) -> None:
        """Return events that could not be written, ahead of newer ones."""
        with self._lock:
            self._pending[:0] = events


def set_journal(journal: Journal | None) -> None:
    """Collect dotted events into ``journal`` from now on (None stops collecting)."""
    global _journal
    _journal = journal


def set_node_name(name: str | None) -> None:
    """Name this daemon (``[cluster] node_name``) in every event from now on, so a
    log shared by several daemons shows which one did what."""
    global _node_name
    _node_name = name


def _add_node(
    _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    if _node_name is not None:
        event_dict.setdefault("node", _node_name)
    return event_dict


def _to_journal(
    _logger: Any, method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    journal = _journal
    event = event_dict.get("event")
    if (
        journal is not None
        and method in _JOURNAL_LEVELS
        and isinstance(event, str)
        and "." in event
    ):
        fields = {k: v for k, v in event_dict.items() if k not in ("event", "timestamp", "level")}
        if method != "info":
            fields["level"] = method
        journal.append(time.time_ns() // 1_000_000, event, fields)
    return event_dict


class _CurrentStderr(io.TextIOBase):
    """Whatever ``sys.stderr`` is at the moment of writing (it may be replaced later,
    as test runners do), instead of the object it was when logging was set up."""

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()

    def isatty(self) -> bool:
        return sys.stderr.isatty()


def _json_dumps(obj: Any, **_kw: Any) -> str:
    text: str = orjson.dumps(obj, default=str).decode()
    return text


def _shown_from(show: str) -> Any:
    """A processor that prints only events at ``show`` or above; the ones below it
    have reached the journal already (it runs before this one)."""
    lowest = _LEVELS[show]

    def shown(
        _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
    ) -> MutableMapping[str, Any]:
        if _LEVELS.get(str(event_dict.get("level")), 50) < lowest:
            raise structlog.DropEvent
        return event_dict

    return shown


def configure_logging(
    level: str = "info",
    stream: TextIO | None = None,
    as_json: bool | None = None,
    *,
    log_format: str = "auto",
    show: str | None = None,
) -> None:
    """Configure structlog for the process; safe to call more than once.

    ``level``: the lowest level logged at all; ``show``: the lowest printed (default:
    every event logged); ``log_format``: "json", "console" or "auto" (console on a
    terminal), unless ``as_json`` decides.
    """
    global _output
    _output = _Output(level, log_format, show or level, as_json)
    out: TextIO = stream if stream is not None else cast(TextIO, _CurrentStderr())
    if as_json is None:
        as_json = log_format == "json" or (log_format == "auto" and not out.isatty())
    renderer: Any = (
        structlog.processors.JSONRenderer(serializer=_json_dumps)
        if as_json
        else structlog.dev.ConsoleRenderer(colors=False)
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            _add_node,
            _to_journal,
            _shown_from(_output.show),
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(_LEVELS[level]),
        logger_factory=structlog.PrintLoggerFactory(out),
        cache_logger_on_first_use=False,
    )


def log_to(stream: TextIO | None) -> None:
    """Print the log on ``stream`` (None: standard error) from now on, otherwise as
    configured last."""
    configure_logging(
        _output.level,
        stream,
        _output.as_json,
        log_format=_output.log_format,
        show=_output.show,
    )


def get_logger(name: str) -> Any:
    return structlog.get_logger(name)

"""What the two converters share: wire messages that have no counterpart in
:mod:`cashserver.domain`, and the fast construction of domain objects.

Both converters (:mod:`cashserver.rpc.convert_proto`, :mod:`cashserver.rpc.convert_thrift`)
produce and consume these, so transports, the puller and the emulator see one shape
whichever protocol carried the message. Times are int milliseconds since the epoch.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeAlias

from cashserver.domain import EpochMs
from cashserver.validate import ValidationError


@dataclass(frozen=True, slots=True)
class Handshake:
    """A register's HandshakeRequest, as received (codes are not validated here)."""

    store_code: str
    register_code: str
    software_version: str = ""
    supported_protocols: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True)
class SyncSettings:
    """What the server tells a register in answer to its Handshake."""

    protocol_version: int
    grpc_endpoint: str
    thrift_endpoint: str
    tls_required: bool
    upload_batch_size: int
    server_time: EpochMs


@dataclass(frozen=True, slots=True)
class TimeRange:
    """Sales whose time falls in the half-open range ``[from_ms, to_ms)``."""

    from_ms: EpochMs
    to_ms: EpochMs


@dataclass(frozen=True, slots=True)
class ShiftRange:
    """Sales of the shifts numbered ``from_shift`` to ``to_shift``, both included."""

    from_shift: int
    to_shift: int


SalesQuery: TypeAlias = TimeRange | ShiftRange
"""A SalesRequest: exactly one of the two ranges."""


def check_time_range(query: TimeRange, path: str, from_name: str, to_name: str) -> TimeRange:
    """Return ``query`` or raise :class:`ValidationError` if it runs backwards.

    ``path`` names the range on the wire (``time_range``); ``from_name`` and
    ``to_name`` are its bounds' wire names, which differ between protocols.
    """
    if query.to_ms < query.from_ms:
        raise ValidationError(f"{path}.{to_name}", f"must not be before {from_name}")
    return query


def check_shift_range(query: ShiftRange, path: str) -> ShiftRange:
    """Return ``query`` or raise :class:`ValidationError` if a bound is below 1 or inverted."""
    if query.from_shift < 1:
        raise ValidationError(f"{path}.from_shift", "must be >= 1")
    if query.to_shift < query.from_shift:
        raise ValidationError(f"{path}.to_shift", "must not be below from_shift")
    return query


RECEIPT_FIELDS = ("uid", "number", "kind", "closed_at", "cashier", "lines", "payments")


def slot_setters(cls: type, names: tuple[str, ...]) -> tuple[Callable[[Any, Any], None], ...]:
    """The setters of the slots ``names`` of the slots dataclass ``cls``, in that order.

    Converting an upload is mostly building frozen dataclasses, whose ``__init__``
    stores each field with ``object.__setattr__(self, name, value)``, looking the
    name up every time. Calling the slot descriptor's setter on ``object.__new__(cls)``
    does the same store without the lookup, about twice as fast. Defaults are not
    applied, so ``names`` must be every field: raises ``RuntimeError`` (at import of
    the converters) if the domain class has gained, lost or renamed a field.
    """
    fields = tuple(f.name for f in dataclasses.fields(cls))
    if sorted(fields) != sorted(names):
        raise RuntimeError(f"{cls.__name__} has fields {fields}; the converters set {names}")
    return tuple(cls.__dict__[name].__set__ for name in names)

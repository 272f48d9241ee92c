"""What the two converters share: the fast construction of domain objects.

Both converters (:mod:`cashserver.rpc.convert_proto`, :mod:`cashserver.rpc.convert_thrift`)
build :mod:`cashserver.domain` objects from wire messages by the same means, so every
door to the spool (the listeners, pull, the emulator) sees one shape whichever
protocol carried the message.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

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

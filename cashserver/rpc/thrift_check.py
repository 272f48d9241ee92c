"""The shape of a binary Thrift message, checked before thriftpy2 decodes it.

thriftpy2's compiled decoder skips a value of an unexpected type without checking
it: a list that claims 2**31 elements of an undefined type is "skipped" in a C
loop that reads nothing and holds the GIL for seconds, so a few hundred crafted
bytes would freeze the daemon. :func:`check_message` walks the encoding once
(linear in the frame's size) and refuses undefined types, containers that claim
more elements than bytes remain, truncation and nesting deeper than 64.
"""

from __future__ import annotations

import struct

UNFRAMED = 0x80010000
"""The first 4 bytes of a strict binary message (version 1, as sent without framing)."""
_U32 = struct.Struct("!I").unpack_from
_STOP, _STRING, _STRUCT, _MAP, _SET, _LIST = 0, 11, 12, 13, 14, 15
_WIDTHS = {2: 1, 3: 1, 4: 8, 6: 2, 8: 4, 10: 8}  # bool, byte, double, i16, i32, i64
_VALUE_SIZE = tuple(_WIDTHS.get(t, 0) for t in range(256))
_FIELD_SIZE = tuple(3 + w if w else 0 for w in _VALUE_SIZE)
_VALID_TYPES = frozenset((*_WIDTHS, _STRING, _STRUCT, _MAP, _SET, _LIST))
_MAX_DEPTH = 64  # thriftpy2's own limit


class MalformedMessage(ValueError):
    """A frame whose message is not well-formed binary Thrift."""


def check_message(data: bytes | bytearray) -> str:
    """Walk the binary encoding of one message and return its method name; raise
    :class:`MalformedMessage` if it is truncated, nested deeper than 64, or has a type
    code Thrift does not define.

    This guards thriftpy2's decoder, which skips unexpected values without checking
    them: a list declared with an undefined element type and 2**31 elements is
    "skipped" in a loop that reads nothing, in C, holding the GIL, for seconds per
    list, so a few hundred bytes would freeze the whole daemon. Here every container
    must hold elements of a defined type (each takes at least one byte) and claim no
    more elements than bytes remain, so decoding stays linear in the frame's size.
    """
    try:
        first = _U32(data, 0)[0]
        if first & 0x80000000:  # strict: version and type, name, sequence id
            if (first & 0xFFFF0000) != UNFRAMED:
                raise MalformedMessage(f"bad protocol version {first >> 16:#06x}")
            name_at, name_size = 8, _U32(data, 4)[0]
            start = 12 + name_size
        else:  # old style: name, type, sequence id
            name_at, name_size = 4, first
            start = 9 + first
        end = _skip_struct(data, start, _MAX_DEPTH)
    except (IndexError, struct.error):
        raise MalformedMessage("truncated") from None
    if end > len(data):
        raise MalformedMessage("truncated")
    return bytes(data[name_at : name_at + name_size]).decode("utf-8", "replace")


def _skip_struct(data: bytes | bytearray, pos: int, budget: int) -> int:
    if budget <= 0:
        raise MalformedMessage("nested too deeply")
    field_size = _FIELD_SIZE
    u32 = _U32
    while True:
        ttype = data[pos]
        size = field_size[ttype]
        if size:
            pos += size
        elif ttype == _STRING:
            pos += 7 + u32(data, pos + 3)[0]
        elif ttype == _STOP:
            return pos + 1
        else:
            pos = _skip_value(data, pos + 3, ttype, budget - 1)


def _skip_value(data: bytes | bytearray, pos: int, ttype: int, budget: int) -> int:
    if ttype == _STRUCT:
        return _skip_struct(data, pos, budget)
    if ttype in (_LIST, _SET):
        types = data[pos : pos + 1]
        count: int = _U32(data, pos + 1)[0]
        pos += 5
    elif ttype == _MAP:
        types = data[pos : pos + 2]
        count = _U32(data, pos + 2)[0]
        pos += 6
    else:
        raise MalformedMessage(f"undefined type {ttype}")
    if budget <= 0:
        raise MalformedMessage("nested too deeply")
    if not _VALID_TYPES.issuperset(types):
        raise MalformedMessage(f"undefined element type in {list(types)}")
    if count > len(data) - pos:
        raise MalformedMessage(f"{count} elements in {len(data) - pos} bytes")
    if len(types) == 1:  # the fast paths of lists
        width = _VALUE_SIZE[types[0]]
        if width:
            return pos + count * width
        if types[0] == _STRUCT:
            for _ in range(count):
                pos = _skip_struct(data, pos, budget - 1)
            return pos
    for _ in range(count):
        for element in types:
            width = _VALUE_SIZE[element]
            if width:
                pos += width
            elif element == _STRING:
                pos += 4 + _U32(data, pos)[0]
            else:
                pos = _skip_value(data, pos, element, budget - 1)
    return pos

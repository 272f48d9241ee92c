"""Errors the transports share, and what a register is told when the server fails.

No reply carries an internal error's text (SPEC 4). A fault that goes away by
itself (the spool cannot be written, a connection refused or timed out) is
answered :data:`TRANSIENT`, which a register retries; anything else is a bug,
answered ``internal error <id>`` where the id is also in the logged
``rpc.internal_error`` event with the detail and the traceback. The accept path
meets no database (the store is the writer's), so no database error is expected
here; one would be a bug.
"""

from __future__ import annotations

import secrets

from cashserver.log import get_logger

log = get_logger(__name__)

TRANSIENT = "temporarily unavailable, retry"
"""The answer to a transient fault: nothing was accepted, send it again later."""
NOT_ACCEPTED = f"upload not accepted: {TRANSIENT}"
"""The answer when the spool cannot make an upload durable."""


def is_transient(exc: BaseException) -> bool:
    """Faults that go away by themselves: a connection refused or reset, a timeout."""
    return isinstance(exc, ConnectionError | TimeoutError)


class BindError(OSError):
    """The listen address cannot be bound (taken, or not ours); serve exits 2."""


def failure_message(protocol: int, method: str, peer: str, exc: BaseException) -> tuple[bool, str]:
    """Log an unexpected failure; returns (transient, the text for the register)."""
    if is_transient(exc):
        log.warning(
            "rpc.unavailable",
            protocol=protocol,
            method=method,
            peer=peer,
            error=(str(exc).splitlines() or [type(exc).__name__])[0],
        )
        return True, TRANSIENT
    error_id = secrets.token_hex(4)
    log.error(
        "rpc.internal_error",
        error_id=error_id,
        protocol=protocol,
        method=method,
        peer=peer,
        error=repr(exc),
        exc_info=exc,
    )
    return False, f"internal error {error_id}"

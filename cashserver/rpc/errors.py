"""Errors the transports share."""

from __future__ import annotations


class BindError(OSError):
    """The listen address cannot be bound (taken, or not ours); serve exits 2."""

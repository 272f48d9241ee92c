"""Exchange files for accounting: one pure writer a format, ``shift report -> bytes``.

Every writer depends only on the stored shift and the configuration (never on
"now"), so re-exporting an unchanged shift gives identical bytes (SPEC section 9).
"""

from __future__ import annotations

from collections.abc import Callable

from cashserver.config import Config
from cashserver.exchange import enterprisedata, frontol, json_format
from cashserver.reconcile import ShiftReport

Renderer = Callable[[ShiftReport, Config], bytes]

RENDERERS: dict[str, Renderer] = {
    "json": json_format.render,
    "enterprisedata": enterprisedata.render,
    "frontol": frontol.render,
}
"""The writer of each format named in ``exchange.formats``."""

EXTENSIONS: dict[str, str] = {"json": "json", "enterprisedata": "xml", "frontol": "txt"}
"""File name extension of each format: ``shift-<workshift_id>.<ext>``."""

__all__ = ["EXTENSIONS", "RENDERERS", "Renderer"]

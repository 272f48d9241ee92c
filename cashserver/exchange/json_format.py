"""The JSON exchange file (SPEC section 9): one document a shift.

The document is the SPEC 7 reconciliation row (less ``exported``), then
``counters`` (the register's own totals, ``null`` when it sent none), then
``receipts`` with their lines and payments. Money is int kopecks, quantity int
thousandths, times ISO 8601 UTC, enums by name. Keys keep a fixed order and the
output is indented UTF-8 with a trailing newline, so an unchanged shift renders
to identical bytes. The JSON Schema shipped beside this module
(``shift.schema.json``) describes the document.
"""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

import orjson

from cashserver.clock import iso_utc
from cashserver.config import Config
from cashserver.domain import Line, PaymentMethod, Receipt, ReceiptKind, ShiftCounters
from cashserver.reconcile import ShiftReport, reconciliation_row

SCHEMA_RESOURCE = "shift.schema.json"


def shift_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of the document :func:`render` writes."""
    text = resources.files(__package__).joinpath(SCHEMA_RESOURCE).read_text(encoding="utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema


def _counters(counters: ShiftCounters | None) -> dict[str, int] | None:
    if counters is None:
        return None
    return {
        "receipts_count": counters.receipts_count,
        "first_receipt_number": counters.first_receipt_number,
        "last_receipt_number": counters.last_receipt_number,
        "sales_cash": counters.sales_cash,
        "sales_noncash": counters.sales_noncash,
        "returns_cash": counters.returns_cash,
        "returns_noncash": counters.returns_noncash,
        "cash_in": counters.cash_in,
        "cash_out": counters.cash_out,
        "drawer": counters.drawer,
    }


LINE_KEYS = (
    "position",
    "item_code",
    "barcode",
    "name",
    "department",
    "quantity",
    "price",
    "amount",
    "discount",
    "vat_rate",
)
"""A line's keys in the document. They are :class:`Line`'s fields in its order, and
:func:`_receipt` unpacks lines by position into a dict display (the fastest way
to build tens of thousands of small dicts, twice as fast as attribute access)."""
if Line._fields != LINE_KEYS:
    raise RuntimeError(f"Line's fields {Line._fields} are not the document's {LINE_KEYS}")

_KIND_NAMES = {kind: kind.name for kind in ReceiptKind}
_METHOD_NAMES = {method: method.name for method in PaymentMethod}
"""Enum names by member: a dict lookup, where ``.name`` is a descriptor call each."""


def _receipt(receipt: Receipt) -> dict[str, object]:
    return {
        "uid": receipt.uid,
        "number": receipt.number,
        "kind": _KIND_NAMES[receipt.kind],
        "closed_at": iso_utc(receipt.closed_at),
        "cashier": receipt.cashier,
        "lines": [
            {
                "position": position,
                "item_code": item_code,
                "barcode": barcode,
                "name": name,
                "department": department,
                "quantity": quantity,
                "price": price,
                "amount": amount,
                "discount": discount,
                "vat_rate": vat_rate,
            }
            for (
                position,
                item_code,
                barcode,
                name,
                department,
                quantity,
                price,
                amount,
                discount,
                vat_rate,
            ) in receipt.lines
        ],
        "payments": [
            {"method": _METHOD_NAMES[method], "amount": amount}
            for method, amount in receipt.payments
        ],
    }


def document(report: ShiftReport) -> dict[str, object]:
    """The shift as plain JSON-ready data, keys in their fixed order."""
    doc = reconciliation_row(report.workshift_id, report.shift, report.totals, report.status)
    doc["counters"] = _counters(report.shift.counters)
    doc["receipts"] = [_receipt(receipt) for receipt in report.receipts]
    return doc


def render(report: ShiftReport, config: Config) -> bytes:
    """The JSON exchange file of one shift; ``config`` plays no part in this format."""
    return orjson.dumps(document(report), option=orjson.OPT_INDENT_2 | orjson.OPT_APPEND_NEWLINE)

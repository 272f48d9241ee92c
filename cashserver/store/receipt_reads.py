"""Stored receipts read back whole: the exporter's shift read and the loader's re-check.

A shift of 5,000 receipts is some 30,000 rows (receipts, lines, payments), so the
per-row Python work decides what a read costs. The statements are compiled once
per dialect and run through the driver; rows come as tuples in the columns' order
and become :class:`Line` and :class:`Payment` by slicing (``tuple.__new__(Line,
row[1:])``, which is ``Line._make`` without its Python-level call), with enums from
dicts of prebuilt members. An attribute access per column on SQLAlchemy rows and
``Enum(value)`` made the read three times as costly.

The three queries go in the order receipts, lines, payments, each ordered by
``receipt_id``: a receipt's lines and payments are committed with it, so a
receipt seen by the first query has them all by the later ones, even where each
statement sees its own snapshot (PostgreSQL's READ COMMITTED).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from functools import lru_cache
from typing import Any, NamedTuple

from sqlalchemy import Connection, bindparam, select

from cashserver.domain import PAYMENT_METHODS, RECEIPT_KINDS, Line, Payment, Receipt
from cashserver.store.schema import lines, payments, receipts
from cashserver.store.statements import compiled_sql, driver_dialect

HEAD_COLUMNS = ("receipt_id", "uid", "number", "kind", "closed_at", "cashier")
"""A receipt row: ``receipt_id`` then the receipt's own fields, as Receipt takes them."""

Row = Sequence[Any]


def _queries(condition: Any) -> tuple[Any, Any, Any]:
    """Receipts, their lines and their payments matching ``condition``, by receipt_id.

    Lines and payments are ordered by ``receipts.receipt_id`` (equal to theirs by the
    join): SQLite then walks the receipts' index in order and needs no sort.
    """
    head = (
        select(*(receipts.c[name] for name in HEAD_COLUMNS))
        .where(condition)
        .order_by(receipts.c.receipt_id)
    )
    line_query = (
        select(lines.c.receipt_id, *(lines.c[name] for name in Line._fields))
        .join(receipts, receipts.c.receipt_id == lines.c.receipt_id)
        .where(condition)
        .order_by(receipts.c.receipt_id, lines.c.line_no)
    )
    payment_query = (
        select(payments.c.receipt_id, payments.c.method, payments.c.amount)
        .join(receipts, receipts.c.receipt_id == payments.c.receipt_id)
        .where(condition)
        .order_by(receipts.c.receipt_id, payments.c.payment_no)
    )
    return head, line_query, payment_query


class ShiftQueries(NamedTuple):
    receipts: str
    lines: str
    payments: str


@lru_cache(maxsize=4)
def shift_queries(dialect_name: str) -> ShiftQueries:
    """The three queries of one shift's receipts, as the driver takes them (one parameter)."""
    dialect = driver_dialect(dialect_name)
    condition = receipts.c.workshift_id == bindparam("workshift_id")
    return ShiftQueries(*(compiled_sql(q, dialect, ["workshift_id"]) for q in _queries(condition)))


_new_tuple = tuple.__new__
"""``_new_tuple(Line, values)`` is ``Line._make(values)`` without its Python-level call."""


def _lines_by_receipt(rows: Iterable[Row]) -> dict[int, tuple[Line, ...]]:
    grouped: dict[int, list[Line]] = {}
    current: int | None = None
    group: list[Line] = []
    for row in rows:  # ordered by receipt_id: one dict store a receipt, not a line
        if row[0] != current:
            current = row[0]
            group = grouped[row[0]] = []
        group.append(_new_tuple(Line, row[1:]))
    return {receipt_id: tuple(group) for receipt_id, group in grouped.items()}


def _payments_by_receipt(rows: Iterable[Row]) -> dict[int, tuple[Payment, ...]]:
    methods = PAYMENT_METHODS
    grouped: dict[int, list[Payment]] = {}
    current: int | None = None
    group: list[Payment] = []
    for receipt_id, method, amount in rows:
        if receipt_id != current:
            current = receipt_id
            group = grouped[receipt_id] = []
        group.append(_new_tuple(Payment, (methods[method], amount)))
    return {receipt_id: tuple(group) for receipt_id, group in grouped.items()}


def _assemble(
    heads: Iterable[Row], line_rows: Iterable[Row], payment_rows: Iterable[Row]
) -> list[Receipt]:
    lines_of = _lines_by_receipt(line_rows)
    payments_of = _payments_by_receipt(payment_rows)
    kinds = RECEIPT_KINDS
    return [
        Receipt(
            uid,
            number,
            kinds[kind],
            closed_at,
            cashier,
            lines_of.get(receipt_id, ()),
            payments_of.get(receipt_id, ()),
        )
        for receipt_id, uid, number, kind, closed_at, cashier in heads
    ]


def read_shift_receipts(conn: Connection, workshift_id: int) -> list[Receipt]:
    """The stored receipts of one shift, whole, in the order they were stored."""
    sql = shift_queries(conn.dialect.name)
    params = (workshift_id,)
    heads = conn.exec_driver_sql(sql.receipts, params).all()
    line_rows = conn.exec_driver_sql(sql.lines, params).all()
    payment_rows = conn.exec_driver_sql(sql.payments, params).all()
    return _assemble(heads, line_rows, payment_rows)


@lru_cache(maxsize=4)
def span_queries(dialect_name: str) -> ShiftQueries:
    """The three queries of a span of one shift's receipts: those stored by revisions
    ``after < revision <= upto`` with ids ``first <= receipt_id <= last`` (the
    forwarder's page), as the driver takes them."""
    dialect = driver_dialect(dialect_name)
    condition = (
        (receipts.c.workshift_id == bindparam("workshift_id"))
        & (receipts.c.revision > bindparam("after"))
        & (receipts.c.revision <= bindparam("upto"))
        & (receipts.c.receipt_id >= bindparam("first"))
        & (receipts.c.receipt_id <= bindparam("last"))
    )
    order = ["workshift_id", "after", "upto", "first", "last"]
    return ShiftQueries(*(compiled_sql(q, dialect, order) for q in _queries(condition)))


def read_receipt_span(
    conn: Connection, workshift_id: int, after: int, upto: int, first: int, last: int
) -> list[Receipt]:
    """A shift's receipts of revisions ``(after, upto]`` with ids in ``[first, last]``."""
    sql = span_queries(conn.dialect.name)
    params = (workshift_id, after, upto, first, last)
    heads = conn.exec_driver_sql(sql.receipts, params).all()
    line_rows = conn.exec_driver_sql(sql.lines, params).all()
    payment_rows = conn.exec_driver_sql(sql.payments, params).all()
    return _assemble(heads, line_rows, payment_rows)


def read_receipts(conn: Connection, condition: Any) -> list[Receipt]:
    """Stored receipts matching ``condition`` (an expression on ``receipts``), whole,
    in the order they were stored."""
    head, line_query, payment_query = _queries(condition)
    heads = conn.execute(head).all()
    line_rows = conn.execute(line_query).all()
    payment_rows = conn.execute(payment_query).all()
    return _assemble(heads, line_rows, payment_rows)

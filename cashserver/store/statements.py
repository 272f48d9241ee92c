"""The loader's hot-path statements, compiled once per dialect from the schema's tables.

They run through the driver (``exec_driver_sql``, executemany of plain tuples), which
is what makes bulk loading fast, so they are compiled to the driver's positional
parameter style. Compiling them from :mod:`cashserver.store.schema` (instead of
writing SQL text) means a column renamed or dropped in the model breaks them at
import, and the migrations-vs-model test covers what they touch. Each statement's
parameter order is checked against the order the repository builds its rows in.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from typing import Any

from sqlalchemy import bindparam, func, literal_column, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.dialects.postgresql import psycopg
from sqlalchemy.engine import Dialect
from sqlalchemy.engine.interfaces import BindTyping

from cashserver.domain import Line, Payment
from cashserver.store.schema import lines, payments, receipts

RECEIPT_COLUMNS = (
    "receipt_id",
    "uid",
    "workshift_id",
    "number",
    "kind",
    "closed_at",
    "cashier",
    "revision",
)
LINE_COLUMNS = ("receipt_id", "line_no", *Line._fields)
"""A line row is ``(receipt_id, line_no, *line)``: unpacking the named tuple is C-fast."""
PAYMENT_COLUMNS = ("receipt_id", "payment_no", *Payment._fields)
"""A payment row is ``(receipt_id, payment_no, *payment)``, like a line's."""


def driver_dialect(name: str) -> Dialect:
    """The dialect that compiles statements to the driver's positional parameters."""
    if name == "sqlite":
        return sqlite.dialect()  # qmark: positional already
    dialect = psycopg.dialect(paramstyle="format")  # type: ignore[no-untyped-call]
    # Plain %s placeholders, as the driver takes them: the values are already the
    # columns' types, so the casts SQLAlchemy renders for psycopg add nothing.
    dialect.bind_typing = BindTyping.NONE
    return dialect


def compiled_sql(statement: Any, dialect: Dialect, order: Sequence[str]) -> str:
    """The statement's SQL; raises RuntimeError if its parameters are not in ``order``."""
    compiled = statement.compile(dialect=dialect)
    if list(compiled.positiontup or ()) != list(order):
        raise RuntimeError(f"parameters {compiled.positiontup} are not {list(order)}")
    return str(compiled.string)


def _insert(dialect: Dialect, table: Any, columns: Sequence[str], on_conflict: str = "") -> str:
    insert = sqlite.insert if dialect.name == "sqlite" else postgresql.insert
    statement = insert(table).values({name: bindparam(name) for name in columns})
    if on_conflict:
        statement = statement.on_conflict_do_nothing(index_elements=[on_conflict])
    return compiled_sql(statement, dialect, columns)


class HotStatements:
    """The loader's statements for one dialect (``sqlite`` or ``postgresql``)."""

    def __init__(self, dialect_name: str) -> None:
        dialect = self.dialect = driver_dialect(dialect_name)
        self.receipts = _insert(dialect, receipts, RECEIPT_COLUMNS, on_conflict="uid")
        self.lines = _insert(dialect, lines, LINE_COLUMNS)
        self.payments = _insert(dialect, payments, PAYMENT_COLUMNS)
        receipt_id = receipts.c.receipt_id
        if dialect.name == "sqlite":
            # The write lock is held for the whole transaction: max + 1 is ours alone.
            first_free = func.coalesce(func.max(receipt_id), literal_column("0"))
            self.next_ids = compiled_sql(select(first_free + literal_column("1")), dialect, [])
        else:
            sequence = func.pg_get_serial_sequence(
                literal_column(f"'{receipts.name}'"), literal_column(f"'{receipt_id.name}'")
            )
            series = func.generate_series(literal_column("1"), bindparam("count"))
            self.next_ids = compiled_sql(
                select(func.nextval(sequence)).select_from(series), dialect, ["count"]
            )

    def known(self, count: int) -> str:
        """``SELECT uid, workshift_id, receipt_id`` of the receipts with ``count`` uids."""
        return _known(self.dialect.name, count)


@lru_cache(maxsize=64)
def _known(dialect_name: str, count: int) -> str:
    names = [f"uid_{i}" for i in range(count)]
    query = select(receipts.c.uid, receipts.c.workshift_id, receipts.c.receipt_id).where(
        receipts.c.uid.in_([bindparam(name) for name in names])
    )
    return compiled_sql(query, driver_dialect(dialect_name), names)


for _table, _columns in ((lines, LINE_COLUMNS), (payments, PAYMENT_COLUMNS)):
    if tuple(_table.c.keys()) != _columns:  # the row layouts above rely on it
        raise RuntimeError(f"{_table.name} columns {tuple(_table.c.keys())} are not {_columns}")

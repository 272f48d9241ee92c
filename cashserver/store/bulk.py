"""How the loader writes receipts, lines and payments in bulk: one writer per backend.

SQLite: three ``executemany`` calls through the driver (receipts with
``ON CONFLICT (uid) DO NOTHING``), the fastest path sqlite3 has.

PostgreSQL: ``COPY`` in psycopg's binary format, which costs the server and the
client a fraction of a row-by-row insert. Lines and payments are copied straight
into their tables: their keys are receipt ids the loader has just taken from the
sequence, so nothing can conflict. Receipts may conflict on their uid (a re-sent
receipt, or another loader storing the same uid at the same moment), and ``COPY``
has no conflict clause: they are copied into a temporary staging table, then
moved by ``INSERT ... SELECT ... ON CONFLICT (uid) DO NOTHING`` in the same
transaction, whose row count says, as the executemany's does, whether any uid was
skipped. A concurrent insert of the same uid behaves as with a row-by-row insert:
the statement waits for the other transaction and skips the uid if it commits.

The staging table (``ON COMMIT DELETE ROWS``, so it is empty between
transactions) is created on a connection by its first load with
``CREATE TEMPORARY TABLE IF NOT EXISTS``, sent with the loader's ``SET LOCAL``
settings (one round trip) at the start of every load: a connection that lost it
(a new server connection behind PgBouncer in transaction mode) gets it again,
and one that has it pays a catalog lookup. Several uploads of one batch share the transaction, so
each upload's ``INSERT ... SELECT`` takes only its own rows: its receipt ids are
at least its first id, and every upload before it in the transaction took
smaller ones from the same sequence.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from sqlalchemy import BigInteger, Connection, Integer, SmallInteger, String, Table, Text
from sqlalchemy.dialects import postgresql

from cashserver.store.schema import lines, payments, receipts
from cashserver.store.statements import (
    LINE_COLUMNS,
    PAYMENT_COLUMNS,
    RECEIPT_COLUMNS,
    HotStatements,
)

Row = tuple[Any, ...]

STAGE_RECEIPTS = "cashserver_stage_receipts"
"""The temporary table receipts are copied into on PostgreSQL (per session)."""


class BulkWriter(Protocol):
    setup: str
    """Statements (no parameters) to run at the start of a load's transaction on
    PostgreSQL (:func:`cashserver.store.engine.loader_transaction`)."""

    def receipts(self, conn: Connection, rows: Sequence[Row]) -> int:
        """Insert receipt rows (``RECEIPT_COLUMNS``, ids increasing) whose uid is not
        stored; returns how many were inserted."""

    def lines(self, conn: Connection, rows: Sequence[Row]) -> None: ...

    def payments(self, conn: Connection, rows: Sequence[Row]) -> None: ...


class ExecutemanyWriter:
    """The driver's executemany of plain tuples (SQLite)."""

    setup = ""

    def __init__(self, sql: HotStatements) -> None:
        self._sql = sql

    def receipts(self, conn: Connection, rows: Sequence[Row]) -> int:
        return int(conn.exec_driver_sql(self._sql.receipts, rows).rowcount)

    def lines(self, conn: Connection, rows: Sequence[Row]) -> None:
        conn.exec_driver_sql(self._sql.lines, rows)

    def payments(self, conn: Connection, rows: Sequence[Row]) -> None:
        conn.exec_driver_sql(self._sql.payments, rows)


def _copy_type(column: Any) -> str:
    """The PostgreSQL type psycopg dumps a column's values as, in binary COPY."""
    kind = column.type
    if isinstance(kind, SmallInteger):
        return "int2"
    if isinstance(kind, BigInteger):
        return "int8"
    if isinstance(kind, Integer):
        return "int4"
    if isinstance(kind, String | Text):
        return "text"  # varchar's binary form is text's
    raise RuntimeError(f"no COPY type for {column}")


def _copy_sql(table: str, columns: Sequence[str]) -> str:
    return f"COPY {table} ({', '.join(columns)}) FROM STDIN (FORMAT BINARY)"


class CopyWriter:
    """Binary ``COPY`` through psycopg 3 (PostgreSQL); see the module's notes."""

    def __init__(self) -> None:
        dialect = postgresql.dialect()  # type: ignore[no-untyped-call]

        def types(table: Table, columns: Sequence[str]) -> list[str]:
            return [_copy_type(table.c[name]) for name in columns]

        definition = ", ".join(
            f"{name} {receipts.c[name].type.compile(dialect)} NOT NULL" for name in RECEIPT_COLUMNS
        )
        # client_min_messages: no "already exists, skipping" notice on every load.
        self.setup = (
            "SET LOCAL client_min_messages = warning;"
            f" CREATE TEMPORARY TABLE IF NOT EXISTS {STAGE_RECEIPTS} ({definition})"
            " ON COMMIT DELETE ROWS"
        )
        names = ", ".join(RECEIPT_COLUMNS)
        self._copy_receipts = _copy_sql(STAGE_RECEIPTS, RECEIPT_COLUMNS)
        self._receipt_types = types(receipts, RECEIPT_COLUMNS)
        self._move_receipts = (
            f"INSERT INTO {receipts.name} ({names}) SELECT {names} FROM {STAGE_RECEIPTS}"
            f" WHERE receipt_id >= %s ON CONFLICT (uid) DO NOTHING"
        )
        self._copy_lines = _copy_sql(lines.name, LINE_COLUMNS)
        self._line_types = types(lines, LINE_COLUMNS)
        self._copy_payments = _copy_sql(payments.name, PAYMENT_COLUMNS)
        self._payment_types = types(payments, PAYMENT_COLUMNS)

    def receipts(self, conn: Connection, rows: Sequence[Row]) -> int:
        if not rows:
            return 0
        _copy(conn, self._copy_receipts, self._receipt_types, rows)
        first_id = min(row[0] for row in rows)
        return int(conn.exec_driver_sql(self._move_receipts, (first_id,)).rowcount)

    def lines(self, conn: Connection, rows: Sequence[Row]) -> None:
        _copy(conn, self._copy_lines, self._line_types, rows)

    def payments(self, conn: Connection, rows: Sequence[Row]) -> None:
        _copy(conn, self._copy_payments, self._payment_types, rows)


def _copy(conn: Connection, statement: str, types: Sequence[str], rows: Sequence[Row]) -> None:
    """``COPY`` rows through the connection's psycopg cursor, in its transaction."""
    cursor: Any = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        with cursor.copy(statement) as copy:
            copy.set_types(types)
            write_row = copy.write_row
            for row in rows:
                write_row(row)
    finally:
        cursor.close()


def bulk_writer(dialect: str, sql: HotStatements) -> BulkWriter:
    return ExecutemanyWriter(sql) if dialect == "sqlite" else CopyWriter()

"""PostgreSQL session settings: the node's name, the loader's timeouts, nothing left behind."""

from __future__ import annotations

from sqlalchemy import text

from cashserver.store.engine import loader_transaction, open_engine, write_transaction
from tests.conftest import new_pg_database
from tests.pg import Cluster


def test_sessions_name_the_node_and_the_loader_has_timeouts(pg_cluster: Cluster) -> None:
    engine = open_engine(new_pg_database(pg_cluster), application_name="node-1")
    try:
        with engine.connect() as conn:
            assert conn.execute(text("SHOW application_name")).scalar() == "node-1"
            assert conn.execute(text("SHOW idle_in_transaction_session_timeout")).scalar() == "1min"
            assert conn.execute(text("SHOW lock_timeout")).scalar() == "0"
        with loader_transaction(engine) as conn:
            assert conn.execute(text("SHOW lock_timeout")).scalar() == "30s"
            assert conn.execute(text("SHOW statement_timeout")).scalar() == "2min"
            pid = conn.execute(text("SELECT pg_backend_pid()")).scalar()
        # The same pooled connection afterwards: the timeouts ended with the transaction.
        with write_transaction(engine) as conn:
            assert conn.execute(text("SELECT pg_backend_pid()")).scalar() == pid
            assert conn.execute(text("SHOW lock_timeout")).scalar() == "0"
            assert conn.execute(text("SHOW statement_timeout")).scalar() == "0"
    finally:
        engine.dispose()

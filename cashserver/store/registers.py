"""The registers directory (and the stores it names): the only writer of both tables.

:class:`Registers` is the directory's own door: ``registers add/set/remove``, the
daemon's batched sightings (last seen, software version), and the reads that keep
a daemon's in-memory copy current (:meth:`Registers.fingerprint`,
:meth:`Registers.load_all`). :func:`lock_register` and :func:`note_loaded` are the
loader's, inside its load transaction: a register is created the first time one of
its shifts loads.

Every change that adds, removes or edits a register's directory fields adds one to
its ``revision`` (:data:`BUMP`): that is how running daemons notice it within a
second. Sightings, loading state and load times do not (they change all the time
and the accept path does not need them).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    BigInteger,
    Connection,
    Engine,
    bindparam,
    case,
    func,
    literal,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite

from cashserver.clock import now_ms
from cashserver.skew import SkewMeasurement
from cashserver.store.engine import write_transaction
from cashserver.store.schema import registers, stores

RegisterKey = tuple[str, str]
"""``(store_code, register_code)``."""


@dataclass(frozen=True, slots=True)
class RegisterEntry:
    """What a daemon keeps in memory of one register of the directory."""

    store_code: str
    register_code: str
    protocol_version: int | None


@dataclass(frozen=True, slots=True)
class Sighting:
    """A register called (Handshake or upload) at ``at_ms``."""

    at_ms: int
    software_version: str | None = None
    """From its last Handshake; None when it only uploaded."""
    clock_skew: SkewMeasurement | None = None
    """Its clock as last measured by the front (:mod:`cashserver.skew`); None: not measured."""


@dataclass(frozen=True, slots=True)
class SkewChange:
    """A register's ``clock_skew_s`` before a sighting was written, and what replaced it."""

    key: RegisterKey
    before_s: int | None
    after: SkewMeasurement


@dataclass(frozen=True, slots=True)
class SightingsWritten:
    """What :meth:`Registers.record_sightings` did."""

    created: list[RegisterKey]
    """Registers added to the directory by their first sighting."""
    skews: list[SkewChange]
    """Every measured clock written, with the value it replaced."""


Fingerprint = tuple[int, int, int]
"""Row count, highest register id, sum of revisions: changes whenever the directory does."""


BUMP = {"revision": registers.c.revision + 1}
"""The values that mark a change of the directory (see the module's docstring)."""


def _insert_ignore(conn: Connection, table: Any, values: dict[str, Any]) -> bool:
    """Insert the row unless its key is taken; True when it was inserted.

    Told by RETURNING, not by the row count, which psycopg reports as none for this
    statement (``registers add`` on PostgreSQL said "updated" for a new register).
    """
    dialect_insert = sqlite.insert if conn.dialect.name == "sqlite" else postgresql.insert
    statement = dialect_insert(table).values(**values).on_conflict_do_nothing()
    return conn.execute(statement.returning(literal(1))).first() is not None


def create_register(
    conn: Connection, store_code: str, register_code: str, protocol: int | None
) -> bool:
    """Add the store and the register if they are not there; True when the register is new."""
    created_at = now_ms()
    _insert_ignore(conn, stores, {"store_code": store_code, "created_at": created_at})
    values = {
        "store_code": store_code,
        "register_code": register_code,
        "protocol_version": protocol,
        "created_at": created_at,
    }
    return _insert_ignore(conn, registers, values)


# The loader's statements are built once: building a statement costs more than
# running it through SQLAlchemy's compiled cache.
_LOCK = (
    select(registers.c.register_id)
    .where(registers.c.store_code == bindparam("store_code"))
    .where(registers.c.register_code == bindparam("register_code"))
    .with_for_update()
)
_RETURNED = case(
    (registers.c.removed_at.is_not(None), registers.c.revision + 1), else_=registers.c.revision
)
_LOADED = (
    update(registers)
    .where(registers.c.register_id == bindparam("id"))
    .values(last_load_at=bindparam("now"), removed_at=None, revision=_RETURNED)
)
_SOLD = _LOADED.values(
    last_sale_at=case(
        (
            registers.c.last_sale_at.is_(None)
            | (registers.c.last_sale_at < bindparam("sale", type_=BigInteger)),
            bindparam("sale", type_=BigInteger),
        ),
        else_=registers.c.last_sale_at,
    )
)


def lock_register(conn: Connection, store_code: str, register_code: str) -> int:
    """The register's id, creating store and register if new; locks the row on PostgreSQL."""
    codes = {"store_code": store_code, "register_code": register_code}
    register_id = conn.execute(_LOCK, codes).scalar()
    if register_id is None:
        create_register(conn, store_code, register_code, None)
        register_id = conn.execute(_LOCK, codes).scalar_one()
    return int(register_id)


DIRECTORY_FIELDS = (
    "address",
    "protocol_version",
    "pull_interval_s",
    "timezone",
    "department",
    "tls_ca",
    "tls_cert",
    "tls_key",
)
"""The columns ``registers add`` and ``registers set`` write (SPEC 10)."""


def _checked(fields: Mapping[str, Any]) -> dict[str, Any]:
    unknown = set(fields) - set(DIRECTORY_FIELDS)
    if unknown:
        raise ValueError(f"not directory fields: {sorted(unknown)}")
    return dict(fields)


def note_loaded(conn: Connection, register_id: int, now: int, last_sale_at: int | None) -> None:
    """Inside a load's transaction: the register loaded a shift now (pushed or pulled,
    even when every receipt was a duplicate), and its latest stored sale is at least
    ``last_sale_at``. A removed register that loads again is back in the directory."""
    if last_sale_at is None:
        conn.execute(_LOADED, {"id": register_id, "now": now})
    else:
        conn.execute(_SOLD, {"id": register_id, "now": now, "sale": last_sale_at})


class Registers:
    """The registers directory on ``engine``."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def add(self, store_code: str, register_code: str, protocol: int | None) -> bool:
        """Add a register (or set its protocol if it exists); True when it is new."""
        with write_transaction(self.engine) as conn:
            created = create_register(conn, store_code, register_code, protocol)
            if not created and protocol is not None:
                conn.execute(
                    update(registers)
                    .where(registers.c.store_code == store_code)
                    .where(registers.c.register_code == register_code)
                    .values(protocol_version=protocol, **BUMP)
                )
        return created

    def add_entry(self, store_code: str, register_code: str, fields: Mapping[str, Any]) -> bool:
        """``registers add``: a new register with these directory fields; False if it exists.

        A removed register is added again, with only the given fields set.
        """
        with write_transaction(self.engine) as conn:
            created = create_register(conn, store_code, register_code, None)
            where = (registers.c.store_code == store_code) & (
                registers.c.register_code == register_code
            )
            if not created:
                revived = conn.execute(
                    update(registers)
                    .where(where)
                    .where(registers.c.removed_at.is_not(None))
                    .values(removed_at=None, **dict.fromkeys(DIRECTORY_FIELDS), **BUMP)
                ).rowcount
                if not revived:
                    return False
            if fields:
                conn.execute(update(registers).where(where).values(**_checked(fields), **BUMP))
        return True

    def update_entry(self, store_code: str, register_code: str, changes: Mapping[str, Any]) -> bool:
        """``registers set``: change the given fields (None clears one); False if unknown."""
        # Nothing to change: just look (and mark nothing changed).
        values = {**_checked(changes), **BUMP} if changes else {"removed_at": None}
        with write_transaction(self.engine) as conn:
            count = conn.execute(
                update(registers)
                .where(registers.c.store_code == store_code)
                .where(registers.c.register_code == register_code)
                .where(registers.c.removed_at.is_(None))
                .values(**values)
            ).rowcount
        return bool(count)

    def remove_entry(self, store_code: str, register_code: str) -> bool:
        """``registers remove``: the register leaves the directory; its shifts stay.

        Its row stays too (the shifts point at it), marked removed; a push that
        loads from it again brings it back (SPEC 10: registers that push join).
        """
        with write_transaction(self.engine) as conn:
            count = conn.execute(
                update(registers)
                .where(registers.c.store_code == store_code)
                .where(registers.c.register_code == register_code)
                .where(registers.c.removed_at.is_(None))
                .values(removed_at=now_ms(), **BUMP)
            ).rowcount
        return bool(count)

    def set_state(
        self, store_code: str, register_code: str, state: str, message: str, at_ms: int
    ) -> None:
        """Record a register's loading state (DURING, READY, READY_WITH_ERROR, ERROR)."""
        self.set_states([(store_code, register_code, state, message, at_ms)])

    def set_states(self, rows: Sequence[tuple[str, str, str, str, int]]) -> None:
        """Record several registers' loading states in one transaction: rows of
        (store_code, register_code, state, state_message, state_at)."""
        if not rows:
            return
        statement = (
            update(registers)
            .where(registers.c.store_code == bindparam("b_store"))
            .where(registers.c.register_code == bindparam("b_register"))
            .values(
                state=bindparam("b_state"),
                state_message=bindparam("b_message"),
                state_at=bindparam("b_at"),
            )
        )
        params = [
            {"b_store": s, "b_register": r, "b_state": st, "b_message": m, "b_at": at}
            for s, r, st, m, at in rows
        ]
        with write_transaction(self.engine) as conn:
            conn.execute(statement, params)

    def fingerprint(self) -> Fingerprint:
        """A value that differs whenever a register was added, removed or changed."""
        query = select(
            func.count(),
            func.coalesce(func.max(registers.c.register_id), 0),
            func.coalesce(func.sum(registers.c.revision), 0),
        ).select_from(registers)
        with self.engine.connect() as conn:
            count, top, revisions = conn.execute(query).one()
        return int(count), int(top), int(revisions)

    def load_all(self) -> dict[RegisterKey, RegisterEntry]:
        """The whole directory (less removed registers), as a daemon keeps it in memory."""
        query = select(
            registers.c.store_code, registers.c.register_code, registers.c.protocol_version
        ).where(registers.c.removed_at.is_(None))
        with self.engine.connect() as conn:
            return {
                (row.store_code, row.register_code): RegisterEntry(
                    row.store_code, row.register_code, row.protocol_version
                )
                for row in conn.execute(query)
            }

    def record_sightings(self, seen: Mapping[RegisterKey, Sighting]) -> SightingsWritten:
        """Write when registers were last seen, and their measured clocks, in one transaction.

        A register not in the directory yet is added first (a register admitted in
        memory that has only shaken hands so far).
        """
        if not seen:
            return SightingsWritten([], [])
        stamp = update(registers).where(
            registers.c.store_code == bindparam("s"),
            registers.c.register_code == bindparam("r"),
        )
        groups: dict[tuple[bool, bool], list[dict[str, Any]]] = {}
        for (s, r), v in seen.items():
            params: dict[str, Any] = {"s": s, "r": r, "at": v.at_ms}
            if v.software_version is not None:
                params["version"] = v.software_version[:64]
            if v.clock_skew is not None:
                params["skew"] = v.clock_skew.clock_skew_s
            groups.setdefault(("version" in params, "skew" in params), []).append(params)
        with write_transaction(self.engine) as conn:
            known = {
                (row.store_code, row.register_code): row.clock_skew_s
                for row in conn.execute(
                    select(
                        registers.c.store_code, registers.c.register_code, registers.c.clock_skew_s
                    ).where(registers.c.store_code.in_(sorted({s for s, _ in seen})))
                )
            }
            created = [
                key for key in sorted(seen.keys() - known) if create_register(conn, *key, None)
            ]
            for (version, skew), rows in sorted(groups.items()):
                values: dict[str, Any] = {"last_seen_at": bindparam("at")}
                if version:
                    values["software_version"] = bindparam("version")
                if skew:
                    values["clock_skew_s"] = bindparam("skew")
                conn.execute(stamp.values(**values), rows)
        skews = [
            SkewChange(key, known.get(key), sighting.clock_skew)
            for key, sighting in sorted(seen.items())
            if sighting.clock_skew is not None
        ]
        return SightingsWritten(created, skews)

"""The database: db and Base with stable constraint names, UTC datetimes, ids, SQLite pragmas."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import Connection, DateTime, MetaData, event, false
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.types import TypeDecorator

# Stable constraint names, so Alembic migrations mean the same thing on SQLite and PostgreSQL.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def trigrams(column: str) -> dict[str, Any]:
    """Index options for a trigram index on PostgreSQL (pg_trgm: ``LIKE '%138001%'`` found by
    index); on SQLite the index is left empty (``WHERE 0``): nothing there can use it."""
    return {
        "postgresql_using": "gin",
        "postgresql_ops": {column: "gin_trgm_ops"},
        "sqlite_where": false(),
    }


class UTCDateTime(TypeDecorator[datetime]):
    """An aware UTC datetime on every database (SQLite forgets the zone otherwise)."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given where UTC is required")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)


class Base(DeclarativeBase):
    """Declarative base with the naming convention."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


db = SQLAlchemy(model_class=Base)
migrate = Migrate()


# Ids are 32-bit integers on PostgreSQL: a larger one in a URL is simply not found.
MAX_ID = 2**31 - 1


def find(model: type[Any], ident: int) -> Any:
    """The row with this id, or None (also for ids no column can hold)."""
    return db.session.get(model, ident) if 0 < ident <= MAX_ID else None


@event.listens_for(Engine, "connect")
def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # WAL lets the web process read while the worker writes; busy_timeout waits for a lock
    # instead of failing the caller's request at once. synchronous=NORMAL is WAL's own advice:
    # a commit survives the process dying, and only a power cut can lose the last few; it saves
    # a disk flush per webhook, which with one writer at a time was the webhooks' tail latency
    # (bench/webhooks.py).
    if type(dbapi_connection).__module__.startswith("sqlite3"):
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA busy_timeout=5000")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()


@event.listens_for(Engine, "savepoint")
def _sqlite_savepoint_inside_a_transaction(conn: Connection, _name: str) -> None:
    # pysqlite sends its BEGIN only before an INSERT, UPDATE or DELETE. A SAVEPOINT sent before
    # any of them opens a transaction of its own, which its RELEASE then commits: the rows of a
    # begin_nested() were committed alone, before the rest of the request (a message kept, its
    # call's outcome lost when the process died). So the real transaction begins first.
    # SQLAlchemy's full recipe (isolation_level=None, BEGIN in every begin event) would also
    # open a transaction for every read, and in WAL a transaction that read and then writes
    # fails at once (SQLITE_BUSY_SNAPSHOT, no busy_timeout) when another process wrote since.
    if conn.dialect.name == "sqlite":
        dbapi_connection: Any = conn.connection.dbapi_connection
        legacy = getattr(dbapi_connection, "isolation_level", None) is not None  # not AUTOCOMMIT
        if legacy and not dbapi_connection.in_transaction:
            dbapi_connection.execute("BEGIN")

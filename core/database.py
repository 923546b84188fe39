"""Engine, sessions and the declarative base shared by every context."""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import DateTime, Engine, MetaData, create_engine, event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Dialect, make_url
from sqlalchemy.orm import DeclarativeBase, Session, SessionTransaction, sessionmaker
from sqlalchemy.pool import ConnectionPoolEntry
from sqlalchemy.types import TypeDecorator

logger = logging.getLogger(__name__)
AFTER_COMMIT = "after_commit"  # the session.info key of the effects waiting for the commit
FACTORY = "factory"  # the session.info key of what every session of one factory shares
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class UTCDateTime(TypeDecorator[datetime]):
    """Stores naive UTC on every database and hands back aware UTC datetimes."""

    impl = DateTime(timezone=False)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given; use servicebay.core.clock.now()")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC)


def _sqlite_pragmas(dbapi_connection: Any, _record: ConnectionPoolEntry) -> None:
    # Autocommit off in the driver; SQLAlchemy issues BEGIN itself (see _sqlite_begin).
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    _tune(cursor)


def _sqlite_pragmas_for_migrations(dbapi_connection: Any, _record: ConnectionPoolEntry) -> None:
    # Batch migrations copy and drop tables; enforcing foreign keys would refuse the drop.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=OFF")
    _tune(cursor)


BUSY_SECONDS = 15.0  # how long a writer waits for another one before giving up


def _tune(cursor: Any) -> None:
    cursor.execute(f"PRAGMA busy_timeout={int(BUSY_SECONDS * 1000)}")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


# --- one writer at a time, queued in the process ----------------------------------
#
# SQLite lets one transaction write at a time. A writer that finds the file locked
# sleeps in SQLite's busy handler (1, 2, 5 ... 100 ms) and tries again, so under load
# writers sleep while the lock is free and a newcomer overtakes one that has waited
# long. Within one process, writers therefore first queue on a lock of the process,
# handed to the next one the moment a transaction ends; busy_timeout still arbitrates
# between processes (several web processes, a separate worker).

_write_locks: dict[str, threading.Lock] = {}
_write_locks_guard = threading.Lock()


def _write_lock_for(database: str | None) -> threading.Lock:
    """The lock shared by every engine of this process on one database file (an
    in-memory database is its engine's own)."""
    if not database or database == ":memory:" or database.startswith("file:"):
        return threading.Lock()
    key = str(Path(database).resolve())
    with _write_locks_guard:
        return _write_locks.setdefault(key, threading.Lock())


class _WritingConnection(sqlite3.Connection):
    """A SQLite connection that holds its process's write lock from BEGIN IMMEDIATE
    until its transaction ends, however it ends (commit, rollback, the pool's reset,
    close)."""

    write_lock: threading.Lock | None = None
    holds_write_lock = False

    def begin_writing(self) -> None:
        lock = self.write_lock
        if lock is not None and not self.holds_write_lock:
            if not lock.acquire(timeout=BUSY_SECONDS):
                raise sqlite3.OperationalError("database is locked")
            self.holds_write_lock = True
        try:
            self.execute("BEGIN IMMEDIATE")
        except BaseException:
            self._release()
            raise

    def _release(self) -> None:
        if self.holds_write_lock:
            self.holds_write_lock = False
            assert self.write_lock is not None
            self.write_lock.release()

    def commit(self) -> None:
        try:
            super().commit()
        finally:
            if not self.in_transaction:
                self._release()

    def rollback(self) -> None:
        try:
            super().rollback()
        finally:
            if not self.in_transaction:
                self._release()

    def close(self) -> None:
        try:
            super().close()
        finally:
            self._release()


READS_ONLY = "servicebay_reads_only"  # the execution option of a transaction that only reads


def reads_only(session: Session) -> None:
    """Begin ``session``'s transaction as one that only reads (if none has begun yet).

    On SQLite it then begins DEFERRED, without the write lock, so it runs beside the
    writers instead of queueing behind them (WAL gives it a consistent snapshot). It
    must not write: a write there may fail with "database is locked". On PostgreSQL
    nothing changes.
    """
    if not session.in_transaction():
        session.connection(execution_options={READS_ONLY: True})


def _sqlite_begin(connection: Any) -> None:
    # BEGIN IMMEDIATE takes the write lock up front, so two writers queue (on the
    # process's lock, then busy_timeout) instead of failing with "database is locked"
    # on upgrade.
    if connection.get_execution_options().get(READS_ONLY):
        connection.exec_driver_sql("BEGIN")
        return
    dbapi_connection = connection.connection.dbapi_connection
    if isinstance(dbapi_connection, _WritingConnection):
        dbapi_connection.begin_writing()
    else:
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def make_engine(
    url: str, *, for_migrations: bool = False, read_only: bool = False, **kwargs: Any
) -> Engine:
    """An engine for ``url``; ``read_only`` for one that only reads (such as a replica, or
    a SQLite file opened with ``mode=ro``): its transactions take no write lock."""
    if url.startswith("sqlite"):
        connect_args: dict[str, Any] = {"check_same_thread": False}
        if not read_only:
            connect_args["factory"] = _WritingConnection
        database = make_url(url).database
        if database and database != ":memory:" and "poolclass" not in kwargs:
            # Writers queue on the write lock, not on the pool: a connection for every
            # thread the web server runs routes on (a SQLite connection is cheap).
            kwargs.setdefault("pool_size", 40)
        engine = create_engine(url, connect_args=connect_args, **kwargs)
        pragmas = _sqlite_pragmas_for_migrations if for_migrations else _sqlite_pragmas
        event.listen(engine, "connect", pragmas)
        if not read_only:
            lock = _write_lock_for(engine.url.database)

            def share_lock(dbapi_connection: Any, _record: ConnectionPoolEntry) -> None:
                if isinstance(dbapi_connection, _WritingConnection):
                    dbapi_connection.write_lock = lock

            event.listen(engine, "connect", share_lock)
            event.listen(engine, "begin", _sqlite_begin)
        return engine
    kwargs.setdefault("pool_pre_ping", True)
    return create_engine(url, **kwargs)


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    # Each session copies the factory's info; the dict under FACTORY is one object, so
    # what is put there later (the workers its commits wake) reaches every session.
    return sessionmaker(engine, expire_on_commit=False, info={FACTORY: {}})


def shared_by_factory(sessions: sessionmaker[Session]) -> dict[str, Any]:
    """What every session of this factory sees as ``shared_with(session)``."""
    info: dict[str, Any] = sessions.kw.setdefault("info", {})
    shared: dict[str, Any] = info.setdefault(FACTORY, {})
    return shared


def shared_with(session: Session) -> dict[str, Any]:
    """What the factory that made ``session`` shares with its sessions (empty if nothing)."""
    shared: dict[str, Any] = session.info.get(FACTORY, {})
    return shared


def insert_or_update(session: Session, target: Any) -> postgresql.Insert | sqlite.Insert:
    """An INSERT into ``target`` that can say ON CONFLICT DO UPDATE, in the session's dialect."""
    dialect = session.get_bind().dialect.name
    return postgresql.insert(target) if dialect == "postgresql" else sqlite.insert(target)


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """One unit of work: commit on success, roll back on any error."""
    session = factory()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


# --- effects that wait for the commit ----------------------------------------------
#
# Waking a worker or telling another process about a change must not happen before the
# change is visible, nor at all when it is rolled back. So services register such an
# effect on the unit of work, and these listeners run it after the outermost commit or
# drop it when the transaction ends any other way.


def after_commit(session: Session, effect: Callable[[], None]) -> None:
    """Run ``effect`` once this session's transaction commits; never if it does not.

    An effect registered twice in one transaction runs once (bound methods of the same
    object compare equal). A failing effect is logged: the commit has happened.
    """
    effects: list[Callable[[], None]] = session.info.setdefault(AFTER_COMMIT, [])
    if effect not in effects:
        effects.append(effect)


@event.listens_for(Session, "after_commit")
def _run_effects(session: Session) -> None:
    if session.in_nested_transaction():
        return  # a savepoint was released; the transaction goes on
    for effect in session.info.pop(AFTER_COMMIT, []):
        try:
            effect()
        except Exception:
            logger.exception("an after-commit effect failed")


@event.listens_for(Session, "after_transaction_end")
def _drop_effects(session: Session, ended: SessionTransaction) -> None:
    # Runs after a rollback and after a close without commit (after a commit there is
    # nothing left to drop); a savepoint that ends leaves the transaction's effects.
    if ended.parent is None:
        session.info.pop(AFTER_COMMIT, None)

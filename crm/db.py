"""Engine, sessions and the declarative base shared by every model."""

from __future__ import annotations

import datetime as dt
import threading
from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    CheckConstraint,
    Column,
    Connection,
    DateTime,
    Engine,
    Enum,
    MetaData,
    Table,
    create_engine,
    event,
    func,
    insert,
    or_,
    text,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import (
    DeclarativeBase,
    Mapped,
    Session,
    mapped_column,
    sessionmaker,
)
from sqlalchemy.pool import StaticPool
from sqlalchemy.types import TypeDecorator

if TYPE_CHECKING:
    from careloop.config import Settings

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> dt.datetime:
    """The current time, timezone-aware UTC."""
    return dt.datetime.now(dt.UTC)


def as_utc(value: dt.datetime) -> dt.datetime:
    """``value`` as an aware UTC time (naive values are taken to be UTC)."""
    if value.tzinfo is None:
        return value.replace(tzinfo=dt.UTC)
    return value if value.tzinfo is dt.UTC else value.astimezone(dt.UTC)


class UTCDateTime(TypeDecorator[dt.datetime]):
    """A timestamp stored as UTC and always read back timezone-aware (SQLite included)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given; careloop stores aware UTC timestamps")
        return value.astimezone(dt.UTC)

    def process_result_value(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        return None if value is None else as_utc(value)


class CheckedEnum(Enum):
    """The type ``enum_column`` makes: its table gets the enum's CHECK constraint written
    as ``col = 'a' OR col = 'b' OR ...`` (see ``_enum_check``)."""

    cache_ok = True


def enum_column(enum: type[StrEnum], length: int = 20) -> Enum:
    """A portable enum: VARCHAR plus a CHECK constraint, values stored as strings."""
    return CheckedEnum(
        enum,
        native_enum=False,
        length=length,
        values_callable=lambda e: [m.value for m in e],
        validate_strings=True,
        create_constraint=False,  # _enum_check adds it, in its faster form
        name=enum.__name__.lower(),
    )


@event.listens_for(Column, "after_parent_attach")
def _enum_check(column: Column[Any], table: Any) -> None:
    """The CHECK constraint of an ``enum_column``, as a chain of equalities.

    SQLAlchemy's own (``col IN ('a', 'b', 'c', ...)``) makes SQLite build a temporary index
    of the list every time the statement runs: a bulk insert (executemany) pays it on every
    row, about 3 µs, a third of what inserting an order costs. The chain of ORs is the same
    constraint without that cost. (Named like SQLAlchemy's: ``ck_<table>_<enum name>``.)"""
    if isinstance(column.type, CheckedEnum) and isinstance(table, Table):
        table.append_constraint(
            CheckConstraint(
                or_(*(column == value for value in column.type.enums)), name=column.type.name
            )
        )


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {dt.datetime: UTCDateTime()}


class IdMixin:
    id: Mapped[int] = mapped_column(primary_key=True)


class TimestampMixin:
    created_at: Mapped[dt.datetime] = mapped_column(
        default=utcnow, server_default=func.current_timestamp()
    )
    updated_at: Mapped[dt.datetime] = mapped_column(
        default=utcnow, onupdate=utcnow, server_default=func.current_timestamp()
    )


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # Let SQLAlchemy, not pysqlite, emit BEGIN so that SAVEPOINTs work (SQLAlchemy's
    # documented recipe for the pysqlite driver).
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA synchronous=NORMAL")
    # 64 MiB of page cache (the default is 2 MiB): big writes touch many index pages.
    cursor.execute("PRAGMA cache_size=-65536")
    cursor.close()


READ_ONLY = {"careloop_read_only": True}
"""Execution options for a connection that only reads (no write lock on SQLite)."""


SQLITE_WRITE_WAIT_SECONDS = 30.0
"""How long a write transaction waits for its turn on SQLite before it fails (a 503)."""


_WRITE_TURN = "careloop_write_turn"


class WriteQueue:
    """SQLite's writers of one process, one at a time in order of arrival, each waiting
    at most ``timeout`` seconds.

    SQLite's own busy handler retries by sleeping (up to 100 ms a try), in no order: under
    32 concurrent writers some waited past the busy timeout ("database is locked") while
    others went first. Queued here, a writer starts the moment the previous one ends; the
    busy timeout is left for other processes (the CLI, a backup)."""

    def __init__(self, timeout: float = SQLITE_WRITE_WAIT_SECONDS) -> None:
        self.timeout = timeout
        self._mutex = threading.Lock()
        self._waiting: deque[threading.Event] = deque()
        self._held = False

    @property
    def queued(self) -> int:
        """Writers waiting for their turn now."""
        return len(self._waiting)

    def acquire(self) -> None:
        # The turn is handed from writer to writer: a release wakes the next waiter only,
        # where one shared condition woke all of them to look (under 32 concurrent chat
        # messages, 32 threads fighting for the GIL at every commit).
        with self._mutex:
            if not self._held:
                self._held = True
                return
            turn = threading.Event()
            self._waiting.append(turn)
        if turn.wait(self.timeout):
            return
        with self._mutex:
            if turn.is_set():  # handed over just as the wait ran out
                return
            self._waiting.remove(turn)
        late = TimeoutError(f"no turn to write within {self.timeout:g} s")
        raise OperationalError("BEGIN IMMEDIATE", None, late)

    def release(self) -> None:
        with self._mutex:
            if self._waiting:
                self._waiting.popleft().set()  # still held: now by that writer
            else:
                self._held = False

    def begin(self, conn: Connection) -> None:
        """``conn``'s transaction: IMMEDIATE takes the write lock when it starts, so one
        that reads and then writes waits for another writer instead of failing at once with
        "database is locked" on its stale WAL snapshot. The price is one transaction at a
        time (in turn), so transactions stay short; read-only ones opt out."""
        if conn.get_execution_options().get("careloop_read_only"):
            conn.exec_driver_sql("BEGIN")
            return
        self.acquire()
        conn.info[_WRITE_TURN] = True
        try:
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        except BaseException:
            self.end(conn)
            raise

    def end(self, conn: Connection) -> None:
        """After a commit or rollback: the next writer's turn, if ``conn`` held it."""
        if conn.info.pop(_WRITE_TURN, False):
            self.release()


def in_memory(url: URL) -> bool:
    """Whether ``url`` is an in-memory SQLite database (one no other connection or process
    can open)."""
    return url.get_backend_name() == "sqlite" and url.database in (None, "", ":memory:")


def postgres_timeouts(
    statement_timeout_s: float | None, idle_in_transaction_timeout_s: float | None
) -> str:
    """The libpq ``options`` that give each session a ``statement_timeout`` and an
    ``idle_in_transaction_session_timeout`` (None or 0: the server's default, no limit)."""
    limits = {
        "statement_timeout": statement_timeout_s,
        "idle_in_transaction_session_timeout": idle_in_transaction_timeout_s,
    }
    return " ".join(f"-c {n}={max(1, round(s * 1000))}" for n, s in limits.items() if s)


def lift_timeouts(session: Session) -> None:
    """Lift the PostgreSQL statement and idle-in-transaction timeouts for the rest of
    ``session``'s transaction (``SET LOCAL``): for known long work, like the nightly
    scoring, which streams every order and trains between statements."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SET LOCAL statement_timeout = 0"))
        session.execute(text("SET LOCAL idle_in_transaction_session_timeout = 0"))


def create_db_engine(
    url: str,
    *,
    echo: bool = False,
    statement_timeout_s: float | None = None,
    idle_in_transaction_timeout_s: float | None = None,
    pool_size: int = 10,
    max_overflow: int = 20,
) -> Engine:
    """An engine for ``url``; SQLite gets WAL, foreign keys, a busy timeout, a queue of
    writers and a pool that keeps all its ``pool_size + max_overflow`` connections;
    PostgreSQL a pool of ``pool_size`` connections (``max_overflow`` more at
    peaks), and every connection can get a statement and an idle-in-transaction timeout
    (the server passes its settings): a stuck request or a transaction left open fails
    instead of holding its locks and stalling everyone behind it."""
    parsed = make_url(url)
    kwargs: dict[str, Any] = {"echo": echo}
    if parsed.get_backend_name() == "sqlite":
        kwargs["connect_args"] = {"check_same_thread": False}
        if in_memory(parsed):
            kwargs["poolclass"] = StaticPool
        else:
            Path(parsed.database or "").parent.mkdir(parents=True, exist_ok=True)
            # Every connection is kept: SQLAlchemy's default pool for a SQLite file keeps 5,
            # opens 10 more at peaks and closes those as they come back, so 32 concurrent
            # chat messages reopened connections (five PRAGMAs each) and queued for one.
            # Measured with bench.chat_throughput (SQLite, 32 visitors, same machine,
            # alternating runs): the server's CPU per message 20.5 -> 19.5 ms (fresh
            # visitors), 18.6 -> 17.2 ms (conversations).
            kwargs |= {"pool_size": pool_size + max_overflow, "max_overflow": 0}
    else:
        kwargs |= {"pool_pre_ping": True, "pool_size": pool_size, "max_overflow": max_overflow}
        options = postgres_timeouts(statement_timeout_s, idle_in_transaction_timeout_s)
        if options and parsed.get_backend_name() == "postgresql":
            kwargs["connect_args"] = {"options": options}
    engine = create_engine(url, **kwargs)
    if parsed.get_backend_name() == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
        queue = WriteQueue()
        event.listen(engine, "begin", queue.begin)
        event.listen(engine, "commit", queue.end)
        event.listen(engine, "rollback", queue.end)
    return engine


def server_engine(settings: Settings) -> Engine:
    """The engine of a long-running process (``careloop serve``, each of its workers, and
    ``careloop bot``): the settings' pool size and PostgreSQL timeouts."""
    return create_db_engine(
        settings.effective_database_url,
        echo=settings.database_echo,
        statement_timeout_s=settings.database_statement_timeout_seconds,
        idle_in_transaction_timeout_s=settings.database_idle_in_transaction_timeout_seconds,
        pool_size=settings.database_pool_size,
        max_overflow=settings.database_max_overflow,
    )


@contextmanager
def staged_rows(
    connection: Connection, name: str, columns: Sequence[Column[Any]], rows: Iterable[Sequence[Any]]
) -> Iterator[Table]:
    """A temporary table ``name`` of ``columns`` holding ``rows`` (tuples of plain driver
    values: numbers, text, JSON text), filled by psycopg's ``COPY`` on PostgreSQL and the
    DB-API ``executemany`` on SQLite, for one ``INSERT ... SELECT`` or ``UPDATE ... FROM``
    that moves them on; dropped at the end."""
    table = Table(name, MetaData(), *columns, prefixes=["TEMPORARY"])
    table.drop(connection, checkfirst=True)
    table.create(connection)
    cursor = connection.connection.driver_connection.cursor()  # type: ignore[union-attr]
    try:
        if connection.dialect.name == "postgresql":
            quote = connection.dialect.identifier_preparer.quote
            listed = ", ".join(quote(column.name) for column in table.columns)
            with cursor.copy(f"COPY {quote(name)} ({listed}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
        else:
            cursor.executemany(str(insert(table).compile(dialect=connection.dialect)), rows)
    finally:
        cursor.close()
    yield table
    table.drop(connection)


def dialect_insert(session: Session | str, model: type[Any] | Table) -> Any:
    """``INSERT`` for ``model`` in the session's dialect (or the dialect named: SQLite or
    PostgreSQL), which knows ``ON CONFLICT``."""
    name = session if isinstance(session, str) else session.get_bind().dialect.name
    return (postgresql.insert if name == "postgresql" else sqlite.insert)(model)


def create_session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(bind=engine, expire_on_commit=False)


@contextmanager
def session_scope(factory: sessionmaker[Session]) -> Iterator[Session]:
    """A unit of work: commit on success, roll back on any error."""
    session = factory()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()

"""Engine, sessions and the declarative base shared by every model."""

from __future__ import annotations

import datetime as dt
import itertools
import json
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from enum import StrEnum
from json.encoder import encode_basestring_ascii as _encode_json_string
from typing import Any, cast

from sqlalchemy import (
    JSON,
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
)
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker
from sqlalchemy.pool import StaticPool
from sqlalchemy.types import TypeDecorator

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
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


def bulk_insert(
    session: Session,
    table: Table,
    rows: list[dict[str, Any]],
    constants: dict[str, Any] | None = None,
) -> None:
    """INSERT ``rows`` (dicts with the same keys), each with ``constants`` too:
    ``bulk_insert_columns`` on their columns."""
    if rows:
        columns = {name: [row[name] for row in rows] for name in rows[0]}
        bulk_insert_columns(session, table, len(rows), columns, constants)


def bulk_insert_columns(
    session: Session,
    table: Table,
    length: int,
    columns: Mapping[str, Sequence[Any]],
    constants: dict[str, Any] | None = None,
) -> None:
    """INSERT ``length`` rows given column-wise: ``columns`` hold one value per row,
    ``constants`` one value for every row.

    The fastest path careloop has for big writes (a campaign outbox for a million
    customers): PostgreSQL gets one ``COPY ... FROM STDIN`` on the session's own connection
    (same transaction), SQLite one executemany over zipped columns, with each column's
    driver conversion done once per column (once in all for a constant)."""
    if length == 0:
        return
    for name, values in columns.items():
        if len(values) != length:
            raise ValueError(f"column {name}: {len(values)} values for {length} rows")
    # Columns left out that have a Python-side default get it, as in an ORM insert.
    given = constants or {}
    constants = {
        **{
            column.name: _default_value(column)
            for column in table.columns
            if column.default is not None
            and column.name not in columns
            and column.name not in given
        },
        **given,
    }
    connection = session.connection()
    dialect = connection.dialect
    names = [*columns, *constants]
    if dialect.name == "postgresql":
        preparer = dialect.identifier_preparer
        quoted = ", ".join(preparer.quote(n) for n in names)
        statement = f"COPY {preparer.format_table(table)} ({quoted}) FROM STDIN"
        fixed = [_copy_text(constants[n]) for n in constants]
        raw = connection.connection.dbapi_connection
        with (
            _wrapped_errors(dialect, statement),
            raw.cursor() as cursor,  # type: ignore[union-attr]
            cursor.copy(statement) as copy,
        ):
            for start in range(0, length, _COPY_CHUNK):
                stop = min(start + _COPY_CHUNK, length)
                parts: list[Iterable[str]] = [
                    map(_copy_text, columns[n][start:stop]) for n in columns
                ]
                parts += [itertools.repeat(text, stop - start) for text in fixed]
                rows = zip(*parts, strict=True)
                copy.write("".join(["\t".join(row) + "\n" for row in rows]))
        return
    compiled = insert(table).compile(dialect=dialect, column_keys=names)
    positions = compiled.positiontup or names
    prepared: list[Iterable[Any]] = []
    for name in positions:
        convert = _driver_converter(table.c[name].type, dialect)
        if name in constants:
            value = constants[name]
            prepared.append(itertools.repeat(value if convert is None else convert(value), length))
        else:
            prepared.append(_converted(columns[name], convert))
    cursor = connection.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        with _wrapped_errors(dialect, str(compiled)):
            cursor.executemany(str(compiled), zip(*prepared, strict=True))  # type: ignore[arg-type]
    finally:
        cursor.close()


@contextmanager
def _wrapped_errors(dialect: Any, statement: str) -> Iterator[None]:
    """The driver's errors as SQLAlchemy's (``IntegrityError`` and so on), as if the
    statement had gone through SQLAlchemy: callers catch one set of exceptions."""
    base = dialect.loaded_dbapi.Error
    try:
        yield
    except base as exc:
        raise DBAPIError.instance(statement, None, exc, base) from exc


def _converted(values: Sequence[Any], convert: Callable[[Any], Any] | None) -> Iterable[Any]:
    """``values`` through the driver converter; a column of few distinct values (statuses,
    enums) converts each distinct value once and maps the rest by dictionary lookup."""
    if convert is None:
        return values
    try:
        distinct = set(values)
    except TypeError:  # unhashable values (JSON)
        return map(convert, values)
    if len(distinct) > 256:
        return map(convert, values)
    table = {value: convert(value) for value in distinct}
    return map(table.__getitem__, values)


_COPY_CHUNK = 100_000
_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def _copy_text(value: Any) -> str:
    """``value`` in PostgreSQL's COPY text format."""
    if value is None:
        return "\\N"
    if isinstance(value, bool):
        return "t" if value else "f"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            raise ValueError("naive datetime given; careloop stores aware UTC timestamps")
        return value.isoformat()
    if isinstance(value, dict | list):
        value = json.dumps(value)
    return str(value).translate(_COPY_ESCAPES)


def _default_value(column: Any) -> Any:
    default = column.default
    if default is None:
        return None
    if default.is_scalar:
        return default.arg
    if default.is_callable:
        return default.arg(None)
    raise ValueError(f"column {column.name} has a default bulk_insert cannot evaluate")


def _driver_converter(column_type: Any, dialect: Any) -> Callable[[Any], Any] | None:
    if isinstance(column_type, UTCDateTime):
        if dialect.name == "sqlite":  # SQLAlchemy's SQLite storage format, made faster
            return _sqlite_timestamps()
        return None  # aware datetimes go to the driver as they are
    converter: Callable[[Any], Any] | None = column_type._cached_bind_processor(dialect)
    if converter is not None and isinstance(column_type, JSON):
        return _json_converter(converter)
    return converter


def _json_converter(process: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """The JSON bind ``process``, made fast for the values bulk writes are full of: the
    same empty default (serialised once), and lists of strings (churn reasons, tags),
    encoded by the json module's C string encoder instead of a full ``json.dumps``."""
    empty_list, empty_dict, null = process([]), process({}), process(None)
    sample = ["a", 'quote " and \\ backslash', "é\n"]
    strings_fast = process(sample) == _json_strings(sample)  # the same text, or no fast path

    def convert(value: Any) -> Any:
        if value is None:
            return null
        if type(value) is list:
            if not value:
                return empty_list
            if strings_fast and all(type(item) is str for item in value):
                return _json_strings(value)
        elif value == {}:
            return empty_dict
        return process(value)

    return convert


def _json_strings(values: list[str]) -> str:
    return "[" + ", ".join(map(_encode_json_string, values)) + "]"


def _sqlite_timestamps() -> Callable[[dt.datetime | None], str | None]:
    last: list[Any] = [None, None]  # batches repeat one created_at: remember the last

    def convert(value: dt.datetime | None) -> str | None:
        if value is None:
            return None
        if value is last[0]:
            return cast(str, last[1])
        if value.tzinfo is dt.UTC:  # the usual case: drop the "+00:00" of the ISO text
            text = value.isoformat(" ", "microseconds")[:26]
        elif value.tzinfo is None:
            raise ValueError("naive datetime given; careloop stores aware UTC timestamps")
        else:
            text = value.astimezone(dt.UTC).replace(tzinfo=None).isoformat(" ", "microseconds")
        last[0], last[1] = value, text
        return text

    return convert


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
        if value is None:
            return None
        return as_utc(value)


def enum_column(enum: type[StrEnum], length: int = 20) -> Enum:
    """A portable enum: VARCHAR plus a CHECK constraint, values stored as strings."""
    return Enum(
        enum,
        native_enum=False,
        length=length,
        values_callable=lambda e: [m.value for m in e],
        validate_strings=True,
        create_constraint=True,
        name=enum.__name__.lower(),
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


def _sqlite_begin(conn: Connection) -> None:
    # IMMEDIATE takes the write lock when the transaction starts, so a transaction that
    # reads and then writes waits (busy_timeout) for another writer instead of failing
    # at once with "database is locked" on its stale WAL snapshot. The price is one
    # transaction at a time, so transactions stay short; read-only ones opt out.
    if conn.get_execution_options().get("careloop_read_only"):
        conn.exec_driver_sql("BEGIN")
    else:
        conn.exec_driver_sql("BEGIN IMMEDIATE")
    conn.info["careloop_changes_at_begin"] = conn.connection.dbapi_connection.total_changes  # type: ignore[union-attr]


def sqlite_has_written(conn: Connection) -> bool:
    """Whether this SQLite transaction has changed rows yet (other connections cannot see
    them: a helper reading in parallel must not be used then)."""
    at_begin = conn.info.get("careloop_changes_at_begin")
    changes = conn.connection.dbapi_connection.total_changes  # type: ignore[union-attr]
    return at_begin is None or changes != at_begin


def in_memory(url: URL) -> bool:
    """Whether ``url`` is an in-memory SQLite database (one no other connection or process
    can open)."""
    return url.get_backend_name() == "sqlite" and url.database in (None, "", ":memory:")


def create_db_engine(url: str, *, echo: bool = False) -> Engine:
    """An engine for ``url``; SQLite gets WAL, foreign keys and a busy timeout."""
    parsed = make_url(url)
    kwargs: dict[str, Any] = {"echo": echo}
    if parsed.get_backend_name() == "sqlite":
        kwargs["connect_args"] = {"check_same_thread": False}
        if in_memory(parsed) or parsed.database is None:
            kwargs["poolclass"] = StaticPool
        else:
            from pathlib import Path

            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    else:
        kwargs["pool_pre_ping"] = True
        kwargs["pool_size"] = 10
        kwargs["max_overflow"] = 20
    engine = create_engine(url, **kwargs)
    if parsed.get_backend_name() == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin)
    return engine


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

"""Engine, sessions and the declarative base shared by every model."""

from __future__ import annotations

import datetime as dt
import itertools
import json
import math
import re
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from enum import StrEnum
from json.encoder import encode_basestring_ascii as _encode_json_string
from typing import TYPE_CHECKING, Any, cast

from sqlalchemy import (
    ARRAY,
    JSON,
    CheckConstraint,
    Column,
    ColumnElement,
    Connection,
    DateTime,
    Dialect,
    Engine,
    Enum,
    MetaData,
    String,
    Table,
    any_,
    bindparam,
    create_engine,
    event,
    func,
    insert,
    or_,
    select,
    text,
)
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.orm import (
    DeclarativeBase,
    Mapped,
    QueryableAttribute,
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


class DriverValues(list[Any]):
    """A column's values already in the driver's form (``utc_texts``, ``decimal_values``,
    ``json_objects``): ``PreparedInsert`` sends them as they are."""


def json_objects(columns: Mapping[str, Sequence[Any]]) -> DriverValues:
    """One JSON object per row, made of scalar ``columns`` (strings, numbers, booleans,
    None): the text a JSON column stores (what ``json.dumps`` makes of the dict), without
    a ``json.dumps`` per row: each column is encoded at once, then the rows are laid out
    by one format string."""
    encoded = [_json_scalars(values) for values in columns.values()]
    keys = (json.dumps(key).replace("{", "{{").replace("}", "}}") for key in columns)
    template = "{{" + ", ".join(f"{key}: {{}}" for key in keys) + "}}"
    return DriverValues(map(template.format, *encoded))


def _json_scalars(values: Sequence[Any]) -> list[str]:
    """``json.dumps`` of each value: strings by the json module's C encoder, finite floats
    by their repr (which is what json.dumps writes), each distinct one once, anything else
    once per distinct value and type."""
    kinds = set(map(type, values))
    if kinds == {str}:
        return list(map(_encode_json_string, values))
    if kinds == {float} and all(map(math.isfinite, values)):  # (e.g. rounded probabilities)
        texts = {value: float.__repr__(value) for value in set(values)}
        return [texts[value] if value else float.__repr__(value) for value in values]  # (-0.0)
    encoded: dict[tuple[type, Any], str] = {}
    column = []
    for value in values:
        text = encoded.get((value.__class__, value))  # (1, 1.0 and True: three texts)
        if text is None:
            text = encoded[(value.__class__, value)] = json.dumps(value)
        column.append(text)
    return column


def decimal_values(dialect: Dialect, cells: list[str]) -> DriverValues:
    """Plain decimal numbers (``49.90``: digits, at most one point; the caller has checked
    them) as the driver's values for a ``Numeric`` column, without a ``Decimal`` each: the
    float SQLAlchemy binds on SQLite (the same value), the text itself on PostgreSQL."""
    return DriverValues(map(float, cells) if dialect.name == "sqlite" else cells)


class CellForm:
    """A cell's common form (a pattern that never matches a line break), checked for a
    whole column with one match of the joined cells: a match per cell costs about as much
    as the cell's every other step."""

    def __init__(self, pattern: str) -> None:
        self.cell = re.compile(pattern)
        self.lines = re.compile(f"(?:(?:{pattern})\n)*")

    def __call__(self, cell: str) -> bool:
        return self.cell.fullmatch(cell) is not None

    def column(self, cells: list[str]) -> bool:
        """Whether every cell has the form (no cell may hold a line break of its own)."""
        if not cells:
            return True
        text = "\n".join(cells)
        return text.count("\n") == len(cells) - 1 and self.lines.fullmatch(text + "\n") is not None


_UTC_STAMP = re.compile(
    r"\d{4}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12]\d|3[01])"
    r"(?:[T ](?:[01]\d|2[0-3]):[0-5]\d:[0-5]\d(?:Z|\+00:00)?)?"
)
_UTC_FORM = CellForm(_UTC_STAMP.pattern)
_REAL_DAYS: set[str] = set()  # days known to exist (up to 100,000 of them)


def utc_texts(dialect: Dialect, cells: list[str]) -> DriverValues | None:
    """ISO 8601 UTC timestamps (``2025-10-04T16:10:09``, with ``Z`` or ``+00:00`` or no
    offset, or a date alone: midnight) as the driver's values for a ``UTCDateTime`` column,
    without a ``datetime`` object each; None when a cell has another form or names no real
    day (``2025-02-30``): the caller parses those.

    SQLite gets SQLAlchemy's storage text (``2025-10-04 16:10:09.000000``, what
    ``UTCDateTime`` writes and compares with), PostgreSQL the time with an explicit offset."""
    if not _UTC_FORM.column(cells):
        return None
    for day in {cell[:10] for cell in cells}.difference(_REAL_DAYS):
        try:
            dt.date.fromisoformat(day)
        except ValueError:  # 2025-02-30, year 0
            return None
        if len(_REAL_DAYS) < 100_000:
            _REAL_DAYS.add(day)
    return DriverValues(_utc_storage(cells, ".000000" if dialect.name == "sqlite" else "+00"))


def _utc_storage(cells: list[str], end: str) -> list[str]:
    """Checked ``utc_texts`` cells as ``2025-10-04 16:10:09`` + ``end``. Cells of one form
    (one length: nearly every file) are rewritten by a few replacements in their joined
    text, which is ten times faster than slicing each cell."""
    if not cells:
        return []
    size = len(cells[0])
    if set(map(len, cells)) == {size} and size in (10, 19, 20, 25):
        text = "\n".join(cells).replace("T", " ")  # (only ever the date-time separator)
        if size == 10:
            return (text.replace("\n", " 00:00:00" + end + "\n") + " 00:00:00" + end).split("\n")
        if size == 19:
            return (text.replace("\n", end + "\n") + end).split("\n")
        return text.replace("Z" if size == 20 else "+00:00", end).split("\n")
    return [
        cell[:10] + " " + (cell[11:19] if len(cell) > 10 else "00:00:00") + end for cell in cells
    ]


def bulk_insert(
    session: Session,
    table: Table,
    rows: list[dict[str, Any]],
    constants: dict[str, Any] | None = None,
) -> None:
    """INSERT ``rows`` (dicts with the same keys), each with ``constants`` too:
    ``bulk_insert_columns`` on their columns."""
    if rows:
        prepare_insert(session.get_bind().dialect, table, rows, constants).execute(session)


def prepare_insert(
    dialect: Dialect,
    table: Table,
    rows: list[dict[str, Any]],
    constants: dict[str, Any] | None = None,
) -> PreparedInsert:
    """``bulk_insert`` in two steps: the rows converted for the driver now (no connection
    needed), the INSERT later (``PreparedInsert.execute``), e.g. inside a short write lock."""
    columns = {name: [row[name] for row in rows] for name in rows[0]} if rows else {}
    return PreparedInsert(dialect, table, len(rows), columns, constants)


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
    (same transaction), SQLite INSERT statements of up to 100 rows each, with each
    column's driver conversion done once per column (once in all for a constant)."""
    dialect = session.get_bind().dialect
    PreparedInsert(dialect, table, length, columns, constants).execute(session)


_ROWS_PER_STATEMENT = 100
_SQLITE_PARAMETERS = 999  # the least any SQLite build allows a statement


class PreparedInsert:
    """An INSERT of many rows, prepared without a connection. On SQLite every value is
    converted for the driver up front (columns of one value become literals in the
    statement), so ``execute`` only sends them: ``statements`` holds the statements and
    their parameters, up to 100 rows a statement. PostgreSQL's COPY text is made while it
    is sent (less memory for a million rows)."""

    def __init__(
        self,
        dialect: Dialect,
        table: Table,
        length: int,
        columns: Mapping[str, Sequence[Any]],
        constants: dict[str, Any] | None = None,
    ) -> None:
        for name, values in columns.items():
            if len(values) != length:
                raise ValueError(f"column {name}: {len(values)} values for {length} rows")
        self.length = length
        self.dialect_name = dialect.name
        if length == 0:
            return
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
        names = [*columns, *constants]
        self.columns, self.constants = columns, constants
        self.statements: list[tuple[str, list[list[Any]]]] = []
        if dialect.name == "postgresql":  # COPY text is made while it is sent (less memory)
            preparer = dialect.identifier_preparer
            quoted = ", ".join(preparer.quote(n) for n in names)
            self.statement = f"COPY {preparer.format_table(table)} ({quoted}) FROM STDIN"
        else:
            # Constants, and columns that hold one value throughout (a currency, a status),
            # go into the statement as literals: each parameter bound costs every row.
            literals: dict[str, str] = {}
            for name in names:
                held = columns.get(name)
                if held is None:
                    value = constants[name]
                elif _uniform(held):
                    value = held[0]
                else:
                    continue
                convert = _converter(table.c[name].type, dialect, held)
                text = _sqlite_literal(value if convert is None else convert(value))
                if text is not None:
                    literals[name] = text
            bound = [name for name in names if name not in literals]
            prepared: list[Iterable[Any]] = []
            for name in bound:
                convert = _converter(table.c[name].type, dialect, columns.get(name))
                if name in constants:
                    value = constants[name] if convert is None else convert(constants[name])
                    prepared.append([value] * length)
                else:
                    prepared.append(_converted(columns[name], convert))
            # Identifiers quoted by the dialect; literals from _sqlite_literal (escaped).
            quote = dialect.identifier_preparer.quote
            target = dialect.identifier_preparer.format_table(table)
            listed = ", ".join(quote(name) for name in [*bound, *literals])
            slots = ", ".join(["?"] * len(bound) + list(literals.values()))
            self.statement = f"INSERT INTO {target} ({listed}) VALUES ({slots})"  # noqa: S608
            # Many rows a statement: each execution opens a cursor on the table and on
            # every index, which for a single row cost as much as the row itself. The
            # values are laid out row after row by strided slice assignments (C loops).
            width = len(bound)
            flat: list[Any] = [None] * (length * width)
            for offset, column in enumerate(prepared):
                flat[offset::width] = column if isinstance(column, list) else list(column)
            per = max(1, min(_ROWS_PER_STATEMENT, _SQLITE_PARAMETERS // max(1, width)))
            whole = length - length % per
            step = per * width
            self.statements = [
                (
                    f"INSERT INTO {target} ({listed}) VALUES "  # noqa: S608
                    + ", ".join([f"({slots})"] * per),
                    # (every column a literal: still one empty parameter list a statement)
                    [flat[start : start + step] for start in range(0, whole * width, step)]
                    if width
                    else [[]] * (whole // per),
                ),
                (
                    self.statement,
                    [flat[at : at + width] for at in range(whole * width, len(flat), width)]
                    if width
                    else [[]] * (length - whole),
                ),
            ]

    def _copy_chunks(self) -> Iterator[str]:
        fixed = [_copy_text(value) for value in self.constants.values()]
        for start in range(0, self.length, _COPY_CHUNK):
            stop = min(start + _COPY_CHUNK, self.length)
            parts: list[Iterable[str]] = [
                map(_copy_text, values[start:stop]) for values in self.columns.values()
            ]
            parts += [itertools.repeat(text, stop - start) for text in fixed]
            yield "".join(["\t".join(row) + "\n" for row in zip(*parts, strict=True)])

    def execute(self, session: Session) -> None:
        if self.length == 0:
            return
        connection = session.connection()
        if connection.dialect.name != self.dialect_name:
            raise ValueError(f"prepared for {self.dialect_name}, not {connection.dialect.name}")
        raw = connection.connection.dbapi_connection
        with _wrapped_errors(connection.dialect, self.statement):
            if self.dialect_name == "postgresql":
                with raw.cursor() as cursor, cursor.copy(self.statement) as copy:  # type: ignore[union-attr]
                    for chunk in self._copy_chunks():
                        copy.write(chunk)
                return
            cursor = raw.cursor()  # type: ignore[union-attr]
            try:
                for statement, parameters in self.statements:
                    if parameters:
                        cursor.executemany(statement, parameters)
            finally:
                cursor.close()


def among(
    column: ColumnElement[Any] | QueryableAttribute[Any], values: Iterable[Any], dialect: Dialect
) -> ColumnElement[bool]:
    """``column IN (values)`` (strings or numbers) with one bound parameter whatever the
    number of values: a JSON array read by ``json_each`` on SQLite, an array on PostgreSQL.
    The statement compiles once and is cached; an expanding ``IN`` of 2,000 values is
    compiled afresh each time (about 2 µs a value)."""
    values = list(values)
    if dialect.name == "postgresql":
        return column == any_(bindparam(None, values, type_=ARRAY(column.type)))
    listed = func.json_each(bindparam(None, json.dumps(values), type_=String)).table_valued("value")
    return column.in_(select(listed.c.value))


def _uniform(values: Sequence[Any]) -> bool:
    """Whether a column of strings, integers or NULLs holds one value throughout."""
    if not isinstance(values, list) or not values:
        return False
    first = values[0]
    return (first is None or type(first) in (str, int) or isinstance(first, StrEnum)) and (
        values.count(first) == len(values)
    )


def _sqlite_literal(value: Any) -> str | None:
    """A driver value as an SQLite literal (None where it has no literal form here)."""
    if value is None:
        return "NULL"
    if type(value) is int:
        return str(value)
    if type(value) is str and "\0" not in value:
        return "'" + value.replace("'", "''") + "'"
    return None


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
        if len(set(values[:1024])) > 64:  # a sample first: ids and timestamps are not few
            return map(convert, values)
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


def _converter(
    column_type: Any, dialect: Any, values: Sequence[Any] | None
) -> Callable[[Any], Any] | None:
    """The driver conversion for a column's ``values`` (none for ``DriverValues``)."""
    return None if isinstance(values, DriverValues) else _driver_converter(column_type, dialect)


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
            if strings_fast:
                try:
                    return _json_strings(value)
                except TypeError:  # not all strings
                    pass
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


class WriteQueue:
    """SQLite's writers of one process, one at a time in order of arrival, each waiting
    at most ``timeout`` seconds.

    SQLite's own busy handler retries by sleeping (up to 100 ms a try), in no order: under
    32 concurrent writers some waited past the busy timeout ("database is locked") while
    others went first. Queued here, a writer starts the moment the previous one ends; the
    busy timeout is left for other processes (the CLI, a backup)."""

    def __init__(self, timeout: float = SQLITE_WRITE_WAIT_SECONDS) -> None:
        self.timeout = timeout
        self._turns = threading.Condition()
        self._waiting: deque[object] = deque()
        self._held = False

    def acquire(self) -> None:
        me = object()
        with self._turns:
            self._waiting.append(me)
            if not self._turns.wait_for(
                lambda: not self._held and self._waiting[0] is me, self.timeout
            ):
                self._waiting.remove(me)
                self._turns.notify_all()
                raise OperationalError(
                    "BEGIN IMMEDIATE",
                    None,
                    TimeoutError(f"no turn to write within {self.timeout:g} s"),
                )
            self._waiting.popleft()
            self._held = True

    def release(self) -> None:
        with self._turns:
            self._held = False
            self._turns.notify_all()


_WRITE_TURN = "careloop_write_turn"


def _sqlite_begin(queue: WriteQueue, conn: Connection) -> None:
    # IMMEDIATE takes the write lock when the transaction starts, so a transaction that
    # reads and then writes waits for another writer instead of failing at once with
    # "database is locked" on its stale WAL snapshot. The price is one transaction at a
    # time (in turn: WriteQueue), so transactions stay short; read-only ones opt out.
    if conn.get_execution_options().get("careloop_read_only"):
        conn.exec_driver_sql("BEGIN")
    else:
        queue.acquire()
        conn.info[_WRITE_TURN] = queue
        try:
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        except BaseException:
            _sqlite_end(conn)
            raise
    conn.info["careloop_changes_at_begin"] = conn.connection.dbapi_connection.total_changes  # type: ignore[union-attr]


def _sqlite_end(conn: Connection) -> None:
    queue = conn.info.pop(_WRITE_TURN, None)
    if queue is not None:
        queue.release()


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


def postgres_timeouts(
    statement_timeout_s: float | None, idle_in_transaction_timeout_s: float | None
) -> str:
    """The libpq ``options`` that give each session a ``statement_timeout`` and an
    ``idle_in_transaction_session_timeout`` (None or 0: the server's default, no limit)."""
    parts = []
    for name, seconds in (
        ("statement_timeout", statement_timeout_s),
        ("idle_in_transaction_session_timeout", idle_in_transaction_timeout_s),
    ):
        if seconds:
            parts.append(f"-c {name}={max(1, round(seconds * 1000))}")
    return " ".join(parts)


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
    """An engine for ``url``; SQLite gets WAL, foreign keys, a busy timeout and a queue of
    writers; PostgreSQL a pool of ``pool_size`` connections (``max_overflow`` more at
    peaks), and every connection can get a statement and an idle-in-transaction timeout
    (the server passes its settings): a stuck request or a transaction left open fails
    instead of holding its locks and stalling everyone behind it."""
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
        kwargs["pool_size"] = pool_size
        kwargs["max_overflow"] = max_overflow
        options = postgres_timeouts(statement_timeout_s, idle_in_transaction_timeout_s)
        if options and parsed.get_backend_name() == "postgresql":
            kwargs["connect_args"] = {"options": options}
    engine = create_engine(url, **kwargs)
    if parsed.get_backend_name() == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
        queue = WriteQueue()

        def begin(conn: Connection) -> None:
            _sqlite_begin(queue, conn)

        event.listen(engine, "begin", begin)
        event.listen(engine, "commit", _sqlite_end)
        event.listen(engine, "rollback", _sqlite_end)
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


def dialect_insert(session: Session, model: type[Any]) -> Any:
    """``INSERT`` for ``model`` in the session's dialect (SQLite or PostgreSQL), which knows
    ``ON CONFLICT``."""
    from sqlalchemy.dialects import postgresql, sqlite

    name = session.get_bind().dialect.name
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

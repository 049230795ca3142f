"""The shop's order history as NumPy arrays: read once, shared by RFM, CLV and churn.

Scoring a million customers means aggregating ten million orders several ways (RFM in a
window, CLV by calendar day, churn features and labels around two cut-offs). Instead of a
``GROUP BY`` per question, the orders that count (not cancelled) are read once as three
columns (customer id, UTC epoch seconds, amount as a float), sorted by customer and time,
and every aggregate is a vectorised pass over them. Scores are written back through one
temporary table and a single ``UPDATE ... FROM`` per step (``write_scores``), not a row at
a time.
"""

from __future__ import annotations

import datetime as dt
import io
import logging
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Any, cast

import numpy as np
from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    Connection,
    Float,
    Integer,
    MetaData,
    Select,
    String,
    Table,
    func,
    literal_column,
    or_,
    select,
    update,
)
from sqlalchemy import (
    cast as sql_cast,
)
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement

from crm.db import (
    READ_ONLY,
    bulk_insert_columns,
    create_db_engine,
    in_memory,
    sqlite_has_written,
)
from crm.helpers import Helper, read_database_url
from crm.models import Customer, Order, OrderStatus

log = logging.getLogger(__name__)

FETCH_ROWS = 200_000
FETCH_CUSTOMERS = 100_000  # customer ids a text read covers (about a million orders)
DAY = 86_400


class epoch_seconds(FunctionElement[int]):
    """Whole seconds since 1970 (UTC) of a timestamp column, computed by the database."""

    type = BigInteger()
    inherit_cache = True


@compiles(epoch_seconds, "sqlite")
def _epoch_sqlite(element: epoch_seconds, compiler: SQLCompiler, **kw: Any) -> str:
    # careloop stores SQLite timestamps as UTC text ("2025-03-04 12:00:00.000000").
    # unixepoch() (SQLite 3.38+) is twice as fast as strftime: seconds at ten million rows.
    value = compiler.process(element.clauses, **kw)
    if getattr(compiler.dialect.dbapi, "sqlite_version_info", (0,)) >= (3, 38):
        return f"unixepoch({value})"
    return f"CAST(strftime('%s', {value}) AS INTEGER)"


@compiles(epoch_seconds)
def _epoch_default(element: epoch_seconds, compiler: SQLCompiler, **kw: Any) -> str:
    return f"CAST(EXTRACT(EPOCH FROM {compiler.process(element.clauses, **kw)}) AS BIGINT)"


def epoch(value: dt.datetime) -> int:
    return int(value.timestamp())


@dataclass(frozen=True)
class Groups:
    """Per-customer slices of a history sorted by customer: ``ids[k]`` owns the rows
    ``start[k] : start[k] + count[k]``."""

    ids: np.ndarray
    start: np.ndarray
    count: np.ndarray

    def total(self, values: np.ndarray) -> np.ndarray:
        """Sum of ``values`` (one per history row) per customer."""
        if len(self.ids) == 0:
            return np.zeros(0)
        result: np.ndarray = np.add.reduceat(values, self.start)
        return result

    def last(self, values: np.ndarray) -> np.ndarray:
        result: np.ndarray = values[self.start + self.count - 1]
        return result

    def first(self, values: np.ndarray) -> np.ndarray:
        result: np.ndarray = values[self.start]
        return result


@dataclass(frozen=True)
class OrderHistory:
    """Orders that count (not cancelled), sorted by customer, then time."""

    customer_id: np.ndarray  # int64
    at: np.ndarray  # int64, UTC epoch seconds
    amount: np.ndarray  # float64

    def __len__(self) -> int:
        return len(self.customer_id)

    @classmethod
    def from_arrays(
        cls, customer_id: np.ndarray, at: np.ndarray, amount: np.ndarray
    ) -> OrderHistory:
        customer_id = np.asarray(customer_id, dtype=np.int64)
        at = np.asarray(at, dtype=np.int64)
        amount = np.asarray(amount, dtype=np.float64)
        step = np.diff(customer_id)
        if np.all((step > 0) | ((step == 0) & (np.diff(at) >= 0))):
            return cls(customer_id, at, amount)  # already in order (a table read in key order)
        order = np.lexsort((at, customer_id))
        return cls(customer_id[order], at[order], amount[order])

    @classmethod
    def load(cls, session: Session, until: dt.datetime | None = None) -> OrderHistory:
        """Read the orders (up to ``until``, inclusive) in chunks of ``FETCH_ROWS``.

        On SQLite the rows come from the covering index ``ix_orders_customer_history``,
        already in customer and time order. A big shop (``PARALLEL_ORDERS`` and more) is
        read by two processes at once, each a range of customers: building ten million
        rows in Python is most of the time, and it is one core's work per process."""
        session.flush()  # a Connection-level query does not autoflush
        connection = session.connection()
        helper = _helper_share(connection)
        if helper is None:
            table = _fetch(connection, until)
        else:
            url = connection.engine.url.render_as_string(hide_password=False)
            with _Helper(url, until, helper) as theirs:
                mine = _fetch(connection, until, end=helper)
                rest = theirs.result()
            if rest is None:  # the helper failed (logged): read its part here
                rest = _fetch(connection, until, first=helper)
            table = np.concatenate([mine, rest])  # still sorted: its customers come after
        return cls.from_arrays(table[:, 0], table[:, 1], table[:, 2])

    def before(self, moment: dt.datetime) -> OrderHistory:
        """The orders placed before ``moment`` (still sorted)."""
        keep = self.at < epoch(moment)
        return OrderHistory(self.customer_id[keep], self.at[keep], self.amount[keep])

    @cached_property
    def _groups(self) -> Groups:
        cid = self.customer_id
        if len(cid) == 0:
            empty = np.zeros(0, dtype=np.int64)
            return Groups(empty, empty, empty)
        start = np.flatnonzero(np.concatenate(([True], cid[1:] != cid[:-1])))
        count = np.diff(np.append(start, len(cid)))
        return Groups(cid[start], start, count)

    def groups(self) -> Groups:
        """One slice per customer (computed once: the rows are sorted by customer)."""
        return self._groups

    def customers_between(self, start: dt.datetime, end: dt.datetime) -> np.ndarray:
        """Ids of the customers with an order in ``[start, end)``."""
        keep = (self.at >= epoch(start)) & (self.at < epoch(end))
        result: np.ndarray = np.unique(self.customer_id[keep])
        return result


PARALLEL_ORDERS = 2_000_000
HELPER_SHARE = 0.45  # the helper starts a Python process first, so it reads a bit less


def _orders_query(
    until: dt.datetime | None, first: int | None = None, end: int | None = None
) -> Select[Any]:
    """The orders that count up to ``until``, of the customers ``first <= id < end``."""
    query = select(
        Order.customer_id, epoch_seconds(Order.ordered_at), sql_cast(Order.total_amount, Float)
    ).where(Order.status != OrderStatus.cancelled)
    if until is not None:
        query = query.where(Order.ordered_at <= until)
    if first is not None:
        query = query.where(Order.customer_id >= first)
    if end is not None:
        query = query.where(Order.customer_id < end)
    return query


def _fetch(
    connection: Connection,
    until: dt.datetime | None,
    *,
    first: int | None = None,
    end: int | None = None,
) -> np.ndarray:
    """The orders of ``_orders_query`` as one float64 array (customer, seconds, amount)."""
    if connection.dialect.name == "sqlite":
        return _fetch_as_text(connection, until, first, end)
    return _fetch_rows(connection, _orders_query(until, first, end))


def _fetch_as_text(
    connection: Connection, until: dt.datetime | None, first: int | None, end: int | None
) -> np.ndarray:
    """``_fetch`` on SQLite: each column of a range of customers as one text of
    comma-separated numbers (``group_concat``), which NumPy parses. A row fetched through
    the driver costs about a microsecond in Python objects alone; this takes about a
    third less time at ten million orders. (SQLite writes a float with 15 significant
    digits: an amount of 12 digits comes back exact.)"""
    low, high = _ends(connection, Order.customer_id)
    parts: list[np.ndarray] = [np.zeros((0, 3))]
    if low is None:
        return parts[0]
    low = int(low) if first is None else max(int(low), first)
    stop = int(high) + 1 if end is None else min(int(high) + 1, end)
    for start in range(low, stop, FETCH_CUSTOMERS):
        # One lower and one upper bound: given two of each, SQLite may scan the index
        # range of the wider pair.
        part = _orders_query(until, start, min(start + FETCH_CUSTOMERS, stop))
        rows = part.subquery()
        texts = connection.execute(
            # (a literal separator: a bound one costs SQLite a third more per row)
            select(*(func.group_concat(column, literal_column("','")) for column in rows.c))
        ).one()
        if texts[0] is None:  # no orders in the range
            continue
        try:  # (ids and seconds parse four times as fast as integers)
            columns = [
                np.fromstring(text, sep=",", dtype=kind)
                for text, kind in zip(texts, (np.int64, np.int64, np.float64), strict=True)
            ]
        except (TypeError, ValueError):  # a NULL or a stray value (not written by careloop)
            columns = []
        if len({len(column) for column in columns}) == 1:
            parts.append(np.column_stack(columns))  # (float64: the amounts are)
        else:  # (a NULL is left out of a group_concat)
            parts.append(_fetch_rows(connection, part))
    return np.concatenate(parts)


def _fetch_rows(connection: Connection, query: Select[Any]) -> np.ndarray:
    """``_fetch`` a row at a time, in chunks of ``FETCH_ROWS``."""
    parts: list[np.ndarray] = [np.zeros((0, 3))]
    if connection.dialect.name == "sqlite":
        # pysqlite fetches lazily by itself, and the three columns need no conversion,
        # so rows come straight from the DB-API cursor (no Row objects: several
        # seconds saved at ten million orders).
        result = connection.execute(query)
        cursor = result.cursor
        chunks: Iterable[Any] = iter(lambda: cursor.fetchmany(FETCH_ROWS), [])
    else:  # a server-side cursor keeps the client's memory flat
        result = connection.execute(query.execution_options(stream_results=True))
        chunks = ([tuple(row) for row in part] for part in result.partitions(FETCH_ROWS))
    for rows in chunks:
        parts.append(np.array(rows, dtype=np.float64).reshape(-1, 3))
    result.close()
    return np.concatenate(parts)  # ids and epoch seconds are exact in float64


def _helper_share(connection: Connection) -> int | None:
    """The first customer id whose orders a helper process should read, or None when this
    connection reads alone: not SQLite in a file, a small shop, or rows this transaction
    changed (the helper would not see them)."""
    url = connection.engine.url
    if url.get_backend_name() != "sqlite" or in_memory(url):
        return None
    if sqlite_has_written(connection):
        return None
    first, last = _ends(connection, Order.id)
    if first is None or last - first + 1 < PARALLEL_ORDERS:
        return None
    low, high = _ends(connection, Order.customer_id)
    return int(high - (high - low) * HELPER_SHARE)


def _ends(connection: Connection, column: Any) -> tuple[Any, Any]:
    """``min(column)`` and ``max(column)``, each from one end of an index: SQLite answers
    ``SELECT min(x), max(x)`` by scanning the whole table (seconds at ten million rows)."""
    least = select(func.min(column)).scalar_subquery()
    most = select(func.max(column)).scalar_subquery()
    first, last = connection.execute(select(least, most)).one()
    return first, last


class _Helper(Helper):
    """A helper process (``python -m crm.scoring.history``) reading the orders of the
    customers from ``first`` on while this one reads the others; the array comes back
    through a pipe in NumPy's format."""

    def __init__(self, url: str, until: dt.datetime | None, first: int) -> None:
        arguments = [until.isoformat() if until else "", str(first)]
        super().__init__("crm.scoring.history", arguments, url)

    def result(self) -> np.ndarray | None:
        try:
            data = io.BytesIO(self.stdout.read())  # a pipe cannot seek
            table: np.ndarray = np.load(data, allow_pickle=False)
        except (ValueError, OSError, EOFError) as exc:
            log.warning("crm.history.helper_failed error=%s", exc)
            return None
        if self.process.wait() != 0:
            log.warning("crm.history.helper_failed code=%s", self.process.returncode)
            return None
        return table


def _helper_main(arguments: list[str]) -> None:
    """The helper process: write the orders of the customers from ``first`` on as a NumPy
    array to stdout."""
    until_text, first = arguments
    url = read_database_url()
    until = dt.datetime.fromisoformat(until_text) if until_text else None
    engine = create_db_engine(url)
    try:
        with engine.connect().execution_options(**READ_ONLY) as connection:
            table = _fetch(connection, until, first=int(first))
    finally:
        engine.dispose()
    np.save(sys.stdout.buffer, table, allow_pickle=False)
    sys.stdout.buffer.flush()


def write_scores(
    session: Session,
    ids: np.ndarray,
    columns: Mapping[str, Iterable[Any]],
    *,
    constants: dict[str, Any] | None = None,
) -> None:
    """Set ``columns`` (one value per id, in order) and ``constants`` (the same for all) on
    the customers ``ids``: the values go into a temporary table (``bulk_insert_columns``), then
    ``UPDATE customers ... FROM`` applies them."""
    if len(ids) == 0:
        return
    customers = cast(Table, Customer.__table__)
    temp = Table(
        "careloop_score_updates",
        MetaData(),
        Column("id", Integer, primary_key=True),  # SQLite: the rowid itself, no extra index
        *(Column(name, _temp_type(customers.c[name].type)) for name in columns),
        prefixes=["TEMPORARY"],
    )
    connection = session.connection()
    temp.drop(connection, checkfirst=True)
    temp.create(connection)
    values = {name: _listed(columns[name]) for name in columns}
    bulk_insert_columns(session, temp, len(ids), {"id": ids.tolist(), **values})
    # Indexed columns (segment, risk level) are set only where they change: rewriting a
    # million index entries with the same value costs seconds on every nightly run. Each
    # row is written once: first the rows whose indexed values stay (the other columns),
    # then the rest (all columns).
    indexed = {column.name for index in customers.indexes for column in index.columns}
    plain = {name: temp.c[name] for name in columns if name not in indexed}
    changing = {name: temp.c[name] for name in columns if name in indexed}
    if plain or constants:
        same = [customers.c[name].is_not_distinct_from(temp.c[name]) for name in changing]
        connection.execute(
            update(customers)
            .where(customers.c.id == temp.c.id, *same)
            .values({**plain, **(constants or {})})
        )
    if changing:
        differs = or_(*(customers.c[name].is_distinct_from(temp.c[name]) for name in changing))
        connection.execute(
            update(customers)
            .where(customers.c.id == temp.c.id, differs)
            .values({**plain, **changing, **(constants or {})})
        )
    temp.drop(connection)


class ScoreWrites:
    """Scores of several steps, written together: steps that scored the same customers
    share one temporary table and one ``UPDATE`` (a million-row update costs seconds, and
    RFM, CLV and churn all score the customers who ordered)."""

    def __init__(self) -> None:
        self._parts: list[tuple[np.ndarray, dict[str, list[Any]], dict[str, Any]]] = []

    def add(
        self,
        ids: np.ndarray,
        columns: Mapping[str, Iterable[Any]],
        *,
        constants: dict[str, Any] | None = None,
    ) -> None:
        values = {name: _listed(column) for name, column in columns.items()}
        last = self._parts[-1] if self._parts else None
        if last is not None and np.array_equal(last[0], ids):
            last[1].update(values)
            last[2].update(constants or {})
        else:
            self._parts.append((ids, values, dict(constants or {})))

    def write(self, session: Session) -> None:
        for ids, columns, constants in self._parts:
            write_scores(session, ids, columns, constants=constants)
        self._parts.clear()


def store_scores(
    session: Session,
    pending: ScoreWrites | None,
    ids: np.ndarray,
    columns: Mapping[str, Iterable[Any]],
    *,
    constants: dict[str, Any] | None = None,
) -> None:
    """Write the scores now, or add them to ``pending`` (written later, together)."""
    if pending is None:
        write_scores(session, ids, columns, constants=constants)
    else:
        pending.add(ids, columns, constants=constants)


def _listed(values: Iterable[Any]) -> list[Any]:
    """The values as a list; a list as it is (``DriverValues`` keep their type)."""
    return values if isinstance(values, list) else list(values)


def _temp_type(column_type: Any) -> Any:
    """Plain storage types for the temporary table (the target column converts)."""
    name = type(column_type).__name__
    if name in ("JSON",):
        return JSON()
    if name in ("Float", "Numeric", "Double"):
        return Float()
    return String(64)


if __name__ == "__main__":
    _helper_main(sys.argv[1:])

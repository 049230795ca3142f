"""The shop's order history as NumPy arrays, read once and shared by RFM, CLV and churn,
and the scores written back through one temporary table (docs/customer-value.md says why
and how fast)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cached_property, partial
from itertools import chain
from typing import Any, cast

import numpy as np
import polars as pl
from sqlalchemy import (
    JSON,
    URL,
    BigInteger,
    Column,
    Float,
    Integer,
    String,
    Table,
    literal,
    or_,
    select,
    update,
)
from sqlalchemy import cast as sql_cast
from sqlalchemy.engine import Engine
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement

from crm.db import staged_rows
from crm.models import Customer, Order, OrderStatus

FETCH_ROWS = 100_000
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


def adbc_columns(url: URL, sql: str) -> list[np.ndarray] | None:
    """The columns of ``sql``'s result, read on a new ADBC connection to the database at
    ``url`` (an SQLite file or PostgreSQL; otherwise None: an in-memory database is only
    seen by its own connection)."""
    backend = url.get_backend_name()
    if backend == "sqlite" and url.database and url.database != ":memory:":
        from adbc_driver_sqlite import dbapi as sqlite_adbc

        connect = partial(sqlite_adbc.connect, url.database)
    elif backend == "postgresql":
        from adbc_driver_postgresql import dbapi as postgres_adbc

        plain = url.set(drivername="postgresql").render_as_string(hide_password=False)
        connect = partial(postgres_adbc.connect, plain)
    else:
        return None
    with connect() as connection, connection.cursor() as cursor:
        cursor.execute(sql)
        frame = pl.DataFrame(cursor.fetch_arrow())
    return [column.to_numpy() for column in frame.get_columns()]


@dataclass(frozen=True)
class Groups:
    """Per-customer slices of a history sorted by customer: ``ids[k]`` owns the rows
    ``start[k] : start[k] + count[k]``."""

    ids: np.ndarray
    start: np.ndarray
    count: np.ndarray

    def total(self, values: np.ndarray) -> np.ndarray:
        """Sum of ``values`` (one per history row) per customer."""
        return np.add.reduceat(values, self.start) if len(self.ids) else np.zeros(0)

    def last(self, values: np.ndarray) -> np.ndarray:
        return np.asarray(values[self.start + self.count - 1])

    def first(self, values: np.ndarray) -> np.ndarray:
        return np.asarray(values[self.start])


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
            return cls(customer_id, at, amount)  # already in order (SQLite reads the index)
        order = np.lexsort((at, customer_id))
        return cls(customer_id[order], at[order], amount[order])

    @classmethod
    def load(cls, session: Session, until: dt.datetime | None = None) -> OrderHistory:
        """Read the orders (up to ``until``, inclusive) as three NumPy columns.

        A session with nothing of its own in flight (no transaction begun: the nightly job,
        ``careloop score``) reads through ADBC, which hands the rows over as Arrow columns
        with no Python object per value: 9.0 M orders from SQLite in 3.3-4.1 s against
        9.5-11.0 s through the DB-API cursor (same run, ``adbc_columns``). A session in a
        transaction reads on its own connection, so that the rows it wrote are included
        (``FETCH_ROWS`` at a time from the DB-API cursor; a server-side cursor on
        PostgreSQL keeps the client's memory flat)."""
        seconds = epoch_seconds(Order.ordered_at)
        query = select(Order.customer_id, seconds, sql_cast(Order.total_amount, Float)).where(
            Order.status != literal(OrderStatus.cancelled.value, String)
        )
        if until is not None:
            query = query.where(seconds <= epoch(until))
        bind = session.get_bind()
        # Only literals: an integer and a fixed status (no value needs a driver conversion).
        sql = str(query.compile(bind, compile_kwargs={"literal_binds": True}))
        fresh = isinstance(bind, Engine) and not session.in_transaction()
        if fresh and (columns := adbc_columns(bind.engine.url, sql)):
            return cls.from_arrays(*columns)
        session.flush()  # a Connection-level query does not autoflush
        connection = session.connection()
        driver = connection.connection.driver_connection
        postgres = connection.dialect.name == "postgresql"
        cursor = driver.cursor("careloop_order_history") if postgres else driver.cursor()  # type: ignore[union-attr]
        cursor.execute(sql)
        parts: list[np.ndarray] = [np.zeros(0)]
        while rows := cursor.fetchmany(FETCH_ROWS):
            flat = chain.from_iterable(rows)
            parts.append(np.fromiter(flat, dtype=np.float64, count=3 * len(rows)))
        cursor.close()
        table = np.concatenate(parts).reshape(-1, 3)  # (ids and seconds: exact in float64)
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
        return Groups(cid[start], start, np.diff(np.append(start, len(cid))))

    def groups(self) -> Groups:
        """One slice per customer (computed once: the rows are sorted by customer)."""
        return self._groups

    def customers_between(self, start: dt.datetime, end: dt.datetime) -> np.ndarray:
        """Ids of the customers with an order in ``[start, end)``."""
        keep = (self.at >= epoch(start)) & (self.at < epoch(end))
        return np.unique(self.customer_id[keep])


def write_scores(
    session: Session,
    ids: np.ndarray,
    columns: Mapping[str, Iterable[Any]],
    constants: dict[str, Any],
) -> None:
    """Set ``columns`` (one value per id, in order) and ``constants`` (the same for all) on
    the customers ``ids``: the values go into a temporary table (``staged_rows``), then
    ``UPDATE customers ... FROM`` applies them. JSON columns take JSON text."""
    if len(ids) == 0:
        return
    customers = cast(Table, Customer.__table__)
    connection = session.connection()
    staged = [
        Column("id", Integer, primary_key=True),  # SQLite: the rowid itself, no extra index
        *(Column(name, _temp_type(customers.c[name].type)) for name in columns),
    ]
    rows = zip(ids.tolist(), *(list(values) for values in columns.values()), strict=True)
    # Indexed columns (segment, risk level) are set only where they change: rewriting a
    # million index entries with the same value costs seconds on every nightly run. Each
    # row is written once: first the rows whose indexed values stay (the other columns),
    # then the rest (all columns).
    indexed = {column.name for index in customers.indexes for column in index.columns}
    with staged_rows(connection, "careloop_score_updates", staged, rows) as temp:
        plain = {name: temp.c[name] for name in columns if name not in indexed}
        changing = {name: temp.c[name] for name in columns if name in indexed}
        rows_of = update(customers).where(customers.c.id == temp.c.id)
        if plain or constants:
            same = [customers.c[name].is_not_distinct_from(temp.c[name]) for name in changing]
            connection.execute(rows_of.where(*same).values({**plain, **constants}))
        if changing:
            differs = or_(*(customers.c[n].is_distinct_from(temp.c[n]) for n in changing))
            connection.execute(rows_of.where(differs).values({**plain, **changing, **constants}))


class ScoreWrites:
    """Scores of several steps, written together: steps that scored the same customers
    share one temporary table and one ``UPDATE`` (a million-row update costs seconds, and
    RFM, CLV and churn all score the customers who ordered)."""

    def __init__(self) -> None:
        self._parts: list[tuple[np.ndarray, dict[str, Any], dict[str, Any]]] = []

    def add(
        self,
        ids: np.ndarray,
        columns: Mapping[str, Iterable[Any]],
        *,
        constants: dict[str, Any] | None = None,
    ) -> None:
        last = self._parts[-1] if self._parts else None
        if last is not None and np.array_equal(last[0], ids):
            last[1].update(columns)
            last[2].update(constants or {})
        else:
            self._parts.append((ids, dict(columns), dict(constants or {})))

    def write(self, session: Session) -> None:
        for ids, columns, constants in self._parts:
            write_scores(session, ids, columns, constants)
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
    writes = pending if pending is not None else ScoreWrites()
    writes.add(ids, columns, constants=constants)
    if pending is None:
        writes.write(session)


def _temp_type(column_type: Any) -> Any:
    """Plain storage types for the temporary table (the target column converts)."""
    name = type(column_type).__name__
    if name in ("Float", "Numeric", "Double"):
        return Float()
    return JSON() if name == "JSON" else String(64)

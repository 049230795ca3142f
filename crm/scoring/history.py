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
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cached_property
from typing import Any, cast

import numpy as np
from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    Float,
    MetaData,
    String,
    Table,
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

from crm.db import bulk_insert
from crm.models import Customer, Order, OrderStatus

FETCH_ROWS = 200_000
DAY = 86_400


class epoch_seconds(FunctionElement[int]):
    """Whole seconds since 1970 (UTC) of a timestamp column, computed by the database."""

    type = BigInteger()
    inherit_cache = True


@compiles(epoch_seconds, "sqlite")
def _epoch_sqlite(element: epoch_seconds, compiler: SQLCompiler, **kw: Any) -> str:
    # careloop stores SQLite timestamps as UTC text ("2025-03-04 12:00:00.000000").
    return f"CAST(strftime('%s', {compiler.process(element.clauses, **kw)}) AS INTEGER)"


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
        """Read the orders (up to ``until``, inclusive) in chunks of ``FETCH_ROWS``."""
        query = select(
            Order.customer_id, epoch_seconds(Order.ordered_at), sql_cast(Order.total_amount, Float)
        ).where(Order.status != OrderStatus.cancelled)
        if until is not None:
            query = query.where(Order.ordered_at <= until)
        session.flush()  # a Connection-level query does not autoflush
        parts: list[np.ndarray] = []
        connection = session.connection()
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
        if not parts:
            empty = np.zeros(0, dtype=np.int64)
            return cls(empty, empty.copy(), np.zeros(0))
        table = np.concatenate(parts)  # ids and epoch seconds are exact in float64
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


def write_scores(
    session: Session,
    ids: np.ndarray,
    columns: dict[str, Iterable[Any]],
    *,
    constants: dict[str, Any] | None = None,
) -> None:
    """Set ``columns`` (one value per id, in order) and ``constants`` (the same for all) on
    the customers ``ids``: the values go into a temporary table with one executemany, then
    one ``UPDATE customers ... FROM`` applies them."""
    if len(ids) == 0:
        return
    customers = cast(Table, Customer.__table__)
    temp = Table(
        "careloop_score_updates",
        MetaData(),
        Column("id", BigInteger, primary_key=True),
        *(Column(name, _temp_type(customers.c[name].type)) for name in columns),
        prefixes=["TEMPORARY"],
    )
    connection = session.connection()
    temp.drop(connection, checkfirst=True)
    temp.create(connection)
    names = list(columns)
    rows = zip(ids.tolist(), *(columns[name] for name in names), strict=True)
    batch: list[dict[str, Any]] = []
    for values in rows:
        batch.append(dict(zip(["id", *names], values, strict=True)))
        if len(batch) >= FETCH_ROWS:
            bulk_insert(session, temp, batch)
            batch = []
    bulk_insert(session, temp, batch)
    connection.execute(
        update(customers)
        .where(customers.c.id == temp.c.id)
        .values({**{name: temp.c[name] for name in names}, **(constants or {})})
    )
    temp.drop(connection)


def _temp_type(column_type: Any) -> Any:
    """Plain storage types for the temporary table (the target column converts)."""
    name = type(column_type).__name__
    if name in ("JSON",):
        return JSON()
    if name in ("Float", "Numeric", "Double"):
        return Float()
    return String(64)

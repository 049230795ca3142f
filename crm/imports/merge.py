"""Writing a batch of valid rows: rows that name one customer (or order) twice in the batch
become one, the batch goes into a staging table (COPY on PostgreSQL, ``executemany`` on
SQLite), and SQL matches it with the stored rows, counts what it creates, updates and
leaves unchanged, and writes it."""

from __future__ import annotations

import datetime as dt
from typing import Any, cast

import polars as pl
from sqlalchemy import (
    Boolean,
    Column,
    Connection,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    and_,
    delete,
    exists,
    false,
    func,
    literal,
    literal_column,
    or_,
    select,
    update,
)
from sqlalchemy import (
    cast as sql_cast,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.sql.elements import ColumnElement

from crm.db import UTCDateTime
from crm.imports.report import ImportReport
from crm.models import Customer, Order

CUSTOMERS = cast(Table, Customer.__table__)
ORDERS = cast(Table, Order.__table__)
CUSTOMER_KEYS = {"external_id": "customer id", "email": "email", "phone": "phone"}
CUSTOMER_FIELDS = (
    *CUSTOMER_KEYS,
    *("first_name", "last_name", "birthday", "timezone", "locale", "marketing_consent"),
    *("tags", "created_at"),
)
ORDER_FIELDS = (
    *("customer_id", "ordered_at", "total_amount", "currency", "status"),
    *("items_count", "offer_code"),
)


def fold_customers(frame: pl.DataFrame, report: ImportReport) -> pl.DataFrame:
    """Rows that share a customer id, email or phone become one (later values win); a row
    whose email or phone is another customer id's is rejected."""
    shared = pl.any_horizontal(
        pl.col(k).is_not_null() & pl.col(k).is_duplicated() for k in CUSTOMER_KEYS
    )
    involved = frame.select(shared).to_series()
    if not involved.any():
        return frame  # (nearly always)
    merged: list[dict[str, Any]] = []
    index: dict[tuple[str, Any], int] = {}
    for row in frame.filter(involved).to_dicts():
        key = next((k for k in CUSTOMER_KEYS if row[k] is not None and (k, row[k]) in index), None)
        if key is None:
            position = len(merged)
            merged.append(row)
        else:
            position = index[(key, row[key])]
            earlier = merged[position]
            if row["external_id"] is not None and earlier["external_id"] not in (
                None,
                row["external_id"],
            ):
                report.reject(
                    row["line"],
                    f"its email or phone belongs to customer {earlier['external_id']} "
                    f"(line {earlier['line']}), not {row['external_id']}",
                )
                continue
            earlier.update({k: v for k, v in row.items() if v is not None and k != "line"})
            report.merge(row["line"], f"line {earlier['line']} (same {CUSTOMER_KEYS[key]})")
        for k in CUSTOMER_KEYS:
            if merged[position][k] is not None:
                index[(k, merged[position][k])] = position
    folded = pl.DataFrame(merged, schema=frame.schema, orient="row")
    return pl.concat([frame.filter(~involved), folded]).sort("line")


def fold_orders(frame: pl.DataFrame, report: ImportReport) -> pl.DataFrame:
    """Rows with the same order id become one (later values win)."""
    involved = frame["external_id"].is_duplicated()
    if not involved.any():
        return frame
    merged: dict[str, dict[str, Any]] = {}
    for row in frame.filter(involved).to_dicts():
        earlier = merged.setdefault(row["external_id"], row)
        if earlier is not row:
            report.merge(
                row["line"], f"line {earlier['line']} (same order id {row['external_id']})"
            )
            earlier.update({k: v for k, v in row.items() if v is not None and k != "line"})
    folded = pl.DataFrame(list(merged.values()), schema=frame.schema, orient="row")
    return pl.concat([frame.filter(~involved), folded]).sort("line")


def _staging(name: str, target: Table, fields: tuple[str, ...], *extra: Column[Any]) -> Table:
    """A temporary table for a batch: ``line``, the fields (as ``target`` types them; text
    as TEXT, whose length the target checks) and ``extra`` columns."""
    columns = [
        Column(f, Text if isinstance(target.c[f].type, String) else target.c[f].type)
        for f in fields
    ]
    return Table(
        name, MetaData(), Column("line", Integer), *columns, *extra, prefixes=["TEMPORARY"]
    )


def _stage(conn: Connection, table: Table, frame: pl.DataFrame) -> None:
    """Create ``table`` and write ``frame`` into it: on PostgreSQL by COPY from the CSV
    polars writes, on SQLite by ``executemany`` (timestamps as the text SQLAlchemy
    stores for them there)."""
    table.create(conn)
    names = ", ".join(frame.columns)
    stamps = pl.selectors.datetime()
    if conn.dialect.name == "postgresql":
        text = frame.with_columns(stamps.dt.strftime("%Y-%m-%d %H:%M:%S%.6f+00"))
        cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
        with cursor.copy(f"COPY {table.name} ({names}) FROM STDIN (FORMAT csv)") as copy:
            copy.write(text.write_csv(include_header=False, float_precision=2))
        return
    conn.exec_driver_sql("PRAGMA temp.cache_size = -262144")  # (staging in memory)
    insert = table.insert().compile(dialect=conn.dialect, column_keys=frame.columns)
    texts = frame.with_columns(
        stamps.dt.strftime("%Y-%m-%d %H:%M:%S%.6f"), pl.selectors.date().dt.strftime("%Y-%m-%d")
    )
    conn.exec_driver_sql(str(insert), texts.select(insert.positiontup).rows())


def _differs(staged: Table, stored: Table, fields: tuple[str, ...]) -> ColumnElement[bool]:
    """A field the row gives differs from the stored one (JSON compared as text)."""

    def text(column: Any) -> Any:
        return sql_cast(column, Text) if column.name == "tags" else column

    return or_(
        *(
            and_(staged.c[f].is_not(None), text(staged.c[f]).is_distinct_from(text(stored.c[f])))
            for f in fields
        )
    )


def _count(conn: Connection, staged: Table, matched: Column[Any], report: ImportReport) -> None:
    total, found, changed = conn.execute(
        select(func.count(), func.count(matched), func.count(staged.c.changed))
    ).one()
    report.created += total - found
    report.updated += changed
    report.unchanged += found - changed


def merge_customers(
    conn: Connection, frame: pl.DataFrame, report: ImportReport, now: dt.datetime
) -> None:
    """Match by customer id, then email, then phone; a match with another customer id is
    rejected, one by email or phone is a merge; new customers are inserted, changed ones
    updated (the fields the row gives)."""
    c = CUSTOMERS
    s = _staging(
        "import_customers",
        c,
        CUSTOMER_FIELDS,
        Column("target_id", Integer),
        Column("match", Text),
        Column("changed", Boolean),
    )
    _stage(conn, s, frame)
    for key in CUSTOMER_KEYS:
        conn.execute(
            update(s)
            .where(s.c.target_id.is_(None), s.c[key].is_not(None), c.c[key] == s.c[key])
            .values(target_id=c.c.id, match=key)
        )
    other = and_(c.c.id == s.c.target_id, c.c.external_id != s.c.external_id)
    for line, stored, given in conn.execute(
        select(s.c.line, c.c.external_id, s.c.external_id).where(other).order_by(s.c.line)
    ):
        report.reject(line, f"its email or phone belongs to customer {stored}, not {given}")
    conn.execute(delete(s).where(exists().where(other)))
    for line, key, stored, number in conn.execute(
        select(s.c.line, s.c.match, c.c.external_id, c.c.id)
        .where(c.c.id == s.c.target_id, s.c.match != "external_id")
        .order_by(s.c.line)
    ):
        report.merge(line, f"stored customer {stored or f'#{number}'} (same {CUSTOMER_KEYS[key]})")
    conn.execute(
        update(s)
        .where(c.c.id == s.c.target_id, _differs(s, c, CUSTOMER_FIELDS))
        .values(changed=True)
    )
    _count(conn, s, s.c.target_id, report)
    stamp = literal(now, UTCDateTime())
    defaults = {
        "timezone": "UTC",
        "locale": "en",
        "marketing_consent": false(),
        "tags": literal_column("'[]'"),
        "created_at": stamp,
    }
    new = (
        select(
            *(
                func.coalesce(s.c[f], defaults[f]) if f in defaults else s.c[f]
                for f in CUSTOMER_FIELDS
            ),
            literal_column("'{}'"),
            stamp,
        )
        .where(s.c.target_id.is_(None))
        .order_by(s.c.line)
    )
    conn.execute(c.insert().from_select([*CUSTOMER_FIELDS, "attributes", "updated_at"], new))
    conn.execute(
        update(c)
        .where(c.c.id == s.c.target_id, s.c.changed.is_(True))
        .values({f: func.coalesce(s.c[f], c.c[f]) for f in CUSTOMER_FIELDS} | {"updated_at": stamp})
    )
    s.drop(conn)


def merge_orders(
    conn: Connection, frame: pl.DataFrame, report: ImportReport, now: dt.datetime
) -> None:
    """Find each order's customer (rejected if unknown), count new, changed and unchanged
    orders, and write them: INSERT ... ON CONFLICT (order id) DO UPDATE."""
    c, o = CUSTOMERS, ORDERS
    s = _staging(
        "import_orders",
        o,
        ("external_id", *ORDER_FIELDS[1:]),
        Column("customer_external_id", Text),
        Column("customer_email", Text),
        Column("customer_id", Integer),
        Column("order_id", Integer),
        Column("changed", Boolean),
    )
    _stage(conn, s, frame)
    conn.execute(
        update(s)
        .where(s.c.customer_external_id.is_not(None), c.c.external_id == s.c.customer_external_id)
        .values(customer_id=c.c.id)
    )
    by_email = select(func.min(c.c.id)).where(c.c.email == s.c.customer_email).scalar_subquery()
    conn.execute(update(s).where(s.c.customer_email.is_not(None)).values(customer_id=by_email))
    unknown = s.c.customer_id.is_(None)
    for line, ref in conn.execute(
        select(s.c.line, func.coalesce(s.c.customer_external_id, s.c.customer_email)).where(unknown)
    ):
        report.reject(line, f"customer '{ref}' is unknown (import customers first)")
    conn.execute(delete(s).where(unknown))
    conn.execute(update(s).where(o.c.external_id == s.c.external_id).values(order_id=o.c.id))
    conn.execute(
        update(s).where(o.c.id == s.c.order_id, _differs(s, o, ORDER_FIELDS)).values(changed=True)
    )
    _count(conn, s, s.c.order_id, report)
    stamp = literal(now, UTCDateTime())
    defaults = {"status": "delivered", "currency": "EUR", "items_count": 1}
    rows = (
        select(
            s.c.external_id,
            *(
                func.coalesce(s.c[f], o.c[f], *([defaults[f]] if f in defaults else []))
                if f in (*defaults, "offer_code")
                else s.c[f]
                for f in ORDER_FIELDS
            ),
            stamp,
            stamp,
        )
        .select_from(s.outerjoin(o, o.c.id == s.c.order_id))
        .where(or_(s.c.order_id.is_(None), s.c.changed.is_(True)))
        .order_by(s.c.line)
    )
    upsert = (postgresql if conn.dialect.name == "postgresql" else sqlite).insert(o)
    upsert = upsert.from_select(["external_id", *ORDER_FIELDS, "created_at", "updated_at"], rows)
    conn.execute(
        upsert.on_conflict_do_update(
            index_elements=[o.c.external_id],
            set_={f: upsert.excluded[f] for f in (*ORDER_FIELDS, "updated_at")},
        )
    )
    s.drop(conn)

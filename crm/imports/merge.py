"""Writing a batch of valid rows: rows naming one customer (or order) twice become one; the
batch goes into a staging table, where SQL matches, counts and writes it."""

from __future__ import annotations

import datetime as dt
from typing import Any, cast

import polars as pl
import sqlalchemy as sa

from crm.db import UTCDateTime, dialect_insert, staged_rows
from crm.imports.columns import CUSTOMER_COLUMNS
from crm.imports.report import ImportReport
from crm.models import Customer, Order

CUSTOMERS, ORDERS = cast(sa.Table, Customer.__table__), cast(sa.Table, Order.__table__)
CUSTOMER_KEYS = {"external_id": "customer id", "email": "email", "phone": "phone"}
CUSTOMER_FIELDS = tuple(CUSTOMER_COLUMNS)
ORDER_FIELDS: tuple[str, ...] = ("customer_id", "ordered_at", "total_amount", "currency")
ORDER_FIELDS += ("status", "items_count", "offer_code")
_STAGED = dict.fromkeys(("line", "target_id", "order_id"), sa.Integer()) | {"changed": sa.Boolean()}


def fold(frame: pl.DataFrame, keys: dict[str, str], report: ImportReport) -> pl.DataFrame:
    """Rows that share one of ``keys`` (field: words for it, ``{}`` the value) become one,
    later values winning; a row that would join two external ids is rejected."""
    shared = [pl.col(k).is_not_null() & pl.col(k).is_duplicated() for k in keys]
    involved = frame.select(pl.any_horizontal(shared)).to_series()
    if not involved.any():
        return frame  # (nearly always)
    merged: list[dict[str, Any]] = []
    index: dict[tuple[str, Any], int] = {}
    for row in frame.filter(involved).to_dicts():
        key = next((k for k in keys if row[k] is not None and (k, row[k]) in index), None)
        if key is None:
            position = len(merged)
            merged.append(row)
        else:
            position = index[(key, row[key])]
            earlier, given = merged[position], row["external_id"]
            if given is not None and earlier["external_id"] not in (None, given):
                other = f"{earlier['external_id']} (line {earlier['line']}), not {given}"
                report.reject(row["line"], f"its email or phone belongs to customer {other}")
                continue
            earlier.update({k: v for k, v in row.items() if v is not None and k != "line"})
            report.merge(row["line"], f"line {earlier['line']} (same {keys[key].format(given)})")
        index |= {(k, merged[position][k]): position for k in keys if merged[position][k]}
    folded = pl.DataFrame(merged, schema=frame.schema, orient="row")
    return pl.concat([frame.filter(~involved), folded]).sort("line")


def _stage(conn: sa.Connection, name: str, target: sa.Table, frame: pl.DataFrame) -> Any:
    """``staged_rows`` of ``frame`` and a ``changed`` flag, typed as ``target``'s columns
    (text as TEXT; ``line`` the key, so SQLite reads it in order without sorting), stamps
    as the text PostgreSQL reads and SQLAlchemy's DateTime stores on SQLite."""
    frame, columns = frame.with_columns(changed=pl.lit(None, pl.Boolean)), []
    for n in frame.columns:
        given = _STAGED.get(n, target.c[n].type if n in target.c else sa.Text())
        given = sa.Text() if isinstance(given, sa.String) else given
        columns.append(sa.Column(n, given, primary_key=n == "line"))
    stamp = "%Y-%m-%d %H:%M:%S%.6f" + ("+00" if conn.dialect.name == "postgresql" else "")
    if conn.dialect.name == "sqlite":
        conn.exec_driver_sql("PRAGMA temp.cache_size = -262144")  # (staging in memory)
    days, stamps = pl.selectors.date().dt.strftime("%Y-%m-%d"), pl.selectors.datetime()
    return staged_rows(
        conn, name, columns, frame.with_columns(stamps.dt.strftime(stamp), days).rows()
    )


def _changed(
    conn: sa.Connection, s: sa.Table, stored: sa.Table, match: Any, report: ImportReport
) -> None:
    """Flag the staged rows with a field that differs from the stored row's (JSON
    compared as text), and count the batch's new, updated and unchanged rows."""
    fields = [c.name for c in s.c if c.name in stored.c and c.name not in ("id", "external_id")]

    def text(column: Any) -> Any:
        return sa.cast(column, sa.Text) if column.name == "tags" else column

    differs = [
        s.c[f].is_not(None) & text(s.c[f]).is_distinct_from(text(stored.c[f])) for f in fields
    ]
    # (a customer matched by email may gain an id)
    differs.append(s.c.external_id.is_not(None) & stored.c.external_id.is_(None))
    conn.execute(sa.update(s).where(stored.c.id == match, sa.or_(*differs)).values(changed=True))
    total, found, changed = conn.execute(
        sa.select(sa.func.count(), sa.func.count(match), sa.func.count(s.c.changed))
    ).one()
    report.created, report.updated = report.created + total - found, report.updated + changed
    report.unchanged += found - changed


def merge_customers(
    conn: sa.Connection, frame: pl.DataFrame, report: ImportReport, now: dt.datetime
) -> None:
    """Match by customer id, then email, then phone; a match with another customer id is
    rejected, one by email or phone is a merge. New customers are inserted, changed ones
    updated with the fields the row gives."""
    c, stamp = CUSTOMERS, sa.literal(now, UTCDateTime())
    frame = frame.with_columns(target_id=None, match=pl.lit(None, pl.String))
    with _stage(conn, "import_customers", c, frame) as s:
        for key in CUSTOMER_KEYS:
            found = (s.c.target_id.is_(None), s.c[key].is_not(None), c.c[key] == s.c[key])
            conn.execute(sa.update(s).where(*found).values(target_id=c.c.id, match=key))
        other = sa.and_(c.c.id == s.c.target_id, c.c.external_id != s.c.external_id)
        taken = sa.select(s.c.line, c.c.external_id, s.c.external_id).where(other)
        for line, stored, given in conn.execute(taken):
            report.reject(line, f"its email or phone belongs to customer {stored}, not {given}")
        conn.execute(sa.delete(s).where(sa.exists().where(other)))
        joined = sa.select(s.c.line, s.c.match, c.c.external_id, c.c.id)
        for line, key, stored, number in conn.execute(
            joined.where(c.c.id == s.c.target_id, s.c.match != "external_id").order_by(s.c.line)
        ):
            report.merge(
                line, f"stored customer {stored or f'#{number}'} (same {CUSTOMER_KEYS[key]})"
            )
        _changed(conn, s, c, s.c.target_id, report)
        defaults = {"timezone": "UTC", "locale": "en", "marketing_consent": sa.false()}
        defaults |= {"tags": sa.literal_column("'[]'"), "created_at": stamp}
        values = [
            sa.func.coalesce(s.c[f], defaults[f]) if f in defaults else s.c[f]
            for f in CUSTOMER_FIELDS
        ]
        new = sa.select(*values, sa.literal_column("'{}'"), stamp).where(s.c.target_id.is_(None))
        names = [*CUSTOMER_FIELDS, "attributes", "updated_at"]
        conn.execute(c.insert().from_select(names, new.order_by(s.c.line)))
        changes = {f: sa.func.coalesce(s.c[f], c.c[f]) for f in CUSTOMER_FIELDS} | {
            "updated_at": stamp
        }
        conn.execute(sa.update(c).where(c.c.id == s.c.target_id, s.c.changed).values(changes))


def merge_orders(
    conn: sa.Connection, frame: pl.DataFrame, report: ImportReport, now: dt.datetime
) -> None:
    """Find each order's customer (rejected if unknown), count new, changed and unchanged
    orders, and write them: INSERT ... ON CONFLICT (order id) DO UPDATE."""
    c, o, stamp = CUSTOMERS, ORDERS, sa.literal(now, UTCDateTime())
    frame = frame.with_columns(customer_id=None, order_id=None)
    with _stage(conn, "import_orders", o, frame) as s:
        by_id = (s.c.customer_external_id.is_not(None), c.c.external_id == s.c.customer_external_id)
        conn.execute(sa.update(s).where(*by_id).values(customer_id=c.c.id))
        by_email = sa.select(sa.func.min(c.c.id)).where(c.c.email == s.c.customer_email)
        email = sa.update(s).where(s.c.customer_email.is_not(None))
        conn.execute(email.values(customer_id=by_email.scalar_subquery()))
        unknown = s.c.customer_id.is_(None)
        ref = sa.func.coalesce(s.c.customer_external_id, s.c.customer_email)
        for line, name in conn.execute(sa.select(s.c.line, ref).where(unknown)):
            report.reject(line, f"customer '{name}' is unknown (import customers first)")
        conn.execute(sa.delete(s).where(unknown))
        conn.execute(sa.update(s).where(o.c.external_id == s.c.external_id).values(order_id=o.c.id))
        _changed(conn, s, o, s.c.order_id, report)
        # Not given: as stored, else the default.
        keep = {"status": "delivered", "currency": "EUR", "items_count": 1, "offer_code": None}
        values = [
            sa.func.coalesce(s.c[f], o.c[f], keep[f]) if f in keep else s.c[f] for f in ORDER_FIELDS
        ]
        joined = s.outerjoin(o, o.c.id == s.c.order_id)
        rows = sa.select(s.c.external_id, *values, stamp, stamp).select_from(joined)
        rows = rows.where(sa.or_(s.c.order_id.is_(None), s.c.changed)).order_by(s.c.line)
        names = ["external_id", *ORDER_FIELDS, "created_at", "updated_at"]
        upsert = dialect_insert(conn.dialect.name, o).from_select(names, rows)
        updates = {f: upsert.excluded[f] for f in (*ORDER_FIELDS, "updated_at")}
        conn.execute(upsert.on_conflict_do_update(index_elements=[o.c.external_id], set_=updates))

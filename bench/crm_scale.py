"""CRM analytics at scale: import and score a synthetic shop, against per-row ORM baselines.

1. ``bench.shop_generator`` writes the shop (default 1,000,000 customers, ~10,000,000
   orders; reused when the files exist).
2. ``careloop import`` (the library call, ``import_file``) loads both files into a fresh
   SQLite database: rows per second each. Baselines in the same run: the obvious
   well-kept-library import (polars reads the files, the rows go in unchecked with
   ``executemany``; COPY on PostgreSQL) into another empty database, and one ORM
   ``session.add`` + flush per row for the first 10,000 customers. ``--postgres URL``
   measures the import and the library baseline on PostgreSQL too; ``--phones`` the cost
   of the phone column (200,000 customers with and without it) against parsing each
   phone with ``phonenumbers``.
3. ``careloop score`` (RFM, CLV, churn) as of the data's end: seconds and peak memory;
   then the same scoring again (the nightly case, where few scores change).
   Baseline in the same run: a straightforward per-customer ORM loop (load the customer's
   orders, compute recency / frequency / monetary in Python) on a 10,000-customer sample,
   extrapolated to all customers.
4. The churn model's AUC on the shop's *future*: trained with the cut-off 180 days before
   the end (labels from the 90 days after it), it scores the customers 90 days before the
   end and is compared with who really bought in the last 90 days.

    .venv/bin/python -m bench.crm_scale [--customers 1000000] [--orders 10000000]
        [--dir var/bench-shop] [--keep] [--postgres URL] [--import-only] [--phones]

``--keep`` keeps the imported database (``shop.db`` next to the CSV files) and, when it is
there already, skips the import and measures the scoring only.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import json
import resource
import tempfile
import time
from pathlib import Path
from typing import Any

import phonenumbers
import polars as pl
from sklearn.metrics import roc_auc_score
from sqlalchemy import Connection, select

from bench.shop_generator import END, generate
from careloop.config import Settings
from crm.db import create_db_engine, create_session_factory, session_scope
from crm.imports.service import import_file
from crm.models import Customer, Order
from crm.scoring.churn import build_features, churn_labels, train
from crm.scoring.history import OrderHistory
from crm.scoring.service import score_customers
from migrations.runner import upgrade


def peak_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def orm_import_baseline(factory: object, path: Path, rows: int) -> float:
    """Rows per second of one ORM object per row, flushed one by one."""
    started = time.perf_counter()
    with path.open() as handle, session_scope(factory) as session:  # type: ignore[arg-type]
        for n, row in enumerate(csv.DictReader(handle)):
            if n >= rows:
                break
            session.add(
                Customer(
                    external_id=f"B{n}",
                    email=f"b{row['email']}",
                    first_name=row["first_name"],
                    last_name=row["last_name"],
                    created_at=dt.datetime.fromisoformat(row["signup_date"]).replace(tzinfo=dt.UTC),
                )
            )
            session.flush()
        session.rollback()
    return rows / (time.perf_counter() - started)


def library_import_baseline(url: str, folder: Path) -> dict[str, float]:
    """Rows per second of the obvious well-kept-library import: polars reads each file,
    orders get their customer's id from a dict, and the rows go in as they are (no
    validation, no phone parsing, no merging): ``executemany`` on SQLite, COPY
    (``write_row``) on PostgreSQL. Into an empty database at ``url``."""
    upgrade(url)
    engine = create_db_engine(url)
    rates = {}
    with engine.begin() as conn:
        started = time.perf_counter()
        people = pl.read_csv(folder / "customers.csv", infer_schema=False).select(
            pl.col("customer_id").alias("external_id"),
            "email",
            "phone",
            "first_name",
            "last_name",
            pl.col("signup_date").str.to_datetime(time_zone="UTC").alias("created_at"),
            (pl.col("newsletter") == "yes").alias("marketing_consent"),
        )
        people = (
            people.unique("external_id")
            .unique("email")
            .with_columns(
                tags=pl.lit("[]"), attributes=pl.lit("{}"), updated_at=pl.col("created_at")
            )
        )
        _bulk(conn, "customers", people)
        rates["customers"] = len(people) / (time.perf_counter() - started)
        started = time.perf_counter()
        ids = dict(conn.execute(select(Customer.external_id, Customer.id)).all())
        orders = pl.read_csv(folder / "orders.csv", infer_schema=False)
        orders = orders.select(
            pl.col("order_id").alias("external_id"),
            pl.col("customer_id").replace_strict(ids, default=None).alias("customer_id"),
            pl.col("order_date").str.to_datetime(time_zone="UTC").alias("ordered_at"),
            pl.col("amount").cast(pl.Float64, strict=False).alias("total_amount"),
            "currency",
            "status",
            pl.col("items").cast(pl.Int64).alias("items_count"),
            pl.col("coupon").alias("offer_code"),
        ).drop_nulls(["customer_id", "total_amount"])
        stamp = dt.datetime.now(dt.UTC)
        orders = orders.with_columns(created_at=pl.lit(stamp), updated_at=pl.lit(stamp))
        _bulk(conn, "orders", orders)
        rates["orders"] = len(orders) / (time.perf_counter() - started)
    engine.dispose()
    return rates


def _bulk(conn: Connection, table: str, frame: pl.DataFrame) -> None:
    columns = ", ".join(frame.columns)
    if conn.dialect.name == "postgresql":
        cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
        with cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
            for row in frame.iter_rows():
                copy.write_row(row)
        return
    texts = frame.with_columns(pl.selectors.datetime().dt.strftime("%Y-%m-%d %H:%M:%S%.6f"))
    marks = ", ".join("?" * len(frame.columns))
    sql = f"INSERT INTO {table} ({columns}) VALUES ({marks})"  # noqa: S608 (our names)
    conn.exec_driver_sql(sql, texts.rows())


def orm_score_baseline(factory: object, sample: int, now: dt.datetime) -> float:
    """Seconds per customer of a per-customer ORM loop computing R, F and M."""
    started = time.perf_counter()
    since = now - dt.timedelta(days=365)
    with session_scope(factory) as session:  # type: ignore[arg-type]
        for customer in session.scalars(select(Customer).limit(sample)):
            orders = session.scalars(select(Order).where(Order.customer_id == customer.id)).all()
            if orders:
                last = max(o.ordered_at for o in orders)
                _recency = (now - last).days
                _frequency = sum(1 for o in orders if o.ordered_at >= since)
                _monetary = sum(o.total_amount for o in orders if o.ordered_at >= since)
            session.expunge_all()
    return (time.perf_counter() - started) / sample


def measure_import(factory: Any, folder: Path, baseline_url: str, out: dict[str, Any]) -> None:
    """careloop's import of both files into the database of ``factory``, then the same-run
    baselines: the library way into the empty database at ``baseline_url``, and the ORM
    loop on the first 10,000 customers."""
    rates: dict[str, float] = {}
    for kind in ("customers", "orders"):
        started = time.perf_counter()
        report = import_file(factory, kind, folder / f"{kind}.csv")
        seconds = time.perf_counter() - started
        out[f"import_{kind}"] = {
            "rows": report.rows,
            "created": report.created,
            "merged": report.merged,
            "rejected": report.rejected_count,
            "seconds": round(seconds, 1),
            "rows_per_second": round(report.rows / seconds),
        }
        rates[kind] = report.rows / seconds
    out["peak_memory_mb_after_import"] = peak_mb()
    library = library_import_baseline(baseline_url, folder)
    out["import_baseline_library_rows_per_second"] = {k: round(v) for k, v in library.items()}
    out["import_ratio_to_library_baseline"] = {k: round(rates[k] / library[k], 2) for k in rates}
    orm = orm_import_baseline(factory, folder / "customers.csv", 10_000)
    out["import_baseline_orm_rows_per_second"] = round(orm)
    out["import_ratio_to_orm_baseline"] = {k: round(rate / orm, 1) for k, rate in rates.items()}


def measure_phones(folder: Path, tmp: Path, out: dict[str, Any], rows: int = 200_000) -> None:
    """The phone column's cost: the first ``rows`` customers imported into fresh SQLite
    databases with and without it, and, as the same-run baseline, every phone of them
    through ``phonenumbers.parse``, ``is_valid_number`` and ``format_number`` one by one
    (how each phone was read before)."""
    sample = pl.read_csv(folder / "customers.csv", infer_schema=False, n_rows=rows)
    seconds = {}
    for name, frame in (("with_phones", sample), ("without_phones", sample.drop("phone"))):
        path = tmp / f"{name}.csv"
        frame.write_csv(path)
        url = f"sqlite:///{tmp / name}.db"
        upgrade(url)
        engine = create_db_engine(url)
        started = time.perf_counter()
        import_file(create_session_factory(engine), "customers", path)
        seconds[name] = time.perf_counter() - started
        engine.dispose()
    phones = sample["phone"].drop_nulls().to_list()
    started = time.perf_counter()
    for text in phones:
        try:
            number = phonenumbers.parse(text, "DE")
        except phonenumbers.NumberParseException:
            continue
        if phonenumbers.is_valid_number(number):
            phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    parse_each = time.perf_counter() - started
    phone_cost = seconds["with_phones"] - seconds["without_phones"]
    out["phones"] = {
        "customers": rows,
        "phones": len(phones),
        "import_seconds": {k: round(v, 1) for k, v in seconds.items()},
        "phone_column_seconds": round(phone_cost, 1),
        "baseline_parse_each_seconds": round(parse_each, 1),
        "ratio_baseline_to_phone_column": round(parse_each / max(phone_cost, 0.01), 1),
    }


def measure_postgres_import(url: str, folder: Path, out: dict[str, Any]) -> None:
    """The import part on PostgreSQL at ``url`` (an empty database, migrated here): the
    library baseline first, then, the tables emptied, careloop's import."""
    library = library_import_baseline(url, folder)
    engine = create_db_engine(url)
    with engine.begin() as conn:
        conn.exec_driver_sql("TRUNCATE customers, orders CASCADE")
    factory = create_session_factory(engine)
    rates = {}
    for kind in ("customers", "orders"):
        started = time.perf_counter()
        report = import_file(factory, kind, folder / f"{kind}.csv")
        rates[kind] = report.rows / (time.perf_counter() - started)
    engine.dispose()
    out["postgres_import_rows_per_second"] = {k: round(v) for k, v in rates.items()}
    out["postgres_baseline_library_rows_per_second"] = {k: round(v) for k, v in library.items()}
    out["postgres_ratio_to_library_baseline"] = {k: round(rates[k] / library[k], 2) for k in rates}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--orders", type=int, default=10_000_000)
    parser.add_argument("--dir", type=Path, default=Path("var/bench-shop"))
    parser.add_argument("--keep", action="store_true", help="keep / reuse the imported db")
    parser.add_argument("--postgres", help="also import into this empty PostgreSQL database")
    parser.add_argument("--import-only", action="store_true", help="skip the scoring")
    parser.add_argument("--phones", action="store_true", help="measure the phone column's cost")
    args = parser.parse_args()
    folder = args.dir / f"{args.customers}-{args.orders}"
    out: dict[str, object] = {}
    if not (folder / "orders.csv").exists():
        out["generated"] = generate(args.customers, args.orders, folder)
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        path = folder / "shop.db" if args.keep else Path(tmp) / "shop.db"
        url = f"sqlite:///{path}"
        imported = path.exists()
        upgrade(url)
        engine = create_db_engine(url)
        factory = create_session_factory(engine)
        if not imported:
            measure_import(factory, folder, f"sqlite:///{Path(tmp) / 'baseline.db'}", out)
        if args.phones:
            measure_phones(folder, Path(tmp), out)
        if args.postgres:
            measure_postgres_import(args.postgres, folder, out)
        if args.import_only:
            engine.dispose()
            print(json.dumps(out, indent=2))
            return

        now = END
        started = time.perf_counter()
        with session_scope(factory) as session:
            rfm, clv, churn = score_customers(session, Settings(), now=now)
        scoring = time.perf_counter() - started
        # The nightly case: the same scoring again, with few segments and levels changing.
        started = time.perf_counter()
        with session_scope(factory) as session:
            score_customers(session, Settings(), now=now)
        again = time.perf_counter() - started
        per_customer = orm_score_baseline(factory, 10_000, now)
        out["score"] = {
            "customers": rfm.customers,
            "seconds": round(scoring, 1),
            "rfm_seconds": round(rfm.seconds, 1),
            "clv_seconds": round(clv.seconds, 1),
            "clv_method": clv.method,
            "churn_seconds": round(churn.seconds, 1),
            "churn_out_of_fold_auc": churn.auc_out_of_fold,
            "peak_memory_mb": peak_mb(),
        }
        out["score_again_seconds"] = round(again, 1)
        out["score_baseline_orm_rfm_seconds_extrapolated"] = round(per_customer * rfm.customers, 1)
        out["score_ratio_baseline_to_careloop"] = round(per_customer * rfm.customers / scoring, 1)

        with session_scope(factory) as session:
            past = now - dt.timedelta(days=90)
            history = OrderHistory.load(session, until=now)
            model = train(session, horizon_days=90, now=past, history=history)
            features = build_features(session, past, history)
            future = churn_labels(session, features.customer_ids, past, 90, history)
            probability = model.probability(features.X)
            out["churn_future"] = {
                "trained_on": model.trained_on,
                "scored": len(future),
                "churned_share": round(float(future.mean()), 3),
                "auc_on_the_future": round(float(roc_auc_score(future, probability)), 4),
            }
        engine.dispose()
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()

"""CRM analytics at scale: import and score a synthetic shop, against per-row ORM baselines.

1. ``bench.shop_generator`` writes the shop (default 1,000,000 customers, ~10,000,000
   orders; reused when the files exist).
2. ``careloop import`` (the library call, ``import_file``: the orders file in two
   processes) loads both files into a fresh SQLite database: rows per second each.
   Baseline in the same run: one ORM ``session.add`` + flush per row for the first
   10,000 customers.
3. ``careloop score`` (RFM, CLV, churn) as of the data's end: seconds and peak memory;
   then the same scoring again (the nightly case, where few scores change).
   Baseline in the same run: a straightforward per-customer ORM loop (load the customer's
   orders, compute recency / frequency / monetary in Python) on a 10,000-customer sample,
   extrapolated to all customers.
4. The churn model's AUC on the shop's *future*: trained with the cut-off 180 days before
   the end (labels from the 90 days after it), it scores the customers 90 days before the
   end and is compared with who really bought in the last 90 days.

    .venv/bin/python -m bench.crm_scale [--customers 1000000] [--orders 10000000]
        [--dir var/bench-shop] [--keep]

``--keep`` keeps the imported database (``shop.db`` next to the CSV files) and, when it is
there already, skips the import and measures the scoring only.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import resource
import tempfile
import time
from pathlib import Path

from sklearn.metrics import roc_auc_score
from sqlalchemy import select

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
        next(handle)
        for n, line in enumerate(handle):
            if n >= rows:
                break
            cid, email, first, last, signup, _ = line.rstrip("\n").split(",")
            session.add(
                Customer(
                    external_id=f"B{cid}",
                    email=f"b{email}",
                    first_name=first,
                    last_name=last,
                    created_at=dt.datetime.fromisoformat(signup).replace(tzinfo=dt.UTC),
                )
            )
            session.flush()
        session.rollback()
    return rows / (time.perf_counter() - started)


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


def measure_import(factory: object, folder: Path, out: dict[str, object]) -> None:
    rates: dict[str, float] = {}
    for kind in ("customers", "orders"):
        started = time.perf_counter()
        report = import_file(factory, kind, folder / f"{kind}.csv")  # type: ignore[arg-type]
        seconds = time.perf_counter() - started
        out[f"import_{kind}"] = {
            "rows": report.rows,
            "accepted": report.accepted,
            "rejected": report.rejected_count,
            "seconds": round(seconds, 1),
            "rows_per_second": round(report.rows / seconds),
        }
        rates[kind] = report.rows / seconds
    baseline_rate = orm_import_baseline(factory, folder / "customers.csv", 10_000)
    out["import_baseline_orm_rows_per_second"] = round(baseline_rate)
    out["import_ratio_to_baseline"] = {
        kind: round(rate / baseline_rate, 1) for kind, rate in rates.items()
    }
    out["peak_memory_mb_after_import"] = peak_mb()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--orders", type=int, default=10_000_000)
    parser.add_argument("--dir", type=Path, default=Path("var/bench-shop"))
    parser.add_argument("--keep", action="store_true", help="keep / reuse the imported db")
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
            measure_import(factory, folder, out)

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

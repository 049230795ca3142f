"""A synthetic shop as CSV files: customers.csv and orders.csv, ready for `careloop import`.

Realistic enough to test the analytics: every customer has their own buying rate (gamma)
and spend level (log-normal), buys with yearly seasonality (December high, summer low),
and after each purchase may leave for good (a beta-distributed dropout probability, raised
for customers with bad service experiences). Deterministic for a seed.

    .venv/bin/python -m bench.shop_generator --customers 1000000 --orders 10000000 --out DIR
"""

from __future__ import annotations

import argparse
import datetime as dt
import time
from pathlib import Path

import numpy as np

START = dt.datetime(2023, 1, 1, tzinfo=dt.UTC)
END = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
SEASON = np.array([1.0, 0.85, 0.95, 1.0, 1.0, 0.8, 0.75, 0.8, 1.0, 1.1, 1.3, 1.6])
FIRST = ["Anna", "Ben", "Clara", "David", "Emma", "Felix", "Greta", "Hugo", "Ida", "Jonas"]
LAST = ["Becker", "Schmidt", "Novak", "Rossi", "Garcia", "Dubois", "Jensen", "Silva"]


def generate(customers: int, orders: int, out: Path, seed: int = 7) -> dict[str, float]:
    """Write the two files; returns counts and seconds."""
    started = time.perf_counter()
    rng = np.random.default_rng(seed)
    span = (END - START).days
    signup = rng.integers(0, span - 30, customers)
    # Buying rate per day, scaled so that the expected total is about ``orders``.
    rate = rng.gamma(0.8, 1.0, customers)
    dropout = rng.beta(1.0, 12.0, customers)
    spend = rng.lognormal(3.6, 0.5, customers)
    out.mkdir(parents=True, exist_ok=True)
    with (out / "customers.csv").open("w") as handle:
        handle.write("customer_id,email,first_name,last_name,signup_date,newsletter\n")
        for lo in range(0, customers, 100_000):
            hi = min(customers, lo + 100_000)
            handle.write(
                "".join(
                    f"C{i},c{i}@shop.example,{FIRST[i % 10]},{LAST[i % 8]},"
                    f"{(START + dt.timedelta(days=int(signup[i]))).date()},"
                    f"{'yes' if i % 3 else 'no'}\n"
                    for i in range(lo, hi)
                )
            )
    # Purchase days: exponential gaps at the customer's rate (thinned by the season), until
    # they drop out or time ends. The rate's scale is found by simulating a sample.
    days_alive = np.maximum(span - signup, 1)

    def count(i: int, k: float, r: np.random.Generator) -> int:
        n, day, lam = 0, float(signup[i]), rate[i] * k
        while day < span:
            if r.random() < SEASON[int(day / 30.44) % 12] / 1.6:
                n += 1
                if r.random() < dropout[i]:
                    break
            day += float(r.exponential(1.0 / max(lam, 1e-9)))
        return n

    sample = rng.choice(customers, size=min(customers, 2000), replace=False)
    lo_k, hi_k = 1e-5, 10.0
    for _ in range(25):
        k = float(np.sqrt(lo_k * hi_k))
        probe = np.random.default_rng(seed + 1)
        mean = np.mean([count(int(i), k, probe) for i in sample])
        lo_k, hi_k = (k, hi_k) if mean < orders / customers else (lo_k, k)
    lam = rate * float(np.sqrt(lo_k * hi_k))
    del days_alive
    written = 0
    order_id = 0
    with (out / "orders.csv").open("w") as handle:
        handle.write("order_id,customer_id,order_date,amount,status\n")
        for lo in range(0, customers, 50_000):
            hi = min(customers, lo + 50_000)
            lines = []
            for i in range(lo, hi):
                day = float(signup[i])
                while day < span:
                    when = START + dt.timedelta(days=day, hours=float(rng.random() * 24))
                    if rng.random() < SEASON[when.month - 1] / 1.6:
                        amount = max(1.0, rng.normal(spend[i], spend[i] * 0.25))
                        lines.append(
                            f"O{order_id},C{i},{when.isoformat(timespec='seconds')},"
                            f"{amount:.2f},delivered\n"
                        )
                        order_id += 1
                        if rng.random() < dropout[i]:
                            break
                    day += float(rng.exponential(1.0 / max(lam[i], 1e-6)))
            handle.write("".join(lines))
            written += len(lines)
    return {
        "customers": customers,
        "orders": written,
        "seconds": round(time.perf_counter() - started, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--orders", type=int, default=10_000_000)
    parser.add_argument("--out", type=Path, default=Path("var/bench-shop"))
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    print(generate(args.customers, args.orders, args.out, args.seed))


if __name__ == "__main__":
    main()

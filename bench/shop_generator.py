"""A synthetic shop as CSV files: customers.csv and orders.csv, ready for `careloop import`.

Realistic enough to test the import and the analytics: phones in several forms (some
invalid), birthdays in two date forms, consent, tags, a few bad rows and repeated customers.
Every customer has their own buying rate (gamma) and spend level (log-normal), buys with
yearly seasonality (December high, summer low), and after each purchase may leave for good
(a beta-distributed dropout probability, raised for customers with bad service
experiences). Deterministic for a seed.

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


TAGS = ["", "", "", "vip", "newsletter;vip", "wholesale|b2b", "returns", "vip; returns"]
STATUSES = ["delivered"] * 14 + ["shipped", "paid", "cancelled", "returned"]


def phone(i: int, rng: np.random.Generator) -> str:
    """Most customers give a phone, in the forms shop exports hold: international with
    spaces, national, E.164, with the 00 prefix; one in 200 is no valid number."""
    number = int(rng.integers(1_000_000, 9_999_999))
    form = i % 10
    if i % 200 == 17:
        return f"+49 30 {number % 1000}"  # too short
    if form < 3:
        return ""
    if form < 5:
        return f"+49 30 {number}"
    if form < 7:
        return f"030 {number // 1000} {number % 1000:03d}"
    if form < 9:
        return f"+49151{number}{i % 10}"
    return f"0049 89 {number}"


def order_line(n: int, customer: int, when: dt.datetime, amount: float) -> str:
    """One orders.csv row; about one in 2,000 is bad (no amount, an unknown customer)."""
    cid, value = f"C{customer}", f"{amount:.2f}"
    if n % 2000 == 3:
        value = "n/a"
    elif n % 2000 == 1003:
        cid = f"X{customer}"
    coupon = f"SPRING{n % 7}" if n % 20 == 0 else ""
    return (
        f"O{n},{cid},{when.isoformat(timespec='seconds')},{value},EUR,"
        f"{STATUSES[n % len(STATUSES)]},{1 + n % 3},{coupon}\n"
    )


def customer_line(i: int, signup: int, rng: np.random.Generator) -> str:
    """One customers.csv row; about one in a thousand is bad (an email without @, a date
    that does not exist) and one in a thousand repeats the customer before by email."""
    email = f"c{i}@shop.example"
    birthday = ""
    if i % 5 < 3:
        born = dt.date(1950, 1, 1) + dt.timedelta(days=int(rng.integers(0, 18_000)))
        birthday = born.strftime("%d.%m.%Y") if i % 10 == 1 else born.isoformat()
    if i % 1000 == 500:
        email = f"c{i}-at-shop.example"
    elif i % 1000 == 900:
        birthday = "31.02.1990"
    cid = f"C{i}"
    if i % 1000 == 700 and i:
        cid, email = "", f"C{i - 1}@Shop.Example"
    return (
        f"{cid},{email},{phone(i, rng)},{FIRST[i % 10]},{LAST[i % 8]},{birthday},"
        f"{(START + dt.timedelta(days=signup)).date()},{'yes' if i % 3 else 'no'},"
        f"{TAGS[i % len(TAGS)]}\n"
    )


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
        handle.write(
            "customer_id,email,phone,first_name,last_name,birthday,signup_date,newsletter,tags\n"
        )
        for lo in range(0, customers, 100_000):
            hi = min(customers, lo + 100_000)
            handle.write("".join(customer_line(i, int(signup[i]), rng) for i in range(lo, hi)))
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
        handle.write("order_id,customer_id,order_date,amount,currency,status,items,coupon\n")
        for lo in range(0, customers, 50_000):
            hi = min(customers, lo + 50_000)
            lines = []
            for i in range(lo, hi):
                day = float(signup[i])
                while day < span:
                    when = START + dt.timedelta(days=day, hours=float(rng.random() * 24))
                    if rng.random() < SEASON[when.month - 1] / 1.6:
                        amount = max(1.0, rng.normal(spend[i], spend[i] * 0.25))
                        lines.append(order_line(order_id, i, when, amount))
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

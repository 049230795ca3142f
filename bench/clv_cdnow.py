"""CLV validation on CDNOW: calibrate on 39 weeks, predict the next 39, compare with what
customers really bought.

CDNOW (23,570 customers who first bought in early 1997, 69,659 transactions to mid-1998)
is read from the copy the ``lifetimes`` package ships (a dev dependency; nothing is
downloaded). Calibration: 1997-01-01 to 1997-09-30; holdout: 1997-10-01 to 1998-06-30
(273 days). Purchases are counted as distinct purchase days, as the model counts them.

Baseline in the same run: the historical estimate careloop falls back to (each customer's
purchase rate so far times the holdout length).

    .venv/bin/python -m bench.clv_cdnow
"""

from __future__ import annotations

import datetime as dt
import importlib.util
import json
import time
from pathlib import Path

import numpy as np

from crm.scoring.clv import BetaGeo, GammaGamma, summarise

CALIBRATION_END = dt.datetime(1997, 10, 1, tzinfo=dt.UTC)
HOLDOUT_END = dt.datetime(1998, 7, 1, tzinfo=dt.UTC)


def cdnow_path() -> Path:
    spec = importlib.util.find_spec("lifetimes")
    if spec is None or spec.origin is None:
        raise SystemExit("the lifetimes package (dev dependency) is needed for the CDNOW data")
    return Path(spec.origin).parent / "datasets" / "CDNOW_master.txt"


def load() -> list[tuple[int, dt.datetime, float]]:
    rows = []
    for line in cdnow_path().read_text().splitlines()[1:]:
        customer, day, _cds, amount = line.split()
        when = dt.datetime.strptime(day, "%Y%m%d").replace(hour=12, tzinfo=dt.UTC)
        rows.append((int(customer), when, float(amount)))
    return rows


def metrics(predicted: np.ndarray, actual: np.ndarray) -> dict[str, float]:
    return {
        "mae": round(float(np.mean(np.abs(predicted - actual))), 4),
        "rmse": round(float(np.sqrt(np.mean((predicted - actual) ** 2))), 4),
        "correlation": round(float(np.corrcoef(predicted, actual)[0, 1]), 4),
        "predicted_total": round(float(predicted.sum()), 1),
        "actual_total": round(float(actual.sum()), 1),
    }


def main() -> None:
    rows = load()
    calibration = [r for r in rows if r[1] < CALIBRATION_END]
    holdout_days = (HOLDOUT_END - CALIBRATION_END).days
    started = time.perf_counter()
    summary = summarise(calibration, CALIBRATION_END)
    bg = BetaGeo.fit(summary.x, summary.t_x, summary.T)
    gg = GammaGamma.fit(summary.x, summary.m)
    predicted = bg.expected_purchases(float(holdout_days), summary.x, summary.t_x, summary.T)
    fit_seconds = time.perf_counter() - started

    index = {cid: i for i, cid in enumerate(summary.customer_ids.tolist())}
    actual = np.zeros(len(index))
    spend = np.zeros(len(index))
    seen: set[tuple[int, dt.date]] = set()
    for customer, when, amount in rows:
        if CALIBRATION_END <= when < HOLDOUT_END and customer in index:
            spend[index[customer]] += amount
            if (customer, when.date()) not in seen:
                seen.add((customer, when.date()))
                actual[index[customer]] += 1
    baseline = (summary.x + 1) / np.maximum(summary.T, 30.0) * holdout_days

    buyers = (summary.x > 0) & (actual > 0)
    value = gg.expected_value(summary.x[buyers], summary.m[buyers])
    actual_value = spend[buyers] / actual[buyers]
    result = {
        "customers": len(index),
        "calibration_transactions": len(calibration),
        "holdout_days": holdout_days,
        "fit_and_predict_seconds": round(fit_seconds, 2),
        "bg_nbd": {k: round(v, 4) for k, v in vars(bg).items()},
        "gamma_gamma": {k: round(v, 4) for k, v in vars(gg).items()},
        "holdout_purchases_bg_nbd": metrics(predicted, actual),
        "holdout_purchases_baseline_historical": metrics(baseline, actual),
        "ratio_mae_bg_nbd_to_baseline": round(
            float(np.mean(np.abs(predicted - actual)) / np.mean(np.abs(baseline - actual))), 3
        ),
        "spend_per_purchase_gamma_gamma_vs_holdout": {
            "customers": int(buyers.sum()),
            "mae": round(float(np.mean(np.abs(value - actual_value))), 2),
            "mae_own_calibration_average": round(
                float(np.mean(np.abs(summary.m[buyers] - actual_value))), 2
            ),
            "correlation": round(float(np.corrcoef(value, actual_value)[0, 1]), 4),
        },
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()

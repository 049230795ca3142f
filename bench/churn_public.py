"""Churn evaluate on public telecom churn data, against textbook models on the same folds.

``careloop churn evaluate`` (the library call: ``read_table`` + ``cross_validate``, 5-fold
stratified, out-of-fold AUC) on a customer table with a churn label, with nothing tuned.
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
  ``modeldata::mlc_churn`` (``--target churn``).

    .venv/bin/python -m bench.churn_public --data var/wa_churn.csv --target churn [--id COLUMN]
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedKFold

from crm.scoring.tabular import Table, cross_validate, one_hot_logistic, read_table


def textbook_logistic(categorical: list[bool]) -> Any:
    return one_hot_logistic(categorical, max_iter=5000)  # scikit-learn's other defaults


def default_boosting(categorical: list[bool]) -> Any:
    mask = np.array(categorical, dtype=bool)
    return HistGradientBoostingClassifier(
        categorical_features=mask if mask.any() else None, random_state=0
    )


def out_of_fold_auc(
    table: Table, make: Callable[[list[bool]], Any], folds: int, seed: int
) -> float:
    """The baseline's out-of-fold AUC, on the folds ``cross_validate`` uses."""
    oof = np.zeros(len(table.y))
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    for train, test in splitter.split(table.X, table.y):
        model = make(table.categorical).fit(table.X[train], table.y[train])
        oof[test] = model.predict_proba(table.X[test])[:, 1]
    return float(roc_auc_score(table.y, oof))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--target", required=True)
    parser.add_argument("--id", dest="id_column")
    parser.add_argument("--folds", type=int, default=5)
    args = parser.parse_args()

    table = read_table(args.data, args.target, args.id_column)
    started = time.perf_counter()
    result = cross_validate(table, args.folds)
    seconds = time.perf_counter() - started
    out: dict[str, Any] = {
        "data": args.data.name,
        "n": result["n"],
        "churned": result["churned"],
        "features": result["features"],
        "careloop": {
            "auc": result["auc"],
            "accuracy": result["accuracy"],
            "auc_fold_std": result["auc_fold_std"],
            "seconds": round(seconds, 1),
            "top_features": [f["feature"] for f in result["top_features"][:5]],
        },
    }
    for name, make in (
        ("logistic_regression_one_hot", textbook_logistic),
        ("gradient_boosting_defaults", default_boosting),
    ):
        started = time.perf_counter()
        auc = out_of_fold_auc(table, make, args.folds, seed=0)
        out[name] = {
            "auc": round(auc, 4),
            "seconds": round(time.perf_counter() - started, 1),
            "careloop_auc_minus_this": round(result["auc"] - auc, 4),
        }
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()

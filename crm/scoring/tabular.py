"""Churn models on any customer table: read a CSV, encode its columns, cross-validate
(``careloop churn evaluate``); ``BlendModel`` is also the shop's own churn model
(crm/scoring/model.py)."""

from __future__ import annotations

import csv
import math
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.base import clone
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, brier_score_loss, roc_auc_score
from sklearn.model_selection import StratifiedKFold
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from careloop.errors import ValidationFailed

POSITIVE_TOKENS = {"1", "yes", "y", "true", "t", "churn", "churned", "lost", "left"}
MAX_NATIVE_CATEGORIES = 250  # more distinct values than this: frequency-encoded instead
# Cells that mean "no value" in exported tables (R writes NA, databases NULL, spreadsheets
# #N/A; pandas reads the same markers as missing), besides the empty cell.
MISSING = frozenset(
    {"NA", "N/A", "n/a", "#N/A", "#NA", "<NA>", "NULL", "null", "None", "NaN", "nan", "-nan"}
)


@dataclass
class Table:
    names: list[str]
    X: np.ndarray  # float; categorical columns hold category codes; NaN = missing
    categorical: list[bool]
    y: np.ndarray
    positive_class: str


def _cell(value: str) -> str:
    """The cell stripped; "" for a missing-value marker (``MISSING``)."""
    value = value.strip()
    return "" if value in MISSING else value


def _number(value: str) -> float | None:
    try:
        number = float(value.replace(",", "")) if value else math.nan
    except ValueError:
        return None
    return number if math.isfinite(number) or math.isnan(number) else None


def read_table(path: Path, target: str, id_column: str | None = None) -> Table:
    """The CSV as features and a 0/1 label; empty cells and the usual markers (``NA``,
    ``NULL``, ``#N/A``, …: ``MISSING``) are missing values, and a row without a label is
    left out."""
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            reader = csv.reader(handle)
            header = [h.strip() for h in next(reader, [])]
            rows = [r for r in reader if any(c.strip() for c in r)]
    except FileNotFoundError:
        raise ValidationFailed(f"{path}: no such file") from None
    except UnicodeDecodeError:
        raise ValidationFailed(f"{path}: not UTF-8 text") from None
    if target not in header:
        raise ValidationFailed(f"no column {target!r} (columns: {', '.join(header)})")
    if id_column is not None and id_column not in header:
        raise ValidationFailed(f"no id column {id_column!r}")
    bad = next((i for i, r in enumerate(rows) if len(r) != len(header)), None)
    if bad is not None:
        raise ValidationFailed(
            f"line {bad + 2} has {len(rows[bad])} fields, the header has {len(header)}"
        )
    t = header.index(target)
    labels = [_cell(r[t]) for r in rows]
    keep = [i for i, label in enumerate(labels) if label != ""]
    classes = Counter(labels[i] for i in keep)
    if len(classes) != 2:
        raise ValidationFailed(
            f"{target!r} must have exactly two values (churned or not); found {len(classes)}"
        )
    tokens = [c for c in classes if c.lower() in POSITIVE_TOKENS]
    positive = tokens[0] if len(tokens) == 1 else min(classes, key=lambda c: (classes[c], c))
    y = np.array([labels[i] == positive for i in keep], dtype=np.int8)
    names, columns, categorical = [], [], []
    skip = {t} | ({header.index(id_column)} if id_column else set())
    for j, name in enumerate(header):
        if j in skip:
            continue
        raw = [_cell(rows[i][j]) for i in keep]
        numbers = [_number(v) for v in raw]
        if all(n is not None for n in numbers):
            columns.append(np.array(numbers, dtype=np.float64))
            categorical.append(False)
        else:
            counts = Counter(v for v in raw if v)
            if len(counts) <= MAX_NATIVE_CATEGORIES:
                codes = {v: k for k, v in enumerate(sorted(counts))}
                columns.append(np.array([codes.get(v, math.nan) for v in raw], dtype=np.float64))
                categorical.append(True)
            else:  # an id-like column: how common the value is
                columns.append(np.array([counts.get(v, 0) for v in raw], dtype=np.float64))
                categorical.append(False)
        names.append(name)
    if not names:
        raise ValidationFailed("the table has no feature columns besides the target")
    return Table(names, np.column_stack(columns), categorical, y, positive)


def one_hot_logistic(categorical: list[bool], **options: Any) -> Pipeline:
    """Logistic regression (``options``: its parameters) on the numeric columns, missing
    values imputed by the median and standardised ("num"), and the categorical columns
    one-hot ("cat"; missing is a category of its own)."""
    numeric = [i for i, c in enumerate(categorical) if not c]
    categories = [i for i, c in enumerate(categorical) if c]
    transformers: list[tuple[str, Any, list[int]]] = []
    if numeric:
        transformers.append(
            ("num", make_pipeline(SimpleImputer(strategy="median"), StandardScaler()), numeric)
        )
    if categories:
        missing_apart = SimpleImputer(strategy="constant", fill_value=-1)
        one_hot = make_pipeline(missing_apart, OneHotEncoder(handle_unknown="ignore"))
        transformers.append(("cat", one_hot, categories))
    return make_pipeline(ColumnTransformer(transformers), LogisticRegression(**options))


def _constant(X: np.ndarray, columns: np.ndarray) -> np.ndarray:
    """``X`` with the ``columns`` (a mask) set to 0."""
    if not columns.any():
        return X
    X = X.copy()
    X[:, columns] = 0.0
    return X


class BlendModel:
    """Histogram gradient boosting and logistic regression, stacked and calibrated.

    ``fit`` splits the rows into ``folds`` stratified folds. For each, the boosting learns
    from the other folds and stops early on this one (when its log-loss there has not
    improved for ``patience`` steps), and the logistic regression learns from the other
    folds too; both give their log-odds of the held-out rows. A logistic regression on
    those out-of-fold log-odds (the stacker) weighs the two models and calibrates the
    blend at once (Platt scaling): a table where one model is weak gives it little weight.
    Finally both models learn from all rows, the boosting for the folds' mean number of
    steps. (Scaled by ``folds / (folds - 1)`` for the larger training set, the steps gave
    the same AUC, Brier score and calibration: MLC++ 0.9194 / 0.0362 / 0.019 against
    0.9196 / 0.0361 / 0.020 unscaled, IBM HR 0.8372 / 0.0915 / 0.032 against 0.8377 /
    0.0916 / 0.030, SaaS 0.9297 / 0.0991 / 0.041 against 0.9293 / 0.0995 / 0.046;
    bench/churn_public.py, seed 0.) ``out_of_fold``: the stacked, calibrated probability
    of each training row from the fold models.
    """

    def __init__(
        self,
        categorical: list[bool],
        seed: int = 0,
        *,
        folds: int = 5,
        learning_rate: float = 0.1,
        patience: int = 10,
        max_iter: int = 1000,
    ) -> None:
        self.categorical = list(categorical)
        self.seed = seed
        self.folds = folds
        self.max_iter = max_iter
        self.empty = np.zeros(len(categorical), dtype=bool)
        self.gbm = HistGradientBoostingClassifier(
            learning_rate=learning_rate,
            max_iter=max_iter,
            categorical_features=np.array(categorical, dtype=bool) if any(categorical) else None,
            early_stopping=True,
            n_iter_no_change=patience,
            random_state=seed,
        )
        self.linear = one_hot_logistic(categorical, C=0.5, max_iter=2000)
        self.stacker = LogisticRegression(C=1e4)
        self.out_of_fold = np.zeros(0)
        self.steps = 0

    def fit(self, X: np.ndarray, y: np.ndarray) -> BlendModel:
        # A column with no values at all (e.g. no NPS answers yet) carries no information;
        # it is held constant so that both models accept it.
        self.empty = np.all(np.isnan(X), axis=0)
        X = _constant(X, self.empty)
        folds = max(2, min(self.folds, int(np.bincount(y, minlength=2).min())))
        splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=self.seed)
        log_odds = np.zeros((len(y), 2))
        steps = []
        stopping = clone(self.gbm).set_params(early_stopping=True, max_iter=self.max_iter)
        for train, held in splitter.split(X, y):
            # (as above, for a column with values only in the held-out rows)
            fold = _constant(X, np.all(np.isnan(X[train]), axis=0))
            gbm = clone(stopping).fit(fold[train], y[train], X_val=fold[held], y_val=y[held])
            linear = clone(self.linear).fit(fold[train], y[train])
            log_odds[held] = np.column_stack(
                [gbm.decision_function(fold[held]), linear.decision_function(fold[held])]
            )
            steps.append(gbm.n_iter_)
        self.stacker.fit(log_odds, y)
        self.out_of_fold = self.combine(log_odds)
        self.steps = max(1, round(float(np.mean(steps))))
        self.gbm = clone(stopping).set_params(early_stopping=False, max_iter=self.steps)
        self.gbm.fit(X, y)
        self.linear.fit(X, y)
        return self

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        p = self.combine(self.log_odds(X))
        return np.column_stack([1 - p, p])

    def log_odds(self, X: np.ndarray) -> np.ndarray:
        """Each model's log-odds of the positive class, one column each (GBM, linear)."""
        X = _constant(X, self.empty)
        return np.column_stack([self.gbm.decision_function(X), self.linear.decision_function(X)])

    def combine(self, log_odds: np.ndarray) -> np.ndarray:
        """The calibrated probability from the two models' ``log_odds`` (the stacker's)."""
        result: np.ndarray = self.stacker.predict_proba(log_odds)[:, 1]
        return result

    def log_odds_with(
        self, X: np.ndarray, log_odds: np.ndarray, columns: list[int], values: np.ndarray
    ) -> np.ndarray:
        """``log_odds`` (of the rows ``X``) again, with the ``columns`` of every row set to
        ``values``. The boosted trees predict the changed rows again; the linear model's
        log-odds move by its coefficients times the change (numeric columns; a
        categorical one predicts again), which costs next to nothing."""
        changed = X.copy()
        changed[:, columns] = values
        changed = _constant(changed, self.empty)
        result = np.empty_like(log_odds)
        result[:, 0] = self.gbm.decision_function(changed)
        weights = self._linear_weights()
        if weights is None or any(self.categorical[c] for c in columns):
            result[:, 1] = self.linear.decision_function(changed)
            return result
        coefficients, medians = weights
        before = np.where(self.empty[columns], 0.0, X[:, columns])  # (as _constant, columns only)
        before = np.where(np.isnan(before), medians[columns], before)
        after = np.where(np.isnan(changed[:, columns]), medians[columns], changed[:, columns])
        result[:, 1] = log_odds[:, 1] + (after - before) @ coefficients[columns]
        return result

    def _linear_weights(self) -> tuple[np.ndarray, np.ndarray] | None:
        """Per original column: the linear model's coefficient on the column as given (the
        scaler's division folded in) and the median that stands in for a missing value;
        None when the fitted pipeline is not the plain numeric one this assumes."""
        transformer, regression = self.linear[0], self.linear[-1]
        numeric = [i for i, c in enumerate(self.categorical) if not c]
        if "num" not in transformer.named_transformers_:
            return None
        imputer, scaler = transformer.named_transformers_["num"]
        if len(imputer.statistics_) != len(numeric) or len(scaler.scale_) != len(numeric):
            return None  # (a column the imputer dropped: the coefficients would shift)
        coefficients = np.zeros(len(self.categorical))
        medians = np.full(len(self.categorical), np.nan)
        coefficients[numeric] = regression.coef_[0][: len(numeric)] / scaler.scale_
        medians[numeric] = imputer.statistics_
        return coefficients, medians


def permutation_importance(
    model: BlendModel, X: np.ndarray, y: np.ndarray, names: list[str], seed: int = 0
) -> list[dict[str, Any]]:
    """How much the AUC drops when one column is shuffled (mean of 3 shuffles)."""
    rng = np.random.default_rng(seed)
    base = roc_auc_score(y, model.predict_proba(X)[:, 1])
    out = []
    for j, name in enumerate(names):
        drops = []
        for _ in range(3):
            shuffled = X.copy()
            shuffled[:, j] = rng.permutation(shuffled[:, j])
            drops.append(base - roc_auc_score(y, model.predict_proba(shuffled)[:, 1]))
        out.append({"feature": name, "importance": round(float(np.mean(drops)), 4)})
    return sorted(out, key=lambda d: -float(d["importance"]))


def calibration(y: np.ndarray, probability: np.ndarray, bins: int = 10) -> list[dict[str, Any]]:
    """The reliability table: the rows sorted by probability in ``bins`` groups of equal
    size; per group its mean probability ("predicted") and its share of churned rows
    ("observed"). Calibrated probabilities have the two close in every group."""
    groups = np.array_split(np.argsort(probability, kind="stable"), bins)
    return [
        {
            "customers": len(group),
            "predicted": round(float(probability[group].mean()), 4),
            "observed": round(float(y[group].mean()), 4),
        }
        for group in groups
        if len(group)
    ]


def expected_calibration_error(table: list[dict[str, Any]]) -> float:
    """The customers-weighted mean gap between predicted and observed (``calibration``)."""
    total = sum(int(row["customers"]) for row in table)
    gap = sum(row["customers"] * abs(row["predicted"] - row["observed"]) for row in table)
    return round(float(gap) / total, 4)


def cross_validate(table: Table, folds: int = 5, seed: int = 0) -> dict[str, Any]:
    """Stratified k-fold, out-of-fold probabilities: AUC, Brier score, calibration (the
    reliability table and its expected calibration error), accuracy and the top features."""
    n, positives = len(table.y), int(table.y.sum())
    if min(positives, n - positives) < folds:
        raise ValidationFailed(
            f"too few rows per class for {folds}-fold cross-validation "
            f"({positives} churned, {n - positives} not)"
        )
    oof = np.zeros(n)
    fold_auc = []
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    for train, test in splitter.split(table.X, table.y):
        model = BlendModel(table.categorical, seed).fit(table.X[train], table.y[train])
        oof[test] = model.predict_proba(table.X[test])[:, 1]
        fold_auc.append(roc_auc_score(table.y[test], oof[test]))
    # (the last fold's model, on its held-out rows)
    importance = permutation_importance(model, table.X[test], table.y[test], table.names, seed)
    reliability = calibration(table.y, oof)
    rate = positives / n
    return {
        "auc": round(float(roc_auc_score(table.y, oof)), 4),
        "brier": round(float(brier_score_loss(table.y, oof)), 4),
        "brier_churn_rate": round(rate * (1 - rate), 4),
        "expected_calibration_error": expected_calibration_error(reliability),
        "accuracy": round(float(accuracy_score(table.y, oof >= 0.5)), 4),
        "auc_fold_std": round(float(np.std(fold_auc)), 4),
        "n": n,
        "churned": positives,
        "positive_class": table.positive_class,
        "folds": folds,
        "features": len(table.names),
        "calibration": reliability,
        "top_features": importance[:10],
        "model": (
            "histogram gradient boosting (early stopping) and logistic regression, "
            "stacked and calibrated by a logistic regression on their out-of-fold log-odds"
        ),
    }

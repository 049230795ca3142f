"""Churn models on any customer table: read a CSV, encode its columns, cross-validate.

Used by ``careloop churn evaluate`` (any table with a churn label) and by the shop's own
churn model. The model is a blend of gradient boosting (scikit-learn's histogram GBM, with
native categorical handling and missing values) and a regularised logistic regression on
one-hot / standardised columns; their probabilities are averaged. No tuning is asked of
the user.
"""

from __future__ import annotations

import csv
import math
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from scipy.special import expit
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, roc_auc_score
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


class BlendModel:
    """Histogram gradient boosting and logistic regression, probabilities averaged."""

    def __init__(
        self,
        categorical: list[bool],
        seed: int = 0,
        *,
        learning_rate: float = 0.05,
        max_iter: int = 300,
    ) -> None:
        self.categorical = list(categorical)
        self.empty = np.zeros(len(categorical), dtype=bool)
        self.gbm = HistGradientBoostingClassifier(
            learning_rate=learning_rate,
            max_iter=max_iter,
            max_leaf_nodes=15,
            min_samples_leaf=40,
            l2_regularization=1.0,
            categorical_features=np.array(categorical, dtype=bool) if any(categorical) else None,
            early_stopping=False,
            random_state=seed,
        )
        self.linear = one_hot_logistic(categorical, C=0.5, max_iter=2000)

    def fit(self, X: np.ndarray, y: np.ndarray) -> BlendModel:
        # A column with no values at all (e.g. no NPS answers yet) carries no information;
        # it is held constant so that both models accept it.
        self.empty = np.all(np.isnan(X), axis=0)
        X = self._prepare(X)
        self.gbm.fit(X, y)
        self.linear.fit(X, y)
        return self

    def _prepare(self, X: np.ndarray) -> np.ndarray:
        if not self.empty.any():
            return X
        X = X.copy()
        X[:, self.empty] = 0.0
        return X

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        p = self.combine(self.log_odds(X))
        result: np.ndarray = np.column_stack([1 - p, p])
        return result

    def log_odds(self, X: np.ndarray) -> np.ndarray:
        """Each model's log-odds of the positive class, one column each (GBM, linear)."""
        X = self._prepare(X)
        result: np.ndarray = np.column_stack(
            [self.gbm.decision_function(X), self.linear.decision_function(X)]
        )
        return result

    @staticmethod
    def combine(log_odds: np.ndarray) -> np.ndarray:
        """The blend's probability from ``log_odds``: the two models' probabilities averaged."""
        result: np.ndarray = 0.5 * (expit(log_odds[:, 0]) + expit(log_odds[:, 1]))
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
        changed = self._prepare(changed)
        result = np.empty_like(log_odds)
        result[:, 0] = self.gbm.decision_function(changed)
        weights = self._linear_weights()
        if weights is None or any(self.categorical[c] for c in columns):
            result[:, 1] = self.linear.decision_function(changed)
            return result
        coefficients, medians = weights
        before = np.where(self.empty[columns], 0.0, X[:, columns])  # (as _prepare, columns only)
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


def cross_validate(table: Table, folds: int = 5, seed: int = 0) -> dict[str, Any]:
    """Stratified k-fold, out-of-fold probabilities: AUC, accuracy and the top features."""
    n, positives = len(table.y), int(table.y.sum())
    if min(positives, n - positives) < folds:
        raise ValidationFailed(
            f"too few rows per class for {folds}-fold cross-validation "
            f"({positives} churned, {n - positives} not)"
        )
    oof = np.zeros(n)
    fold_auc = []
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    last: tuple[BlendModel, np.ndarray] | None = None
    for train, test in splitter.split(table.X, table.y):
        model = BlendModel(table.categorical, seed).fit(table.X[train], table.y[train])
        oof[test] = model.predict_proba(table.X[test])[:, 1]
        fold_auc.append(roc_auc_score(table.y[test], oof[test]))
        last = (model, test)
    assert last is not None
    model, test = last
    importance = permutation_importance(model, table.X[test], table.y[test], table.names, seed)
    return {
        "auc": round(float(roc_auc_score(table.y, oof)), 4),
        "accuracy": round(float(accuracy_score(table.y, oof >= 0.5)), 4),
        "auc_fold_std": round(float(np.std(fold_auc)), 4),
        "n": n,
        "churned": positives,
        "positive_class": table.positive_class,
        "folds": folds,
        "features": len(table.names),
        "top_features": importance[:10],
        "model": "histogram gradient boosting + logistic regression (probabilities averaged)",
    }

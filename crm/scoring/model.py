"""The shop's churn model: ``BlendModel`` (crm/scoring/tabular.py, the one ``careloop churn
evaluate`` measures on any table) learnt from customer features and churn labels.

``FOLDS`` and ``LEARNING_RATE``: 3 folds and steps of 0.2 rather than ``churn evaluate``'s
5 and 0.1, for time. On the synthetic shop (bench/crm_scale.py, 200,000 customers,
training on a 60,000-customer sample) steps of 0.1 and 0.2 had the same AUC on the shop's
future (0.9060 and 0.9056) and 0.2 stopped after about half the steps (35 against 60 per
fold), which every prediction pays, the reasons' eight times over.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
from sklearn.metrics import brier_score_loss, roc_auc_score

from crm.scoring.tabular import BlendModel

TRAIN_SAMPLE = 60_000  # customers; larger histories are sampled for training
FOLDS = 3
LEARNING_RATE = 0.2


@dataclass
class ChurnModel:
    model: BlendModel
    reference: np.ndarray  # a typical retained customer's features (medians)
    auc_out_of_fold: float
    brier_out_of_fold: float
    trained_on: int
    churn_rate: float

    def probability(self, X: np.ndarray) -> np.ndarray:
        return self.calibrated(self.model.log_odds(X))

    def calibrated(self, log_odds: np.ndarray) -> np.ndarray:
        """The calibrated probability from the models' ``log_odds`` (``BlendModel``)."""
        return self.model.combine(log_odds)


def fit_churn_model(X: np.ndarray, y: np.ndarray, *, seed: int = 0) -> ChurnModel:
    """The churn model of the customers ``X`` (one row each, numeric features; NaN =
    missing) whose churn is ``y`` (1 = churned; a few customers of either kind at least:
    ``crm.scoring.churn.train`` asks for 10)."""
    n, positives = len(y), int(y.sum())
    if n > TRAIN_SAMPLE:  # a large sample learns the same model in a fraction of the time
        keep = np.random.default_rng(seed).choice(n, TRAIN_SAMPLE, replace=False)
        X, y = X[keep], y[keep]
    model = BlendModel([False] * X.shape[1], seed, folds=FOLDS, learning_rate=LEARNING_RATE)
    model.fit(X, y)
    retained = X[y == 0]
    with warnings.catch_warnings():  # a feature nobody has (e.g. NPS) stays missing
        warnings.simplefilter("ignore", RuntimeWarning)
        reference = np.nanmedian(retained if len(retained) else X, axis=0)
    return ChurnModel(
        model=model,
        reference=reference,
        auc_out_of_fold=float(roc_auc_score(y, model.out_of_fold)),
        brier_out_of_fold=float(brier_score_loss(y, model.out_of_fold)),
        trained_on=n,
        churn_rate=positives / n,
    )

"""Train-on-one-file, test-on-another evaluation with the metrics outside tools expect."""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from nlp.base import Encoder
from nlp.dataset import Example
from nlp.head import LinearHead


def evaluate(
    encoder: Encoder,
    train: list[Example],
    test: list[Example],
    *,
    oos_label: str | None = None,
    threshold: float = 0.45,
    c: float = 10.0,
) -> dict[str, Any]:
    """Fit a head on ``train`` and score it on ``test``.

    With ``oos_label``, rows of that label are left out of training; a test prediction whose
    confidence is below ``threshold`` counts as out-of-scope.
    """
    from sklearn.metrics import accuracy_score, f1_score

    train_rows = [ex for ex in train if ex.label != oos_label]
    started = time.perf_counter()
    train_vecs = encoder.encode([ex.text for ex in train_rows])
    test_vecs = encoder.encode([ex.text for ex in test])
    encode_s = time.perf_counter() - started
    n_encoded = len(train_rows) + len(test)
    head = LinearHead.fit(train_vecs, [ex.label for ex in train_rows], c=c)
    probs = head.predict_proba(test_vecs)
    best = probs.argmax(axis=1)
    predicted = [head.labels[i] for i in best]
    if oos_label is not None:
        predicted = [
            oos_label if probs[k, best[k]] < threshold else p for k, p in enumerate(predicted)
        ]
    truth = [ex.label for ex in test]
    report: dict[str, Any] = {
        "accuracy": float(accuracy_score(truth, predicted)),
        "macro_f1": float(f1_score(truth, predicted, average="macro", zero_division=0)),
        "n_train": len(train_rows),
        "n_test": len(test),
        "n_labels": len(head.labels),
        "encode_ms_per_message": 1000 * encode_s / max(1, n_encoded),
        "encoder": encoder.name,
        "mode": "fast",
    }
    if oos_label is not None:
        in_scope = [i for i, t in enumerate(truth) if t != oos_label]
        oos = [i for i, t in enumerate(truth) if t == oos_label]
        report["in_scope_accuracy"] = (
            float(np.mean([predicted[i] == truth[i] for i in in_scope])) if in_scope else None
        )
        report["oos_recall"] = (
            float(np.mean([predicted[i] == oos_label for i in oos])) if oos else None
        )
        report["threshold"] = threshold
    return report

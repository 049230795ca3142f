"""Training heads on embeddings, with temperature calibration on a held-out split."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from nlp.base import OOS_LABEL, Encoder, Vectors
from nlp.dataset import Example, data_hash
from nlp.head import LinearHead, softmax
from nlp.neighbours import NeighbourVote
from nlp.ngrams import NgramVote
from nlp.oos import OutOfScopeDetector, fit_detector, out_of_fold

DEFAULT_THRESHOLD = 0.45
THRESHOLD_GRID = tuple(round(0.05 * k, 2) for k in range(4, 17))  # 0.20 … 0.80


@dataclass
class TrainedHead:
    head: LinearHead
    data_sha256: str
    n_examples: int
    metrics: dict[str, Any] = field(default_factory=dict)
    detector: OutOfScopeDetector | None = None
    neighbours: NeighbourVote | None = None  # the intent model's vote (nlp/neighbours.py)
    ngrams: NgramVote | None = None  # its character n-gram vote (nlp/ngrams.py)


def train_head(
    encoder: Encoder,
    examples: list[Example],
    *,
    c: float = 10.0,
    seed: int = 0,
    folds: int = 5,
    oos_label: str | None = None,
    detector: bool = False,
    oos_weight: float = 0.5,
) -> TrainedHead:
    """Fit a linear head; temperature and "not sure" threshold come from out-of-fold
    predictions (stratified k-fold), so every example is held out once and the tuning does
    not hang on a small split. With ``detector`` the same out-of-fold predictions fit the
    out-of-scope detector (:mod:`nlp.oos`); ``oos_label`` rows (the shop's
    ``out_of_scope`` intent) stay an intent of the head but are never part of the detector's
    in-scope reference, and they set its threshold."""
    texts = [ex.text for ex in examples]
    labels = [ex.label for ex in examples]
    started = time.perf_counter()
    vectors = encoder.encode(texts)
    encode_s = time.perf_counter() - started
    trained = train_head_on_vectors(
        vectors,
        labels,
        c=c,
        seed=seed,
        folds=folds,
        oos_label=oos_label,
        oos_is_intent=True,
        detector=detector,
        oos_weight=oos_weight,
        texts=texts,
    )
    trained.metrics["encode_ms_per_message"] = 1000 * encode_s / max(1, len(texts))
    trained.metrics["train_seconds"] = time.perf_counter() - started
    trained.data_sha256 = data_hash(examples)
    return trained


def train_head_on_vectors(
    vectors: Vectors,
    labels: list[str],
    *,
    c: float = 10.0,
    seed: int = 0,
    folds: int = 5,
    oos_label: str | None = None,
    oos_is_intent: bool = True,
    detector: bool = False,
    oos_weight: float = 0.5,
    texts: Sequence[str] | None = None,
) -> TrainedHead:
    """:func:`train_head` on given embeddings (of ``texts``: the intent model then also gets
    a character n-gram vote). ``oos_is_intent=False`` leaves the
    ``oos_label`` rows out of the head (``nlu evaluate --oos-label``): they only tune the
    detector's threshold."""
    started = time.perf_counter()
    head_rows = [i for i, lbl in enumerate(labels) if oos_is_intent or lbl != oos_label]
    head = LinearHead.fit(vectors[head_rows], [labels[i] for i in head_rows], c=c, seed=seed)
    metrics: dict[str, Any] = {}
    held = out_of_fold(
        vectors, labels, head.labels, oos_label=oos_label, c=c, seed=seed, folds=folds
    )
    found: OutOfScopeDetector | None = None
    if held is not None:
        known = np.array([lbl in head.labels for lbl in labels])
        calibrator = LinearHead(head.labels, head.weights, head.bias)
        known_labels = [lbl for lbl in labels if lbl in head.labels]
        temperature = calibrator.calibrate_logits(held.logits[known], known_labels)
        probs = softmax(held.logits / temperature)
        metrics.update(holdout_metrics(probs, labels, head.labels))
        metrics["holdout"] = f"{folds}-fold out-of-fold"
        head.temperature = temperature
        if detector:
            found = fit_detector(
                vectors,
                labels,
                head,
                held,
                oos_label=oos_label,
                c=c,
                seed=seed,
                oos_weight=oos_weight,
            )
            metrics["oos_detector"] = {
                "method": found.method,
                "threshold": round(found.threshold, 4),
                "policy": found.policy,
                **found.info,
            }
    metrics["temperature"] = head.temperature
    metrics["train_seconds"] = time.perf_counter() - started
    neighbours = ngrams = None
    if detector:  # the intent model: its examples vote too
        neighbours = NeighbourVote.fit(
            vectors[head_rows], [labels[i] for i in head_rows], head.labels
        )
        if texts is not None:
            ngrams = NgramVote.fit(
                [texts[i] for i in head_rows], [labels[i] for i in head_rows], head.labels
            )
    return TrainedHead(head, "", len(labels), metrics, found, neighbours, ngrams)


def holdout_metrics(
    probs: npt.NDArray[np.float64], truth: list[str], labels: list[str]
) -> dict[str, Any]:
    """Accuracy and the tuned "not sure" threshold of calibrated probabilities on held-out
    data (``labels`` names the columns)."""
    predicted = [labels[i] for i in probs.argmax(axis=1)]
    return {
        "holdout_accuracy": float(np.mean([p == t for p, t in zip(predicted, truth, strict=True)])),
        "holdout_size": len(truth),
        "threshold": tune_threshold(probs.max(axis=1), predicted, truth),
    }


def tune_threshold(
    confidence: Sequence[float] | npt.NDArray[np.float64],
    predicted: Sequence[str],
    truth: Sequence[str],
    *,
    oos_label: str = OOS_LABEL,
    grid: Sequence[float] = THRESHOLD_GRID,
) -> float:
    """The confidence below which the bot should say "not sure", tuned on held-out data.

    Utility per message: a right answer +1, a wrong answer -1, "not sure" 0 (the customer
    rephrases or gets a human). An out-of-scope message is handled right by the
    out-of-scope answer or by "not sure". Several thresholds often tie on a small hold-out;
    the middle one of the best is taken.
    """
    conf = np.asarray(confidence, dtype=np.float64)
    best: list[float] = []
    best_utility = -np.inf
    for t in grid:
        utility = 0.0
        for c, p, y in zip(conf, predicted, truth, strict=True):
            if c < t:
                utility += 1.0 if y == oos_label else 0.0
            else:
                utility += 1.0 if p == y else -1.0
        if utility > best_utility + 1e-9:
            best, best_utility = [float(t)], utility
        elif abs(utility - best_utility) <= 1e-9:
            best.append(float(t))
    return best[len(best) // 2] if best else DEFAULT_THRESHOLD


def stratified_holdout(
    labels: list[str], *, fraction: float, seed: int
) -> tuple[list[int], list[int]] | None:
    """Indices for train/hold-out with every label on both sides, or None if too small."""
    rng = np.random.default_rng(seed)
    by_label: dict[str, list[int]] = {}
    for i, lbl in enumerate(labels):
        by_label.setdefault(lbl, []).append(i)
    if len(by_label) < 2 or min(len(v) for v in by_label.values()) < 3:
        return None
    train: list[int] = []
    test: list[int] = []
    for idx in by_label.values():
        shuffled = list(rng.permutation(idx))
        k = max(1, round(len(shuffled) * fraction))
        test.extend(int(i) for i in shuffled[:k])
        train.extend(int(i) for i in shuffled[k:])
    return sorted(train), sorted(test)

"""Train-on-one-file, test-on-another evaluation with the metrics outside tools expect."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from nlp.base import Encoder, Vectors
from nlp.classifiers import IntentClassifier
from nlp.dataset import Example
from nlp.encoder import SentenceEncoder, encoder_path
from nlp.finetune import MODES, FinetuneConfig, finetune
from nlp.head import LinearHead
from nlp.neighbours import NeighbourVote
from nlp.ngrams import NgramVote
from nlp.oos import OutOfScopeDetector, msp_distance
from nlp.training import (
    DEFAULT_THRESHOLD,
    stratified_holdout,
    train_head_on_vectors,
    tune_threshold,
)

OOS_METHODS = ("detector", "msp")  # nlp.oos's detector, or today's max-softmax rule


def evaluate(
    encoder: Encoder,
    train: list[Example],
    test: list[Example],
    *,
    oos_label: str | None = None,
    threshold: float | None = None,
    c: float = 10.0,
    mode: str = "fast",
    finetune_config: FinetuneConfig | None = None,
    oos_method: str = "detector",
    curve: bool = False,
) -> dict[str, Any]:
    """Train on ``train`` (fast: a head on frozen embeddings; finetune: the encoder too) and
    score on ``test``.

    With ``oos_label``, rows of that label are left out of the intent head; a test message
    the out-of-scope rule rejects is predicted as ``oos_label``. The fast mode's rule is the
    detector of :mod:`nlp.oos` (``oos_method="detector"``, the bot's own; its threshold
    follows that module's policy: balanced accuracy on out-of-fold ``oos_label`` rows of
    ``train`` when it has some, else pseudo out-of-scope intents held out of ``train``), or
    today's max-softmax confidence rule (``"msp"``: temperature and threshold tuned on a
    stratified 20 % of ``train``). A given ``threshold`` means the max-softmax rule at that
    confidence. The fine-tuned mode uses the max-softmax rule (default threshold 0.45).

    The report adds, with ``oos_label``: ``in_scope_accuracy`` (an in-scope test message
    counts right only if it is accepted and gets its own label), ``oos_recall`` (share of
    out-of-scope test messages rejected), ``oos_auroc`` (of the rejection score), the
    threshold, and with ``curve`` the in-scope accuracy and out-of-scope recall over 101
    thresholds (score quantiles).
    """
    from sklearn.metrics import accuracy_score, f1_score, roc_auc_score

    if mode not in MODES:
        raise ValueError(f"unknown mode {mode!r}; use fast or finetune")
    if oos_method not in OOS_METHODS:
        raise ValueError(f"unknown out-of-scope method {oos_method!r}; use detector or msp")
    train_rows = [ex for ex in train if ex.label != oos_label]
    train_texts = [ex.text for ex in train_rows]
    train_labels = [ex.label for ex in train_rows]
    train_started = time.perf_counter()
    detector: OutOfScopeDetector | None = None
    vote: NeighbourVote | None = None  # the bot's intent: the head mixed with this vote
    ngrams: NgramVote | None = None  # ... and then with this one
    method = "msp"
    if mode == "fast":
        started = time.perf_counter()
        all_train_vecs = encoder.encode([ex.text for ex in train])  # out-of-scope rows too
        test_vecs = encoder.encode([ex.text for ex in test])
        encode_s = time.perf_counter() - started
        n_encoded = len(train) + len(test)
        if oos_label is not None and threshold is None and oos_method == "detector":
            trained = train_head_on_vectors(
                all_train_vecs,
                [ex.label for ex in train],
                c=c,
                oos_label=oos_label,
                oos_is_intent=False,
                detector=True,
                texts=[ex.text for ex in train],
            )
            head, detector, vote = trained.head, trained.detector, trained.neighbours
            ngrams = trained.ngrams
        else:
            in_scope = [i for i, ex in enumerate(train) if ex.label != oos_label]
            head = LinearHead.fit(all_train_vecs[in_scope], train_labels, c=c)
            vote = NeighbourVote.fit(all_train_vecs[in_scope], train_labels, head.labels)
            ngrams = NgramVote.fit(train_texts, train_labels, head.labels)
        if oos_label is not None and threshold is None and detector is None:
            tuned_t = _tune_on_train(all_train_vecs, train, oos_label, c=c)
            if tuned_t is not None:
                head.temperature, threshold = tuned_t
    else:
        with tempfile.TemporaryDirectory(prefix="careloop-finetune-") as tmp:
            result = finetune(
                encoder_path(encoder),
                train_texts,
                train_labels,
                Path(tmp) / "encoder",
                finetune_config or FinetuneConfig(),
            )
            tuned = SentenceEncoder(str(result.encoder_dir))
            started = time.perf_counter()
            test_texts = [ex.text for ex in test]
            test_vecs = tuned.encode(test_texts)
            base_vecs = encoder.encode(test_texts)
            encode_s = time.perf_counter() - started
            n_encoded = len(test)
            head = result.head
            classifier = IntentClassifier(
                result.head,
                base_head=result.base_head,
                ensemble_weight=(finetune_config or FinetuneConfig()).ensemble_weight,
            )
    train_seconds = time.perf_counter() - train_started
    threshold = DEFAULT_THRESHOLD if threshold is None else threshold
    if mode == "fast":
        probs = head.predict_proba(test_vecs)
        mixed = vote.mix(probs, test_vecs) if vote is not None else probs
        if ngrams is not None:
            mixed = ngrams.mix(mixed, [ex.text for ex in test])
        best = mixed.argmax(axis=1)
    else:
        probs = classifier.probabilities(test_vecs, base_vecs)
        best = probs.argmax(axis=1)
    predicted = [head.labels[i] for i in best]
    guessed = list(predicted)  # before any rejection
    if detector is not None:
        method = detector.method
        threshold = detector.threshold
        score = detector.scores(test_vecs, probs)
    else:
        score = msp_distance(probs)
        threshold_score = 1.0 - threshold  # msp_distance > 1 - t  <=>  confidence < t
    if oos_label is not None:
        cut = threshold if detector is not None else threshold_score
        predicted = [oos_label if score[k] > cut else p for k, p in enumerate(predicted)]
    truth = [ex.label for ex in test]
    report: dict[str, Any] = {
        "accuracy": float(accuracy_score(truth, predicted)),
        "macro_f1": float(f1_score(truth, predicted, average="macro", zero_division=0)),
        "n_train": len(train_rows),
        "n_test": len(test),
        "n_labels": len(head.labels),
        "encode_ms_per_message": 1000 * encode_s / max(1, n_encoded),
        "encoder": encoder.name,
        "mode": mode,
        "train_seconds": round(train_seconds, 2),
    }
    if oos_label is not None:
        is_oos = np.array([t == oos_label for t in truth])
        in_scope = [i for i, t in enumerate(truth) if t != oos_label]
        oos = [i for i, t in enumerate(truth) if t == oos_label]
        report["in_scope_accuracy"] = (
            float(np.mean([predicted[i] == truth[i] for i in in_scope])) if in_scope else None
        )
        report["oos_recall"] = (
            float(np.mean([predicted[i] == oos_label for i in oos])) if oos else None
        )
        report["threshold"] = threshold
        report["oos_method"] = method
        if detector is not None:
            report["oos_policy"] = detector.policy
            report["oos_detector"] = {k: round(v, 4) for k, v in detector.info.items()}
        report["oos_auroc"] = float(roc_auc_score(is_oos, score)) if in_scope and oos else None
        if curve:
            right = np.array([g == t for g, t in zip(guessed, truth, strict=True)])
            report["curve"] = oos_curve(score, right, is_oos)
    return report


def oos_curve(
    score: npt.NDArray[np.float64],
    right: npt.NDArray[np.bool_],
    is_oos: npt.NDArray[np.bool_],
    points: int = 101,
) -> list[dict[str, float]]:
    """In-scope accuracy and out-of-scope recall when rejecting scores above each of
    ``points`` thresholds (quantiles of the scores, lowest to highest)."""
    out: list[dict[str, float]] = []
    ins = ~is_oos
    for t in np.quantile(score, np.linspace(0.0, 1.0, points)):
        rejected = score > t
        out.append(
            {
                "threshold": round(float(t), 4),
                "in_scope_accuracy": round(float(np.mean(right[ins] & ~rejected[ins])), 4),
                "oos_recall": round(float(np.mean(rejected[is_oos])), 4),
            }
        )
    return out


def _tune_on_train(
    vectors: Vectors, train: list[Example], oos_label: str, *, c: float
) -> tuple[float, float] | None:
    """(temperature, threshold) fitted on a stratified 20 % of ``train`` (None if too small);
    ``vectors`` are the embeddings of ``train``, row for row."""
    split = stratified_holdout([ex.label for ex in train], fraction=0.2, seed=0)
    if split is None:
        return None
    fit_idx, held_idx = split
    fit_idx = [i for i in fit_idx if train[i].label != oos_label]
    held_rows = [train[i] for i in held_idx]
    probe = LinearHead.fit(vectors[fit_idx], [train[i].label for i in fit_idx], c=c)
    held_vecs = vectors[held_idx]
    in_scope = [k for k, ex in enumerate(held_rows) if ex.label != oos_label]
    temperature = probe.calibrate(held_vecs[in_scope], [held_rows[k].label for k in in_scope])
    probs = probe.predict_proba(held_vecs)
    predicted = [probe.labels[i] for i in probs.argmax(axis=1)]
    found = tune_threshold(
        probs.max(axis=1), predicted, [ex.label for ex in held_rows], oos_label=oos_label
    )
    return temperature, found

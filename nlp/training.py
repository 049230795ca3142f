"""Training heads on embeddings, with temperature calibration on a held-out split."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from nlp.base import Encoder
from nlp.dataset import Example, data_hash
from nlp.head import LinearHead


@dataclass
class TrainedHead:
    head: LinearHead
    data_sha256: str
    n_examples: int
    metrics: dict[str, Any] = field(default_factory=dict)


def train_head(
    encoder: Encoder, examples: list[Example], *, c: float = 10.0, seed: int = 0
) -> TrainedHead:
    """Fit a linear head; its temperature is calibrated on a stratified 20 % hold-out."""
    texts = [ex.text for ex in examples]
    labels = [ex.label for ex in examples]
    started = time.perf_counter()
    vectors = encoder.encode(texts)
    encode_s = time.perf_counter() - started
    metrics: dict[str, Any] = {"encode_ms_per_message": 1000 * encode_s / max(1, len(texts))}

    holdout = _stratified_holdout(labels, fraction=0.2, seed=seed)
    if holdout is not None:
        train_idx, test_idx = holdout
        probe = LinearHead.fit(vectors[train_idx], [labels[i] for i in train_idx], c=c, seed=seed)
        held_labels = [labels[i] for i in test_idx]
        temperature = probe.calibrate(vectors[test_idx], held_labels)
        probs = probe.predict_proba(vectors[test_idx])
        predicted = [probe.labels[i] for i in probs.argmax(axis=1)]
        metrics["holdout_accuracy"] = float(
            np.mean([p == t for p, t in zip(predicted, held_labels, strict=True)])
        )
        metrics["holdout_size"] = len(test_idx)
    else:
        temperature = 1.0
    head = LinearHead.fit(vectors, labels, c=c, seed=seed)
    head.temperature = temperature
    metrics["temperature"] = temperature
    metrics["train_seconds"] = time.perf_counter() - started
    return TrainedHead(head, data_hash(examples), len(examples), metrics)


def _stratified_holdout(
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

"""Out-of-scope detection: does a message belong to one of the intents the model knows?

The score (higher = further from the known intents) adds two signals, each standardised
(z-score) on held-out in-scope examples so that their scales match:

* ``1 - max softmax probability`` of the calibrated intent head (how unsure the
  classifier is between the intents it knows), and
* ``1 - cosine similarity`` to the nearest training example of an in-scope intent
  (deep nearest neighbours, Sun et al. 2022: how unlike anything seen in training the
  message is).

A message whose score is above ``threshold`` is rejected. The cost per message is one
matrix-vector product with the stored training embeddings (float16 in the artifact) on top
of the encoder pass the message needs anyway.

Threshold policy (no test data is ever used):

* **out-of-scope examples in the training data** (the shop's ``out_of_scope`` intent, or an
  ``--oos-label`` in ``nlu evaluate``): every training example gets out-of-fold scores
  (stratified 5-fold: head and nearest-neighbour reference from the other folds), and the
  threshold maximises the balanced accuracy on them, i.e. the mean of in-scope accuracy (an
  in-scope example counts right only when it is accepted *and* gets its own label) and
  out-of-scope recall;
* **no out-of-scope examples**: pseudo out-of-scope data from the training file itself.
  In each of ``probes`` rounds a random quarter of the intents is held out as "unknown", a
  probe head and reference are fitted on 80 % of the other intents' examples, and the
  threshold that maximises the balanced accuracy on the remaining 20 % plus the held-out
  intents is noted as the share of in-scope examples it rejects. The detector's threshold
  is the score that rejects the mean of those shares among the out-of-fold in-scope scores
  of the real model (so the operating point transfers from the probes, which know fewer
  intents, by rank rather than by raw score);
* fewer than 3 intents (no probe possible): reject the ``DEFAULT_REJECT_RATE`` share of
  in-scope examples that score highest out of fold. An intent with a single example
  leaves no out-of-fold predictions at all: then no detector is made and the classifier
  keeps the max-softmax confidence threshold.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from nlp.base import Vectors
from nlp.head import LinearHead, softmax

Scores = npt.NDArray[np.float64]

DEFAULT_MSP_WEIGHT = 0.5  # weight of the softmax part of the score; the rest is kNN
DEFAULT_REJECT_RATE = 0.05  # fallback policy: in-scope share rejected out of fold
PROBE_FRACTION = 0.25  # share of intents held out as pseudo out-of-scope in each probe
# Smallest spread used to standardise a part of the score: with near-duplicate training
# examples the held-out spread can be tiny and would blow every new message up to a huge
# score (on BANKING77 the spreads are 0.16 and 0.08).
STD_FLOOR = 0.05
DETECTOR_FILE = "oos_detector.npz"
METHOD = "msp+knn"  # z(1 - max softmax probability) and z(1 - nearest-neighbour cosine)


@dataclass
class OutOfScopeDetector:
    """Rejects messages far from every known intent; state is plain arrays (npz)."""

    reference: npt.NDArray[np.float32]  # (n, dim) L2-normalised in-scope training vectors
    threshold: float
    msp_weight: float = DEFAULT_MSP_WEIGHT
    msp_mean: float = 0.0
    msp_std: float = 1.0
    knn_mean: float = 0.0
    knn_std: float = 1.0
    policy: str = ""  # how the threshold was chosen (for meta.json and reports)
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def method(self) -> str:
        return METHOD

    def components(
        self, vectors: Vectors, probs: Scores, nearest: Scores | None = None
    ) -> tuple[Scores, Scores]:
        """(1 - max probability, 1 - nearest-neighbour cosine similarity) per message
        (``nearest``: each message's highest cosine similarity to the reference, when the
        caller has it already)."""
        knn = (
            knn_distance(vectors, self.reference)
            if nearest is None
            else np.asarray(1.0 - nearest, dtype=np.float64)
        )
        return msp_distance(probs), knn

    def scores(self, vectors: Vectors, probs: Scores, nearest: Scores | None = None) -> Scores:
        msp, knn = self.components(vectors, probs, nearest)
        return self.combine(msp, knn)

    def combine(self, msp: Scores, knn: Scores) -> Scores:
        w = self.msp_weight
        return np.asarray(
            w * (msp - self.msp_mean) / self.msp_std
            + (1.0 - w) * (knn - self.knn_mean) / self.knn_std,
            dtype=np.float64,
        )

    def rejects(
        self, vectors: Vectors, probs: Scores, nearest: Scores | None = None
    ) -> npt.NDArray[np.bool_]:
        return np.asarray(self.scores(vectors, probs, nearest) > self.threshold, dtype=np.bool_)

    def save(self, path: Path) -> None:
        np.savez(
            path,
            reference=self.reference.astype(np.float16),
            params=np.array(
                [
                    self.threshold,
                    self.msp_weight,
                    self.msp_mean,
                    self.msp_std,
                    self.knn_mean,
                    self.knn_std,
                ],
                dtype=np.float64,
            ),
            policy=np.array(self.policy, dtype=np.str_),
        )

    @classmethod
    def load(cls, path: Path) -> OutOfScopeDetector:
        with np.load(path, allow_pickle=False) as data:
            threshold, weight, msp_mean, msp_std, knn_mean, knn_std = (
                float(x) for x in data["params"]
            )
            return cls(
                reference=data["reference"].astype(np.float32),
                threshold=threshold,
                msp_weight=weight,
                msp_mean=msp_mean,
                msp_std=msp_std,
                knn_mean=knn_mean,
                knn_std=knn_std,
                policy=str(data["policy"]),
            )


def msp_distance(probs: Scores) -> Scores:
    return np.asarray(1.0 - probs.max(axis=1), dtype=np.float64)


def knn_distance(vectors: Vectors, reference: npt.NDArray[np.floating[Any]]) -> Scores:
    """1 - cosine similarity to the nearest reference vector (all L2-normalised)."""
    if len(reference) == 0:
        return np.ones(len(vectors), dtype=np.float64)
    sims = np.asarray(vectors, dtype=np.float32) @ np.asarray(reference, dtype=np.float32).T
    return np.asarray(1.0 - sims.max(axis=1), dtype=np.float64)


@dataclass
class HeldOut:
    """Held-out (out-of-fold) predictions of every training example."""

    logits: npt.NDArray[np.float64]  # (n, n_labels) in the final head's label order
    knn: Scores  # 1 - cosine similarity to the nearest in-scope example of the other folds


def out_of_fold(
    vectors: Vectors,
    labels: Sequence[str],
    classes: list[str],
    *,
    oos_label: str | None,
    c: float,
    seed: int,
    folds: int,
) -> HeldOut | None:
    """Each example's logits and nearest-neighbour distance from a head and reference that
    did not see it (stratified k-fold; None when the data is too small). Rows labelled
    ``oos_label`` are never part of the nearest-neighbour reference; they train the head
    only when ``classes`` holds their label."""
    from sklearn.model_selection import StratifiedKFold

    labels = list(labels)
    smallest = min(labels.count(label) for label in set(labels))
    k = min(folds, smallest)
    if k < 2:
        return None
    logits = np.zeros((len(labels), len(classes)), dtype=np.float64)
    knn = np.zeros(len(labels), dtype=np.float64)
    in_scope = np.array([lbl != oos_label for lbl in labels])
    trains_on = np.array([lbl in classes for lbl in labels])
    splitter = StratifiedKFold(n_splits=k, shuffle=True, random_state=seed)
    for train_idx, test_idx in splitter.split(vectors, labels):
        fit_idx = train_idx[trains_on[train_idx]]
        probe = LinearHead.fit(vectors[fit_idx], [labels[i] for i in fit_idx], c=c, seed=seed)
        if probe.labels != classes:
            return None
        logits[test_idx] = probe.logits(vectors[test_idx])
        knn[test_idx] = knn_distance(vectors[test_idx], vectors[train_idx[in_scope[train_idx]]])
    return HeldOut(logits, knn)


def balanced_threshold(
    scores: Scores,
    accepted_right: npt.NDArray[np.bool_],
    is_oos: npt.NDArray[np.bool_],
    oos_handled: npt.NDArray[np.bool_] | None = None,
    oos_weight: float = 0.5,
) -> tuple[float, float]:
    """(threshold, weighted accuracy) maximising ``(1 - oos_weight) * in-scope accuracy
    + oos_weight * out-of-scope recall`` (0.5: the balanced accuracy, for an even prior; a
    shop where few messages are out of scope weighs them less). ``accepted_right``: the
    in-scope example gets its own label when accepted; ``oos_handled``: an out-of-scope
    example counts as handled even when accepted (the model has an out-of-scope intent and
    predicted it). Ties: the middle threshold."""
    handled = np.zeros(len(scores), dtype=bool) if oos_handled is None else oos_handled
    ins, oos = ~is_oos, is_oos
    n_in, n_oos = max(1, int(ins.sum())), max(1, int(oos.sum()))
    candidates = np.unique(scores)
    # a threshold between consecutive distinct scores (and one below / above all)
    cuts = np.concatenate(
        [[candidates[0] - 1.0], (candidates[:-1] + candidates[1:]) / 2, [candidates[-1] + 1.0]]
    )
    order = np.argsort(scores)
    s_sorted = scores[order]
    right_sorted = (accepted_right & ins)[order]
    oos_sorted = oos[order]
    handled_sorted = (handled & oos)[order]
    # accepted = score <= cut: a prefix of the sorted scores
    right_cum = np.concatenate([[0], np.cumsum(right_sorted)])
    oos_cum = np.concatenate([[0], np.cumsum(oos_sorted)])
    handled_cum = np.concatenate([[0], np.cumsum(handled_sorted)])
    n_accepted = np.searchsorted(s_sorted, cuts, side="right")
    in_acc = right_cum[n_accepted] / n_in
    oos_rejected = (oos_cum[-1] - oos_cum[n_accepted]) + handled_cum[n_accepted]
    balanced = (1.0 - oos_weight) * in_acc + oos_weight * oos_rejected / n_oos
    best = np.flatnonzero(balanced >= balanced.max() - 1e-12)
    pick = int(best[len(best) // 2])
    return float(cuts[pick]), float(balanced[pick])


def fit_detector(
    vectors: Vectors,
    labels: Sequence[str],
    head: LinearHead,
    held_out: HeldOut,
    *,
    oos_label: str | None = None,
    c: float = 10.0,
    seed: int = 0,
    probes: int = 3,
    msp_weight: float = DEFAULT_MSP_WEIGHT,
    oos_weight: float = 0.5,
) -> OutOfScopeDetector:
    """The detector of a trained ``head`` from out-of-fold predictions (see the module's
    threshold policy). ``vectors``/``labels``: all training examples, ``oos_label`` rows
    included; ``head`` knows ``oos_label`` as an intent or not."""
    labels = list(labels)
    is_oos = np.array([lbl == oos_label for lbl in labels])
    ins = ~is_oos
    probs = softmax(held_out.logits / head.temperature)
    msp = msp_distance(probs)
    detector = OutOfScopeDetector(
        reference=np.asarray(vectors[ins], dtype=np.float32),
        threshold=0.0,
        msp_weight=msp_weight,
        msp_mean=float(msp[ins].mean()),
        msp_std=max(STD_FLOOR, float(msp[ins].std())),
        knn_mean=float(held_out.knn[ins].mean()),
        knn_std=max(STD_FLOOR, float(held_out.knn[ins].std())),
    )
    scores = detector.combine(msp, held_out.knn)
    predicted = np.array([head.labels[i] for i in probs.argmax(axis=1)])
    truth = np.array(labels)
    if is_oos.any():
        threshold, balanced = balanced_threshold(
            scores, predicted == truth, is_oos, predicted == oos_label, oos_weight=oos_weight
        )
        detector.threshold = threshold
        detector.policy = (
            "weighted accuracy on out-of-fold out-of-scope examples"
            f" (out-of-scope weight {oos_weight:g})"
        )
        detector.info = {"holdout_weighted_accuracy": round(balanced, 4)}
        return detector
    rates = probe_reject_rates(
        vectors, labels, c=c, seed=seed, probes=probes, w=msp_weight, oos_weight=oos_weight
    )
    if rates:
        rate = float(np.mean(rates))
        detector.policy = (
            f"pseudo out-of-scope: held-out intents in {len(rates)} probes"
            f" (out-of-scope weight {oos_weight:g})"
        )
    else:
        rate = DEFAULT_REJECT_RATE
        detector.policy = "fixed in-scope rejection rate"
    detector.threshold = float(np.quantile(scores, 1.0 - rate))
    detector.info = {"target_reject_rate": round(rate, 4)}
    return detector


def probe_reject_rates(
    vectors: Vectors,
    labels: list[str],
    *,
    c: float,
    seed: int,
    probes: int,
    w: float,
    oos_weight: float = 0.5,
) -> list[float]:
    """In-scope rejection rates at the balanced-accuracy threshold of pseudo out-of-scope
    probes (a random quarter of the intents held out each time)."""
    from nlp.training import stratified_holdout

    intents = sorted(set(labels))
    n_held = max(1, round(len(intents) * PROBE_FRACTION))
    if len(intents) - n_held < 2:
        return []
    rng = np.random.default_rng(seed + 7919)
    rates: list[float] = []
    for _ in range(probes):
        held = {intents[i] for i in rng.choice(len(intents), size=n_held, replace=False)}
        known = [i for i, lbl in enumerate(labels) if lbl not in held]
        unknown = [i for i, lbl in enumerate(labels) if lbl in held]
        split = stratified_holdout([labels[i] for i in known], fraction=0.2, seed=seed)
        if split is None:
            continue
        fit = [known[i] for i in split[0]]
        dev = [known[i] for i in split[1]]
        probe = LinearHead.fit(vectors[fit], [labels[i] for i in fit], c=c, seed=seed)
        probe.calibrate(vectors[dev], [labels[i] for i in dev])
        rows = dev + unknown
        probs = probe.predict_proba(vectors[rows])
        msp = msp_distance(probs)
        knn = knn_distance(vectors[rows], vectors[fit])
        n_dev = len(dev)
        scorer = OutOfScopeDetector(
            reference=np.zeros((0, vectors.shape[1]), dtype=np.float32),
            threshold=0.0,
            msp_weight=w,
            msp_mean=float(msp[:n_dev].mean()),
            msp_std=max(STD_FLOOR, float(msp[:n_dev].std())),
            knn_mean=float(knn[:n_dev].mean()),
            knn_std=max(STD_FLOOR, float(knn[:n_dev].std())),
        )
        scores = scorer.combine(msp, knn)
        predicted = np.array([probe.labels[i] for i in probs.argmax(axis=1)])
        truth = np.array([labels[i] for i in rows])
        is_oos = np.arange(len(rows)) >= n_dev
        threshold, _ = balanced_threshold(scores, predicted == truth, is_oos, oos_weight=oos_weight)
        rates.append(float(np.mean(scores[:n_dev] > threshold)))
    return rates

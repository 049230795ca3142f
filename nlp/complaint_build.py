"""Build the shipped complaint head from the written chat messages.

    python -m nlp.complaint_build [--out nlp/pretrained]      (or: make models)

The rows are ``nlp/data/chat_messages.csv`` (:func:`nlp.dataset.chat_messages`): first
messages of a chat written and labelled by independent writers. A message a person should
take over is a complaint (grievances, sarcasm, threats, fury, the end of patience, fraud or
danger), unless it only asks for a person: that is the intent model's and the tone cues'
job, so those rows are left out. Every other message is "other". Earlier builds learned
from a public corpus of complaint tweets; on both conversation dev splits the chat messages
alone read complaints far better (ROC AUC 0.96 / 0.95 against 0.83 / 0.80;
``bench/results/2026-12-05-chat-messages.md``).

The rows are embedded with the configured encoder, a stratified 20 % is held out, the
regularisation strength is picked by 5-fold cross-validation on the rest, F1 and ROC AUC
are measured on the held-out part and the temperature fitted there; then the head is
refitted on every row. Deterministic: same rows, encoder and seed, same head.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from nlp.base import Encoder, Vectors
from nlp.complaint import COMPLAINT, OTHER, ComplaintHead
from nlp.dataset import ChatMessage, Example, chat_messages, data_hash
from nlp.ngrams import MIN_DF, NGRAMS
from nlp.pretrained import COMPLAINT_HEAD_FILE, COMPLAINT_META_FILE, pretrained_dir, write_shipped

log = logging.getLogger(__name__)

C_GRID = (1.0, 2.0, 4.0, 8.0, 16.0)
THRESHOLDS = (0.5, 0.7, 0.8, 0.9)  # held-out precision and recall reported at each


@dataclass(frozen=True)
class Row:
    text: str
    label: str  # complaint | other


@dataclass(frozen=True)
class BuildConfig:
    held_out_fraction: float = 0.2
    seed: int = 0
    folds: int = 5


def learns_from(message: ChatMessage) -> bool:
    """Whether the head trains on ``message``: not on a bare request for a person."""
    return not (message.escalate and message.intent == "human_agent")


def rows_of(messages: Sequence[ChatMessage]) -> list[Row]:
    """The training rows: escalations as complaints, bare requests for a person left out."""
    return [Row(m.text, COMPLAINT if m.escalate else OTHER) for m in messages if learns_from(m)]


def held_out_split(
    rows: Sequence[Row], fraction: float, seed: int
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """Indices of the training and held-out rows, the held-out part stratified by label."""
    from sklearn.model_selection import train_test_split

    index = np.arange(len(rows))
    train, held = train_test_split(
        index, test_size=fraction, random_state=seed, stratify=[r.label for r in rows]
    )
    return np.sort(train), np.sort(held)


def pick_c(
    vectors: Vectors, rows: Sequence[Row], config: BuildConfig
) -> tuple[float, dict[str, float]]:
    """The regularisation strength with the best mean cross-validated ROC AUC (the n-gram
    vocabulary is learnt inside each fold, like everything else)."""
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import StratifiedKFold

    folds = StratifiedKFold(n_splits=config.folds, shuffle=True, random_state=config.seed)
    labels = [r.label for r in rows]
    texts = [r.text for r in rows]
    y = np.array([lbl == COMPLAINT for lbl in labels])
    scores = {}
    for c in C_GRID:
        aucs = []
        for train, held in folds.split(vectors, y):
            head = ComplaintHead.fit(
                vectors[train], [texts[i] for i in train], [labels[i] for i in train], c=c
            )
            prob = head.probability(vectors[held], [texts[i] for i in held])
            aucs.append(roc_auc_score(y[held], prob))
        scores[str(c)] = round(float(np.mean(aucs)), 4)
    best = max(C_GRID, key=lambda c: scores[str(c)])
    return best, scores


def held_out_metrics(
    head: ComplaintHead, vectors: Vectors, rows: Sequence[Row]
) -> dict[str, float]:
    """Complaint F1 (at 0.5), precision, recall and ROC AUC on the held-out rows, and
    precision and recall at each of :data:`THRESHOLDS`."""
    from sklearn.metrics import f1_score, precision_score, recall_score, roc_auc_score

    prob = head.probability(vectors, [r.text for r in rows])
    truth = np.array([r.label == COMPLAINT for r in rows])
    out: dict[str, float] = {
        "rows": len(rows),
        "complaints": int(truth.sum()),
        "f1": round(float(f1_score(truth, prob >= 0.5)), 4),
        "precision": round(float(precision_score(truth, prob >= 0.5, zero_division=0)), 4),
        "recall": round(float(recall_score(truth, prob >= 0.5)), 4),
        "roc_auc": round(float(roc_auc_score(truth, prob)), 4),
    }
    for t in THRESHOLDS:
        out[f"precision_at_{t}"] = round(
            float(precision_score(truth, prob >= t, zero_division=0)), 4
        )
        out[f"recall_at_{t}"] = round(float(recall_score(truth, prob >= t)), 4)
    return out


def fit(
    rows: Sequence[Row], vectors: Vectors, config: BuildConfig
) -> tuple[ComplaintHead, dict[str, Any]]:
    """The head on every row, with its regularisation and temperature chosen and its
    quality measured on a held-out split (see the module docstring)."""
    labels = [r.label for r in rows]
    texts = [r.text for r in rows]
    train, held = held_out_split(rows, config.held_out_fraction, config.seed)
    c, cv = pick_c(vectors[train], [rows[i] for i in train], config)
    probe = ComplaintHead.fit(
        vectors[train],
        [texts[i] for i in train],
        [labels[i] for i in train],
        c=c,
        seed=config.seed,
    )
    temperature = probe.calibrate(
        vectors[held], [texts[i] for i in held], [labels[i] for i in held]
    )
    metrics: dict[str, Any] = {
        "c": c,
        "cross_validated_roc_auc_by_c": cv,
        "temperature": round(temperature, 4),
        "held_out": held_out_metrics(probe, vectors[held], [rows[i] for i in held]),
    }
    head = ComplaintHead.fit(vectors, texts, labels, c=c, seed=config.seed)
    head.head.temperature = temperature
    return head, metrics


def build(
    encoder: Encoder,
    out: Path | None = None,
    config: BuildConfig | None = None,
    messages: Sequence[ChatMessage] | None = None,
) -> dict[str, Any]:
    """Build and write the shipped complaint head (from ``messages``, by default the
    bundled chat messages); returns its metadata."""
    config = config or BuildConfig()
    started = time.perf_counter()
    rows = rows_of(chat_messages() if messages is None else messages)
    vectors = encoder.encode([r.text for r in rows])
    head, metrics = fit(rows, vectors, config)
    meta: dict[str, Any] = {
        "format": 3,
        "ngrams": {
            **{k: list(v) if isinstance(v, tuple) else v for k, v in NGRAMS.items()},
            "min_df": MIN_DF,
            "features": len(head.vectorizer.vocabulary_),
        },
        "source": {
            "name": "careloop chat messages (nlp/data/chat_messages.csv)",
            "rows": len(rows),
            "complaints": sum(1 for r in rows if r.label == COMPLAINT),
            "data_sha256": data_hash([Example(r.text, r.label) for r in rows]),
        },
        "config": {
            "held_out_fraction": config.held_out_fraction,
            "seed": config.seed,
            "folds": config.folds,
        },
        "metrics": metrics,
        "build_seconds": round(time.perf_counter() - started, 1),
    }
    return write_shipped(
        out or pretrained_dir(),
        head,
        meta,
        encoder,
        files=(COMPLAINT_HEAD_FILE, COMPLAINT_META_FILE),
    )


def main(argv: Sequence[str] | None = None) -> None:
    """``python -m nlp.complaint_build [--out DIR] [--encoder PATH]``."""
    import argparse
    import json

    from nlp.encoder import SentenceEncoder

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=None, help="default: nlp/pretrained")
    parser.add_argument("--encoder", default=None, help="local encoder (default: bundled)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    meta = build(SentenceEncoder(args.encoder), args.out)
    meta.pop("probe", None)
    print(json.dumps(meta, indent=2))


if __name__ == "__main__":
    main()

"""Build the shipped complaint head from a public corpus of complaints to companies.

    python -m nlp.complaint_build --corpus complaints-data.csv [--out nlp/pretrained]

The corpus is ``complaints-data.csv`` of Preoţiuc-Pietro, Găman and Aletras, "Automatically
Identifying Complaints in Social Media" (ACL 2019; github.com/danielpreotiuc/
complaints-social-media): English tweets to customer-service accounts in nine domains,
labelled complaint (1) or not (0) by annotators, plus random tweets as non-complaints. It
was released for research with the paper and has no licence file, so it is read from
wherever it lies and never copied into this repository; only the fitted head ships.

Every tweet that mentions a US airline's handle is dropped (:data:`AIRLINE_HANDLES`), so
nothing can overlap the Twitter US Airline Sentiment set kept out of all training. Handles
and links are removed from the text (a chat message has neither). The rows are embedded with
the configured encoder (cached under ``--cache``), a stratified-by-domain 20 % is held out,
the regularisation strength is picked by 5-fold cross-validation on the rest, complaint
F1 and ROC AUC are measured on the held-out part and the temperature fitted there; then the
head is refitted on every row. Deterministic: same corpus, encoder and seed, same head.
"""

from __future__ import annotations

import csv
import logging
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from nlp.base import Encoder, Vectors
from nlp.dataset import Example, data_hash
from nlp.head import LinearHead
from nlp.pretrained import COMPLAINT_HEAD_FILE, COMPLAINT_META_FILE, pretrained_dir, write_shipped
from nlp.sentiment_build import encode_cached

log = logging.getLogger(__name__)

COMPLAINT, OTHER = "complaint", "other"
AIRLINE_HANDLES = (
    "united",
    "americanair",
    "southwestair",
    "jetblue",
    "usairways",
    "virginamerica",
    "delta",
)
_AIRLINE = re.compile(rf"(?i)@({'|'.join(AIRLINE_HANDLES)})\b")
_HANDLE = re.compile(r"@\w+")
_LINK = re.compile(r"https?://\S+|\bwww\.\S+")
_SPACE = re.compile(r"\s+")
C_GRID = (0.25, 0.5, 1.0, 2.0, 4.0, 8.0)
THRESHOLDS = (0.5, 0.7, 0.8, 0.9)  # held-out precision and recall reported at each


@dataclass(frozen=True)
class Row:
    text: str
    label: str  # complaint | other
    domain: str


@dataclass(frozen=True)
class BuildConfig:
    held_out_fraction: float = 0.2
    seed: int = 0
    folds: int = 5


def clean(text: str) -> str:
    """The tweet as a chat message would read: no handles, no links."""
    return _SPACE.sub(" ", _LINK.sub(" ", _HANDLE.sub(" ", text))).strip()


def read_complaints(path: Path) -> tuple[list[Row], int]:
    """The corpus rows (``id,text,label,domain``, no header) without any that mention a
    US airline, and how many were dropped for that; empty texts are skipped."""
    rows: list[Row] = []
    dropped = 0
    with path.open(newline="", encoding="utf-8") as f:
        for record in csv.reader(f):
            if len(record) < 4 or record[2].strip() not in ("0", "1"):
                continue
            text = record[1]
            if _AIRLINE.search(text):
                dropped += 1
                continue
            cleaned = clean(text)
            if cleaned:
                label = COMPLAINT if record[2].strip() == "1" else OTHER
                rows.append(Row(cleaned, label, record[3].strip()))
    return rows, dropped


def held_out_split(
    rows: Sequence[Row], fraction: float, seed: int
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """Indices of the training and held-out rows, the held-out part stratified by domain."""
    from sklearn.model_selection import train_test_split

    index = np.arange(len(rows))
    train, held = train_test_split(
        index, test_size=fraction, random_state=seed, stratify=[r.domain for r in rows]
    )
    return np.sort(train), np.sort(held)


def pick_c(
    vectors: Vectors, labels: list[str], config: BuildConfig
) -> tuple[float, dict[str, float]]:
    """The regularisation strength with the best mean cross-validated ROC AUC."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_score

    folds = StratifiedKFold(n_splits=config.folds, shuffle=True, random_state=config.seed)
    y = np.array([lbl == COMPLAINT for lbl in labels])
    scores = {}
    for c in C_GRID:
        model = LogisticRegression(C=c, max_iter=2000, random_state=config.seed)
        scores[str(c)] = round(
            float(cross_val_score(model, vectors, y, cv=folds, scoring="roc_auc").mean()), 4
        )
    best = max(C_GRID, key=lambda c: scores[str(c)])
    return best, scores


def complaint_probability(head: LinearHead, vectors: Vectors) -> npt.NDArray[np.float64]:
    return np.asarray(head.predict_proba(vectors)[:, head.labels.index(COMPLAINT)])


def held_out_metrics(
    head: LinearHead, vectors: Vectors, rows: Sequence[Row]
) -> dict[str, dict[str, float | int]]:
    """Complaint F1 (at 0.5), precision, recall and ROC AUC on all held-out rows and on the
    nine customer-service domains alone (the paper's annotated tweets), and precision and
    recall at each of :data:`THRESHOLDS`."""
    from sklearn.metrics import f1_score, precision_score, recall_score, roc_auc_score

    p = complaint_probability(head, vectors)
    y = np.array([r.label == COMPLAINT for r in rows])
    domains = np.array([not r.domain.startswith("random") for r in rows])
    out: dict[str, dict[str, float | int]] = {}
    for name, keep in (("all", np.ones(len(rows), dtype=bool)), ("domains", domains)):
        truth, prob = y[keep], p[keep]
        out[name] = {
            "rows": int(keep.sum()),
            "complaints": int(truth.sum()),
            "f1": round(float(f1_score(truth, prob >= 0.5)), 4),
            "precision": round(float(precision_score(truth, prob >= 0.5)), 4),
            "recall": round(float(recall_score(truth, prob >= 0.5)), 4),
            "roc_auc": round(float(roc_auc_score(truth, prob)), 4),
        }
        for t in THRESHOLDS:
            out[name][f"precision_at_{t}"] = round(
                float(precision_score(truth, prob >= t, zero_division=0)), 4
            )
            out[name][f"recall_at_{t}"] = round(float(recall_score(truth, prob >= t)), 4)
    return out


def fit(
    rows: Sequence[Row], vectors: Vectors, config: BuildConfig
) -> tuple[LinearHead, dict[str, Any]]:
    """The head on every row, with its regularisation and temperature chosen and its
    quality measured on a held-out split (see the module docstring)."""
    labels = [r.label for r in rows]
    train, held = held_out_split(rows, config.held_out_fraction, config.seed)
    c, cv = pick_c(vectors[train], [labels[i] for i in train], config)
    probe = LinearHead.fit(vectors[train], [labels[i] for i in train], c=c, seed=config.seed)
    temperature = probe.calibrate(vectors[held], [labels[i] for i in held])
    metrics: dict[str, Any] = {
        "c": c,
        "cross_validated_roc_auc_by_c": cv,
        "temperature": round(temperature, 4),
        "held_out": held_out_metrics(probe, vectors[held], [rows[i] for i in held]),
    }
    head = LinearHead.fit(vectors, labels, c=c, seed=config.seed)
    head.temperature = temperature
    return head, metrics


def build(
    encoder: Encoder,
    corpus: Path,
    out: Path | None = None,
    config: BuildConfig | None = None,
    cache: Path | None = None,
) -> dict[str, Any]:
    """Build and write the shipped complaint head; returns its metadata."""
    config = config or BuildConfig()
    started = time.perf_counter()
    rows, dropped = read_complaints(corpus)
    vectors = encode_cached(encoder, [r.text for r in rows], cache)
    head, metrics = fit(rows, vectors, config)
    meta: dict[str, Any] = {
        "format": 1,
        "source": {
            "name": "complaints-social-media (Preotiuc-Pietro et al., ACL 2019)",
            "rows": len(rows),
            "complaints": sum(1 for r in rows if r.label == COMPLAINT),
            "dropped_airline_rows": dropped,
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
    """``python -m nlp.complaint_build --corpus FILE [--out DIR] [--cache DIR]``."""
    import argparse
    import json

    from nlp.encoder import SentenceEncoder

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--corpus", type=Path, required=True, help="complaints-data.csv")
    parser.add_argument("--out", type=Path, default=None, help="default: nlp/pretrained")
    parser.add_argument("--encoder", default=None, help="local encoder (default: bundled)")
    parser.add_argument("--cache", type=Path, default=None, help="embedding cache folder")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    meta = build(SentenceEncoder(args.encoder), args.corpus, args.out, cache=args.cache)
    meta.pop("probe", None)
    print(json.dumps(meta, indent=2))


if __name__ == "__main__":
    main()

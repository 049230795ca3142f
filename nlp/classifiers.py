"""Intent and sentiment classifiers: a calibrated linear head over shared embeddings."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from nlp.base import FALLBACK_INTENT, IntentPrediction, SentimentPrediction, Vectors
from nlp.head import LinearHead

SENTIMENT_LABELS = ("negative", "neutral", "positive")


@dataclass
class IntentClassifier:
    head: LinearHead
    threshold: float = 0.45
    top_k: int = 3

    def predict(self, vectors: Vectors) -> list[IntentPrediction]:
        probs = self.head.predict_proba(vectors)
        out: list[IntentPrediction] = []
        for row in probs:
            order = np.argsort(-row)[: self.top_k]
            ranking = [(self.head.labels[i], float(row[i])) for i in order]
            label, confidence = ranking[0]
            if confidence < self.threshold:
                label = FALLBACK_INTENT
            out.append(IntentPrediction(label=label, confidence=confidence, ranking=ranking))
        return out


@dataclass
class SentimentClassifier:
    head: LinearHead

    def __post_init__(self) -> None:
        missing = set(SENTIMENT_LABELS) - set(self.head.labels)
        if missing:
            raise ValueError(f"sentiment model lacks labels: {sorted(missing)}")

    def predict(self, vectors: Vectors) -> list[SentimentPrediction]:
        probs = self.head.predict_proba(vectors)
        idx = {lbl: i for i, lbl in enumerate(self.head.labels)}
        out: list[SentimentPrediction] = []
        for row in probs:
            p = {lbl: float(row[idx[lbl]]) for lbl in SENTIMENT_LABELS}
            label = max(p, key=lambda k: p[k])
            out.append(
                SentimentPrediction(
                    label=label, score=p["positive"] - p["negative"], probabilities=p
                )
            )
        return out

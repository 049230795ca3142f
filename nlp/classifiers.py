"""Intent and sentiment classifiers: a calibrated linear head over shared embeddings."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from nlp.base import (
    FALLBACK_INTENT,
    Encoder,
    IntentPrediction,
    SentimentPrediction,
    Vectors,
)
from nlp.head import LinearHead, combine
from nlp.neighbours import NeighbourVote
from nlp.ngrams import NgramHead, NgramVote
from nlp.oos import OutOfScopeDetector

SENTIMENT_LABELS = ("negative", "neutral", "positive")


@dataclass
class IntentClassifier:
    """Calibrated intents; below ``threshold`` the answer is the fallback ("not sure").

    With a ``detector`` (:mod:`nlp.oos`) the detector decides instead of the confidence
    threshold: a message it rejects gets the fallback, as a low confidence did before; the
    shop's own ``out_of_scope`` intent, when the head predicts it and the detector accepts,
    keeps its answer. With ``neighbours`` (:mod:`nlp.neighbours`) the intent is read from
    the head's probabilities mixed with a vote of the nearest training examples, and with
    ``ngrams`` (:mod:`nlp.ngrams`) then with a vote read from the message's character
    n-grams (when ``predict`` is given the texts); the detector still reads the head's own.
    ``encoder`` is set for a fine-tuned model (its own encoder); otherwise the head reads the
    shared embeddings.
    """

    head: LinearHead
    threshold: float = 0.45
    top_k: int = 3
    encoder: Encoder | None = None
    base_head: LinearHead | None = None  # fine-tuned mode: the frozen-encoder head
    ensemble_weight: float = 1.0
    detector: OutOfScopeDetector | None = None
    neighbours: NeighbourVote | None = None
    ngrams: NgramVote | None = None
    # the vote's examples that are the detector's reference, when they are (see predict)
    shared_reference: npt.NDArray[np.bool_] | None = field(init=False, default=None, repr=False)

    def __post_init__(self) -> None:
        if self.detector is not None and self.neighbours is not None:
            self.shared_reference = self.neighbours.rows_of(self.detector.reference)

    def probabilities(
        self, vectors: Vectors, base_vectors: Vectors | None = None
    ) -> npt.NDArray[np.float64]:
        probs = self.head.predict_proba(vectors)
        if self.base_head is not None and base_vectors is not None:
            probs = combine(probs, self.base_head.predict_proba(base_vectors), self.ensemble_weight)
        return probs

    def predict(
        self,
        vectors: Vectors,
        base_vectors: Vectors | None = None,
        texts: Sequence[str] | None = None,
    ) -> list[IntentPrediction]:
        probs = self.probabilities(vectors, base_vectors)
        # The vote and the detector both need each message's similarity to the training
        # examples; when the detector's reference is among the vote's examples (a model
        # trained by careloop), one product serves both. For a lone message right after
        # its encode (the shipped model: 3,461 and 3,354 examples, read from memory the
        # encoder has just displaced), this method took 0.84-0.90 ms against 1.23-1.28 ms
        # with two products (four alternating rounds of 300 messages, one run).
        sims = self.neighbours.similarities(vectors) if self.neighbours is not None else None
        # in or out of scope is the head's call (the detector and the threshold were tuned on
        # its probabilities); which intent, the mix with the examples' vote
        if self.detector is not None:
            nearest = None
            if sims is not None and self.shared_reference is not None:
                nearest = sims[:, self.shared_reference].max(axis=1)
            rejected = self.detector.rejects(vectors, probs, nearest)
        else:
            rejected = probs.max(axis=1) < self.threshold
        if self.neighbours is not None:
            probs = self.neighbours.mix(probs, vectors, sims)
        if self.ngrams is not None and texts is not None:
            probs = self.ngrams.mix(probs, texts)
        out: list[IntentPrediction] = []
        for k, row in enumerate(probs):
            order = np.argsort(-row)[: self.top_k]
            ranking = [(self.head.labels[i], float(row[i])) for i in order]
            label, confidence = ranking[0]
            if rejected[k]:
                label = FALLBACK_INTENT
            out.append(IntentPrediction(label=label, confidence=confidence, ranking=ranking))
        return out


@dataclass
class SentimentClassifier:
    """Sentiment from a head over the sentence embedding, or over the embedding and the
    message's character n-grams (an :class:`~nlp.ngrams.NgramHead`: the shipped head)."""

    head: LinearHead | NgramHead
    encoder: Encoder | None = None

    def __post_init__(self) -> None:
        missing = set(SENTIMENT_LABELS) - set(self.head.labels)
        if missing:
            raise ValueError(f"sentiment model lacks labels: {sorted(missing)}")

    def predict(self, vectors: Vectors, texts: Sequence[str]) -> list[SentimentPrediction]:
        if isinstance(self.head, NgramHead):
            probs = self.head.predict_proba(vectors, texts)
        else:
            probs = self.head.predict_proba(vectors)
        idx = {lbl: i for i, lbl in enumerate(self.head.labels)}
        out: list[SentimentPrediction] = []
        for row in probs:
            out.append(
                sentiment_from_probabilities(
                    {lbl: float(row[idx[lbl]]) for lbl in SENTIMENT_LABELS}
                )
            )
        return out


def sentiment_from_probabilities(p: dict[str, float]) -> SentimentPrediction:
    label = max(SENTIMENT_LABELS, key=lambda k: p.get(k, 0.0))
    return SentimentPrediction(
        label=label,
        score=p.get("positive", 0.0) - p.get("negative", 0.0),
        probabilities={k: p.get(k, 0.0) for k in SENTIMENT_LABELS},
    )


class TextSentimentModel:
    """Any local Hugging Face text-classification model as the sentiment classifier.

    Labels are mapped by name (``negative``/``neutral``/``positive`` and the usual
    abbreviations, ``LABEL_0..2``, or 1-5 stars); the score is P(positive) - P(negative).
    """

    def __init__(self, path: str, *, max_length: int = 256, batch_size: int = 32) -> None:
        import torch
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        self.name = path
        self.max_length = max_length
        self.batch_size = batch_size
        self._torch = torch
        self._tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
        self._model = AutoModelForSequenceClassification.from_pretrained(
            path, local_files_only=True
        )
        self._model.eval()
        id2label = {int(k): str(v) for k, v in self._model.config.id2label.items()}
        self.mapping = map_sentiment_labels([id2label[i] for i in sorted(id2label)])

    def predict_texts(self, texts: Sequence[str]) -> list[SentimentPrediction]:
        out: list[SentimentPrediction] = []
        for start in range(0, len(texts), self.batch_size):
            chunk = list(texts[start : start + self.batch_size])
            batch = self._tokenizer(
                chunk,
                padding=True,
                truncation=True,
                max_length=self.max_length,
                return_tensors="pt",
            )
            with self._torch.inference_mode():
                probs = self._model(**batch).logits.softmax(dim=-1).numpy()
            for row in probs:
                p = dict.fromkeys(SENTIMENT_LABELS, 0.0)
                for i, target in enumerate(self.mapping):
                    p[target] += float(row[i])
                out.append(sentiment_from_probabilities(p))
        return out


def map_sentiment_labels(names: Sequence[str]) -> list[str]:
    """Our label (negative/neutral/positive) for each of a model's labels, in order."""
    lowered = [n.lower().strip() for n in names]
    mapped: list[str] = []
    for name in lowered:
        if name.startswith("neg"):
            mapped.append("negative")
        elif name.startswith("neu"):
            mapped.append("neutral")
        elif name.startswith("pos"):
            mapped.append("positive")
        elif name[:1].isdigit() and "star" in name:
            stars = int(name[0])
            mapped.append("negative" if stars <= 2 else "neutral" if stars == 3 else "positive")
        else:
            mapped = []
            break
    if mapped:
        return mapped
    if all(n.startswith("label_") for n in lowered) and len(lowered) in (2, 3):
        return ["negative", "positive"] if len(lowered) == 2 else list(SENTIMENT_LABELS)
    raise ValueError(
        f"cannot tell which of the model's labels {list(names)} mean negative, neutral and positive"
    )

"""Protocols and result types shared by the NLU components."""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from nlp.tone import Tone

FALLBACK_INTENT = "nlu_fallback"
OOS_LABEL = "out_of_scope"  # the shop's own intent for messages it does not handle

Vectors = npt.NDArray[np.float32]


class Encoder(Protocol):
    """Turns texts into L2-normalised sentence embeddings."""

    name: str
    dimension: int

    def encode(self, texts: Sequence[str]) -> Vectors: ...


@dataclass(frozen=True, slots=True)
class IntentPrediction:
    label: str
    confidence: float
    ranking: list[tuple[str, float]] = field(default_factory=list)

    @property
    def is_fallback(self) -> bool:
        return self.label == FALLBACK_INTENT

    def as_dict(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "confidence": round(self.confidence, 4),
            "ranking": [{"label": lbl, "confidence": round(c, 4)} for lbl, c in self.ranking],
        }


@dataclass(frozen=True, slots=True)
class SentimentPrediction:
    label: str  # negative | neutral | positive
    score: float  # in [-1, 1]: P(positive) - P(negative)
    probabilities: dict[str, float] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "score": round(self.score, 4),
            "probabilities": {k: round(v, 4) for k, v in self.probabilities.items()},
        }


@dataclass(frozen=True, slots=True)
class Understanding:
    """What the NLU made of one message."""

    text: str
    intent: IntentPrediction
    sentiment: SentimentPrediction
    tone: Tone = field(default_factory=Tone)
    # P(complaint) from the shipped complaint head (nlp/complaint_build.py); None without it
    complaint: float | None = None
    # the message's embedding by the NLU's encoder, where it computed one (not stored)
    vector: Any = field(default=None, compare=False, repr=False)
    # the language it is written in (nlp/language_id.py), None when it says too little
    language: str | None = None

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "intent": self.intent.as_dict(),
            "sentiment": self.sentiment.as_dict(),
        }
        if self.complaint is not None:
            out["complaint"] = round(self.complaint, 4)
        if self.tone.cues:
            out["tone"] = self.tone.as_dict()
        if self.language is not None:
            out["language"] = self.language
        return out


# Characters that hide inside copied text and split an id or an address in two.
_INVISIBLE = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\ufeff\u00ad"))


def plain_text(raw: str) -> str:
    """The text the models and the entity extractor read (entities' ``start``/``end``
    index it): invisible characters removed, and NFKC when it has non-ASCII ones
    (full-width digits and letters, typed on East Asian keyboards, read as ASCII ones;
    the tokenizer alone splits them into unknown tokens)."""
    text = raw.translate(_INVISIBLE)
    return text if text.isascii() else unicodedata.normalize("NFKC", text)

"""The complaint head: how likely a person should take over a message, read from its
sentence embedding and its character n-grams together.

The embedding reads what a message is about, and reads how it is written poorly: "fix it
NOW", "3rd time!!", "🙄", a complaint in a language the English encoder does not know. One
logistic regression over both reads both. On the written chat messages out of fold, ROC
AUC 0.913 with the embedding alone and 0.961 with both; on the two conversation dev splits
0.971 / 0.964 and 0.997 / 0.996 (bench/results/2026-12-05-complaint-ngrams.md).

The n-grams are those of :mod:`nlp.ngrams`; their vocabulary and idf weights ship in the same
``.npz`` file as the regression's weights, as plain arrays (no pickle).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import numpy.typing as npt
from scipy import sparse
from sklearn.feature_extraction.text import TfidfVectorizer

from nlp.base import Vectors
from nlp.head import LinearHead, softmax
from nlp.ngrams import NgramRows, fitted_char_ngrams, load_char_ngrams, ngram_arrays

COMPLAINT, OTHER = "complaint", "other"


@dataclass
class ComplaintHead:
    """``softmax(([embedding | n-gram tf-idf] @ W.T + b) / T)`` over complaint / other."""

    head: LinearHead  # over the embedding's columns, then one column per n-gram
    vectorizer: TfidfVectorizer
    rows: NgramRows = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self.rows = NgramRows(self.vectorizer)

    @classmethod
    def fit(
        cls, vectors: Vectors, texts: Sequence[str], labels: list[str], *, c: float, seed: int = 0
    ) -> ComplaintHead:
        vectorizer, ngrams = fitted_char_ngrams(texts)
        features = sparse.hstack([sparse.csr_matrix(vectors), ngrams]).tocsr()
        return cls(LinearHead.fit(features, labels, c=c, seed=seed), vectorizer)

    @property
    def labels(self) -> list[str]:
        return self.head.labels

    @property
    def dimension(self) -> int:
        """The embedding's dimension this head reads."""
        return int(self.head.weights.shape[1]) - len(self.vectorizer.vocabulary_)

    def logits(self, vectors: Vectors, texts: Sequence[str]) -> npt.NDArray[np.float64]:
        dim = self.dimension
        columns = self.head.columns  # (see LinearHead.columns)
        embedded = np.asarray(vectors, dtype=np.float64) @ columns[:dim]
        ngrams = self.rows(texts) @ columns[dim:]
        return np.asarray(embedded + ngrams + self.head.bias)

    def predict_proba(self, vectors: Vectors, texts: Sequence[str]) -> npt.NDArray[np.float64]:
        return softmax(self.logits(vectors, texts) / self.head.temperature)

    def probability(self, vectors: Vectors, texts: Sequence[str]) -> npt.NDArray[np.float64]:
        """P(complaint) of each message."""
        return self.predict_proba(vectors, texts)[:, self.labels.index(COMPLAINT)]

    def calibrate(self, vectors: Vectors, texts: Sequence[str], labels: list[str]) -> float:
        """Fit the softmax temperature on held-out rows (see LinearHead.calibrate)."""
        return self.head.calibrate_logits(self.logits(vectors, texts), labels)

    def save(self, path: Path) -> None:
        np.savez_compressed(path, **self.head.arrays(), **ngram_arrays(self.vectorizer))

    @classmethod
    def load(cls, path: Path) -> ComplaintHead:
        return cls(LinearHead.load(path), load_char_ngrams(path))

"""The complaint head: how likely a person should take over a message, read from its
sentence embedding and its character n-grams together.

The embedding reads what a message is about, and reads how it is written poorly: "fix it
NOW", "3rd time!!", "🙄", a complaint in a language the English encoder does not know. One
logistic regression over both reads both. On the written chat messages out of fold, ROC
AUC 0.913 with the embedding alone and 0.961 with both; on the two conversation dev splits
0.971 / 0.964 and 0.997 / 0.996 (bench/results/2026-12-05-complaint-ngrams.md).

The n-grams are scikit-learn's ``TfidfVectorizer`` (characters within words, 1 to 4 long,
sublinear term frequency, case kept); its vocabulary and idf weights ship in the same
``.npz`` file as the regression's weights, as plain arrays (no pickle).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy import sparse
from sklearn.feature_extraction.text import TfidfVectorizer

from nlp.base import Vectors
from nlp.head import LinearHead, softmax

COMPLAINT, OTHER = "complaint", "other"
NGRAMS: dict[str, Any] = {
    "analyzer": "char_wb",
    "ngram_range": (1, 4),
    "lowercase": False,
    "sublinear_tf": True,
}
MIN_DF = 2  # an n-gram in fewer training messages is left out


def _vectorizer(vocabulary: Sequence[str] | None = None) -> TfidfVectorizer:
    return TfidfVectorizer(**NGRAMS, min_df=MIN_DF, vocabulary=vocabulary, dtype=np.float64)


@dataclass
class ComplaintHead:
    """``softmax(([embedding | n-gram tf-idf] @ W.T + b) / T)`` over complaint / other."""

    head: LinearHead  # over the embedding's columns, then one column per n-gram
    vectorizer: TfidfVectorizer

    @classmethod
    def fit(
        cls, vectors: Vectors, texts: Sequence[str], labels: list[str], *, c: float, seed: int = 0
    ) -> ComplaintHead:
        vectorizer = _vectorizer()
        ngrams = vectorizer.fit_transform(texts)
        # the n-grams in a fixed (sorted) column order, so the same rows give the same file
        order = sorted(vectorizer.vocabulary_, key=vectorizer.vocabulary_.__getitem__)
        features = sparse.hstack([sparse.csr_matrix(vectors), ngrams]).tocsr()
        head = LinearHead.fit(features, labels, c=c, seed=seed)
        fitted = _vectorizer(order)
        fitted.idf_ = vectorizer.idf_
        return cls(head, fitted)

    @property
    def labels(self) -> list[str]:
        return self.head.labels

    @property
    def dimension(self) -> int:
        """The embedding's dimension this head reads."""
        return int(self.head.weights.shape[1]) - len(self.vectorizer.vocabulary_)

    def logits(self, vectors: Vectors, texts: Sequence[str]) -> npt.NDArray[np.float64]:
        weights, dim = self.head.weights, self.dimension
        ngrams = self.vectorizer.transform(texts)
        embedded = np.asarray(vectors, dtype=np.float64) @ weights[:, :dim].T
        return np.asarray(embedded + ngrams @ weights[:, dim:].T + self.head.bias)

    def predict_proba(self, vectors: Vectors, texts: Sequence[str]) -> npt.NDArray[np.float64]:
        return softmax(self.logits(vectors, texts) / self.head.temperature)

    def probability(self, vectors: Vectors, texts: Sequence[str]) -> npt.NDArray[np.float64]:
        """P(complaint) of each message."""
        return self.predict_proba(vectors, texts)[:, self.labels.index(COMPLAINT)]

    def calibrate(self, vectors: Vectors, texts: Sequence[str], labels: list[str]) -> float:
        """Fit the softmax temperature on held-out rows (see LinearHead.calibrate)."""
        return self.head.calibrate_logits(self.logits(vectors, texts), labels)

    def save(self, path: Path) -> None:
        vocabulary = self.vectorizer.vocabulary_
        np.savez_compressed(
            path,
            weights=self.head.weights,
            bias=self.head.bias,
            temperature=np.array([self.head.temperature]),
            labels=np.array(self.head.labels, dtype=np.str_),
            ngrams=np.array(sorted(vocabulary, key=vocabulary.__getitem__), dtype=np.str_),
            idf=self.vectorizer.idf_,
        )

    @classmethod
    def load(cls, path: Path) -> ComplaintHead:
        head = LinearHead.load(path)
        with np.load(path, allow_pickle=False) as data:
            vectorizer = _vectorizer([str(x) for x in data["ngrams"]])
            vectorizer.idf_ = data["idf"].astype(np.float64)
        return cls(head, vectorizer)

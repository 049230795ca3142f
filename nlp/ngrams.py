"""Character n-grams: how a message is written, next to what its sentence embedding says it
is about.

A sentence embedding places "pw reset pls", "passwort vergessen" and "reset my password"
by meaning as far as the English encoder knows the words; character n-grams read the words
themselves: shop terms, misspellings, other languages, "!!!", capitals. Two models use them:
the complaint head (:mod:`nlp.complaint`, one regression over both) and the intent model's
n-gram vote (:class:`NgramVote`), mixed into the head's probabilities like the
nearest-neighbour vote (:mod:`nlp.neighbours`).

The n-grams are scikit-learn's ``TfidfVectorizer``: characters within words, 1 to 4 long,
case kept, sublinear term frequency, n-grams in at least two training messages. The
vocabulary (in column order) and the idf weights are stored as plain arrays next to the
weights, so nothing is pickled. A message's rows are computed from the vectorizer's own
analyzer, vocabulary and idf weights (:class:`NgramRows`), without the input checks of
its ``transform``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy import sparse
from sklearn.feature_extraction.text import TfidfVectorizer

from nlp.head import LinearHead

NGRAMS_FILE = "ngrams.npz"
NGRAMS: dict[str, Any] = {
    "analyzer": "char_wb",
    "ngram_range": (1, 4),
    "lowercase": False,
    "sublinear_tf": True,
}
MIN_DF = 2  # an n-gram in fewer training messages is left out


def char_ngrams(vocabulary: Sequence[str] | None = None) -> TfidfVectorizer:
    """The vectorizer, unfitted, or for a stored ``vocabulary`` (then set ``idf_``)."""
    return TfidfVectorizer(**NGRAMS, min_df=MIN_DF, vocabulary=vocabulary, dtype=np.float64)


def fitted_char_ngrams(texts: Sequence[str]) -> tuple[TfidfVectorizer, Any]:
    """A vectorizer learnt on ``texts`` with its vocabulary in a fixed (sorted) column order,
    so the same rows give the same file, and the ``texts``' tf-idf matrix."""
    learnt = char_ngrams()
    matrix = learnt.fit_transform(texts)
    order = sorted(learnt.vocabulary_, key=learnt.vocabulary_.__getitem__)
    fitted = char_ngrams(order)
    fitted.idf_ = learnt.idf_
    return fitted, matrix


def ngram_arrays(vectorizer: TfidfVectorizer) -> dict[str, Any]:
    vocabulary: Mapping[str, int] = vectorizer.vocabulary_
    return {
        "ngrams": np.array(sorted(vocabulary, key=vocabulary.__getitem__), dtype=np.str_),
        "idf": np.asarray(vectorizer.idf_, dtype=np.float64),
    }


def load_char_ngrams(path: Path) -> TfidfVectorizer:
    with np.load(path, allow_pickle=False) as data:
        vectorizer = char_ngrams([str(x) for x in data["ngrams"]])
        vectorizer.idf_ = data["idf"].astype(np.float64)
    return vectorizer


class NgramRows:
    """The tf-idf rows of messages for a fitted vectorizer with this module's settings: what
    ``vectorizer.transform(texts)`` gives (counts of the vocabulary's n-grams, sublinear
    term frequency ``1 + log(count)`` times the idf, each row scaled to unit length),
    computed from the vectorizer's own analyzer, vocabulary and idf weights.

    scikit-learn checks its input on every call (whether it is a data frame, the
    parameters, finite values), which costs more than the n-grams of a short message.
    Measured in one run, 1,000 single-message calls each, CPU per call and per vectorizer
    (two models read n-grams, so a message takes two calls): a message of the chat
    benchmark 0.248 ms through ``transform``, 0.040 ms here; the writers' and the dev
    splits' messages 0.31 against 0.09 ms. The rows differ from ``transform``'s by at most
    2.2e-16 over 25,696 texts (tests/test_nlp.py checks it on the writers' messages)."""

    def __init__(self, vectorizer: TfidfVectorizer) -> None:
        self.analyze = vectorizer.build_analyzer()
        self.vocabulary: Mapping[str, int] = vectorizer.vocabulary_
        self.idf = np.asarray(vectorizer.idf_, dtype=np.float64)

    def __call__(self, texts: Sequence[str]) -> sparse.csr_matrix:
        indptr, indices, values = [0], [], []
        vocabulary = self.vocabulary
        for text in texts:
            counts = Counter(
                column
                for gram in self.analyze(text)
                if (column := vocabulary.get(gram)) is not None
            )
            columns = np.array(sorted(counts), dtype=np.int64)
            tf = np.array([counts[c] for c in columns.tolist()], dtype=np.float64)
            row = (1.0 + np.log(tf)) * self.idf[columns]
            norm = float(np.sqrt(np.dot(row, row)))
            if norm > 0.0:
                row /= norm
            indices.append(columns)
            values.append(row)
            indptr.append(indptr[-1] + len(columns))
        return sparse.csr_matrix(
            (
                np.concatenate(values) if values else np.zeros(0),
                np.concatenate(indices) if indices else np.zeros(0, dtype=np.int64),
                np.array(indptr, dtype=np.int64),
            ),
            shape=(len(texts), len(self.idf)),
        )


@dataclass
class NgramVote:
    """The intent read from a message's character n-grams alone (a logistic regression
    over them), mixed into the intent head's probabilities:

        p = (1 - weight) * p + weight * p_ngrams
    """

    head: LinearHead  # over the n-grams' tf-idf, in the intent head's column order
    vectorizer: TfidfVectorizer
    weight: float = 0.5
    rows: NgramRows = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self.rows = NgramRows(self.vectorizer)

    @classmethod
    def fit(
        cls, texts: Sequence[str], labels: list[str], columns: list[str], *, c: float = 10.0
    ) -> NgramVote:
        """The vote learnt from ``texts`` labelled ``labels``, its columns in the order of
        ``columns`` (the intent head's labels)."""
        vectorizer, matrix = fitted_char_ngrams(texts)
        head = LinearHead.fit(matrix, labels, c=c)
        order = [head.labels.index(label) for label in columns]
        head = LinearHead(list(columns), head.weights[order], head.bias[order])
        return cls(head, vectorizer)

    def probabilities(self, texts: Sequence[str]) -> npt.NDArray[np.float64]:
        return self.head.predict_proba(self.rows(texts))

    def mix(self, probs: npt.NDArray[np.float64], texts: Sequence[str]) -> npt.NDArray[np.float64]:
        return (1.0 - self.weight) * probs + self.weight * self.probabilities(texts)

    def save(self, path: Path) -> None:
        arrays = {**self.head.arrays(), "weight": np.array([self.weight])}
        np.savez_compressed(path, **arrays, **ngram_arrays(self.vectorizer))

    @classmethod
    def load(cls, path: Path) -> NgramVote:
        with np.load(path, allow_pickle=False) as data:
            weight = float(data["weight"][0])
        return cls(LinearHead.load(path), load_char_ngrams(path), weight)

"""Character n-grams: how a message is written, next to what its sentence embedding says it
is about.

A sentence embedding places "pw reset pls", "passwort vergessen" and "reset my password"
by meaning as far as the English encoder knows the words; character n-grams read the words
themselves: shop terms, misspellings, other languages, "!!!", capitals. Three models use them:
the complaint head (:mod:`nlp.complaint`) and the shipped sentiment head
(:mod:`nlp.sentiment_build`), each one regression over both (:class:`NgramHead`), and the
intent model's n-gram vote (:class:`NgramVote`), mixed into the head's probabilities like the
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
from typing import Any, Self

import numpy as np
import numpy.typing as npt
from scipy import sparse
from sklearn.feature_extraction.text import TfidfVectorizer

from nlp.base import Vectors
from nlp.head import LinearHead, softmax

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
    Measured in one run (2026-12-07, when two models read n-grams), 1,000 single-message
    calls each, CPU per call and per vectorizer: a message of the chat benchmark 0.248 ms
    through ``transform``, 0.040 ms here; the writers' and the dev splits' messages 0.31
    against 0.09 ms. The rows differ from ``transform``'s by at most 2.2e-16 over 25,696
    texts (tests/test_nlp.py checks it on the writers' messages). The three models that
    read n-grams now take a message's row through :meth:`dot`."""

    def __init__(self, vectorizer: TfidfVectorizer) -> None:
        self.analyze = vectorizer.build_analyzer()
        self.vocabulary: Mapping[str, int] = vectorizer.vocabulary_
        self.idf = np.asarray(vectorizer.idf_, dtype=np.float64)

    def row(self, text: str) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]:
        """One message's row: its n-grams' columns (ascending) and their tf-idf values."""
        vocabulary = self.vocabulary
        counts = Counter(
            column for gram in self.analyze(text) if (column := vocabulary.get(gram)) is not None
        )
        columns = np.array(sorted(counts), dtype=np.int64)
        tf = np.array([counts[c] for c in columns.tolist()], dtype=np.float64)
        values = (1.0 + np.log(tf)) * self.idf[columns]
        norm = float(np.sqrt(np.dot(values, values)))
        if norm > 0.0:
            values /= norm
        return columns, values

    def __call__(self, texts: Sequence[str]) -> sparse.csr_matrix:
        rows = [self.row(text) for text in texts]
        indptr = np.cumsum([0] + [len(columns) for columns, _ in rows], dtype=np.int64)
        return sparse.csr_matrix(
            (
                np.concatenate([v for _, v in rows]) if rows else np.zeros(0),
                np.concatenate([c for c, _ in rows]) if rows else np.zeros(0, dtype=np.int64),
                indptr,
            ),
            shape=(len(texts), len(self.idf)),
        )

    def dot(
        self, texts: Sequence[str], weights: npt.NDArray[np.float64]
    ) -> npt.NDArray[np.float64]:
        """``self(texts) @ weights`` (``weights``: one row per n-gram) without building the
        sparse matrix: each message's values times the rows of its n-grams. Measured in one
        run, CPU per single-message call (median of 5 rounds of 400 calls over five chat
        messages), through the sparse matrix and here: the shipped sentiment head's logits
        0.169 and 0.086 ms, the complaint head's 0.172 and 0.087 ms, the intent vote's
        probabilities 0.171 and 0.094 ms. Over the 5,597 dev-split messages the results
        differ from the sparse product's by at most 6.3e-15."""
        out = np.zeros((len(texts), weights.shape[1]), dtype=np.float64)
        for n, text in enumerate(texts):
            columns, values = self.row(text)
            if len(columns):
                out[n] = values @ weights[columns]
        return out


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
        logits = self.rows.dot(texts, self.head.columns) + self.head.bias
        return softmax(logits / self.head.temperature)

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


@dataclass
class NgramHead:
    """``softmax(([embedding | n-gram tf-idf] @ W.T + b) / T)``: one logistic regression
    over a message's sentence embedding and its character n-grams, any labels."""

    head: LinearHead  # over the embedding's columns, then one column per n-gram
    vectorizer: TfidfVectorizer
    rows: NgramRows = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self.rows = NgramRows(self.vectorizer)

    @classmethod
    def fit(
        cls,
        vectors: Vectors,
        texts: Sequence[str],
        labels: list[str],
        *,
        c: float,
        seed: int = 0,
        sample_weight: npt.NDArray[np.float64] | None = None,
        vocabulary_texts: Sequence[str] | None = None,
    ) -> Self:
        """The head learnt from ``texts`` (embedded as ``vectors``) labelled ``labels``; the
        n-gram vocabulary is learnt from ``vocabulary_texts`` (default: ``texts``)."""
        if vocabulary_texts is None:
            vectorizer, ngrams = fitted_char_ngrams(texts)
        else:
            vectorizer = fitted_char_ngrams(vocabulary_texts)[0]
            ngrams = NgramRows(vectorizer)(texts)
        features = sparse.hstack([sparse.csr_matrix(vectors), ngrams]).tocsr()
        head = LinearHead.fit(features, labels, c=c, seed=seed, sample_weight=sample_weight)
        return cls(head, vectorizer)

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
        ngrams = self.rows.dot(texts, columns[dim:])
        return np.asarray(embedded + ngrams + self.head.bias)

    def predict_proba(self, vectors: Vectors, texts: Sequence[str]) -> npt.NDArray[np.float64]:
        return softmax(self.logits(vectors, texts) / self.head.temperature)

    def calibrate(self, vectors: Vectors, texts: Sequence[str], labels: list[str]) -> float:
        """Fit the softmax temperature on held-out rows (see LinearHead.calibrate)."""
        return self.head.calibrate_logits(self.logits(vectors, texts), labels)

    def save(self, path: Path) -> None:
        np.savez_compressed(path, **self.head.arrays(), **ngram_arrays(self.vectorizer))

    @classmethod
    def load(cls, path: Path) -> Self:
        return cls(LinearHead.load(path), load_char_ngrams(path))


def load_head(path: Path) -> LinearHead | NgramHead:
    """A head saved by :meth:`LinearHead.save` or :meth:`NgramHead.save` (the file says
    which: an n-gram head stores its vocabulary next to the weights)."""
    with np.load(path, allow_pickle=False) as data:
        has_ngrams = "ngrams" in data.files
    return NgramHead.load(path) if has_ngrams else LinearHead.load(path)

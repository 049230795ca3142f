"""A nearest-neighbour vote over the intent model's training examples.

The linear head draws one boundary per intent through the whole embedding space; a message
phrased like a handful of training examples can still land on the wrong side of a boundary
that longer examples of another intent pulled over ("could you tell me something about
order O0003002?" read as ``complaint``, while its ten nearest examples are all
``order_status``). The intent's probabilities therefore mix the head's with a vote of the
``k`` most similar training examples, each weighted by ``exp(cosine / temperature)``:

    p = (1 - weight) * p_head + weight * p_vote

Chosen on the two conversation dev splits (``bench/results/2026-12-05-intent-neighbours.md``):
intent accuracy 0.869 → 0.910 and 0.850 → 0.885 at ``k = 10``, ``temperature = 0.1``,
``weight = 0.5``, flat across k = 5…20 and temperature 0.05…0.1. The cost per message is the
product with the stored examples (float16 in the artifact) that the out-of-scope detector
already computes for its own nearest neighbour.

A message that is itself a training example (cosine ≥ 0.995) is voted that example's label
outright. An agent's correction of one message (``careloop nlu train`` with the inbox's
relabels) is then learned for that message even where the head, among 2,467 examples, does
not move: "my voucher code SPRING26 is rejected at checkout" relabelled ``complaint`` kept
P(complaint) = 0.07 from the head.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from nlp.base import Vectors

NEIGHBOURS_FILE = "neighbours.npz"
SAME_TEXT = 0.995  # cosine at which a training example is the message itself (float16 storage)


@dataclass
class NeighbourVote:
    vectors: npt.NDArray[np.float32]  # (n, dim), L2-normalised training embeddings
    labels: npt.NDArray[np.int64]  # (n,) the column of each example's intent in the head
    n_labels: int
    k: int = 10
    temperature: float = 0.1
    weight: float = 0.5  # share of the vote in the mixed probabilities

    @classmethod
    def fit(cls, vectors: Vectors, labels: list[str], columns: list[str]) -> NeighbourVote:
        """The vote over ``vectors`` labelled ``labels`` (each one of ``columns``)."""
        x = np.asarray(vectors, dtype=np.float32)
        x = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
        index = {label: i for i, label in enumerate(columns)}
        return cls(x, np.array([index[lbl] for lbl in labels], dtype=np.int64), len(columns))

    def similarities(self, vectors: Vectors) -> npt.NDArray[np.float32]:
        """(messages, examples) cosine similarity of each message to each example."""
        x = np.asarray(vectors, dtype=np.float32)
        x = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
        return np.asarray(x @ self.vectors.T, dtype=np.float32)

    def rows_of(self, reference: npt.NDArray[np.float32]) -> npt.NDArray[np.bool_] | None:
        """Which of the examples ``reference`` holds, as a row mask, when it holds the
        examples of all intents but at most one (the out-of-scope detector's reference is
        the in-scope examples: every intent's but ``out_of_scope``); None otherwise.

        Both are stored as float16 after their own normalisation, so equal rows may differ
        by a rounding step; rows count as the same within ``1e-3``."""
        n = len(self.vectors)
        if not len(reference) or reference.shape[1:] != self.vectors.shape[1:]:
            return None
        candidates: list[npt.NDArray[np.bool_]] = [np.ones(n, dtype=np.bool_)]
        candidates += [np.asarray(self.labels != c, dtype=np.bool_) for c in np.unique(self.labels)]
        for rows in candidates:
            if int(rows.sum()) == len(reference) and np.allclose(
                self.vectors[rows], reference, rtol=0.0, atol=1e-3
            ):
                return rows
        return None

    def probabilities(
        self, vectors: Vectors, sims: npt.NDArray[np.float32] | None = None
    ) -> npt.NDArray[np.float64]:
        """Each message's vote: the weighted share of each intent among its neighbours
        (``sims``: :meth:`similarities` of ``vectors``, when already computed)."""
        if sims is None:
            sims = self.similarities(vectors)
        n = len(sims)
        k = min(self.k, sims.shape[1])
        top = np.argpartition(-sims, k - 1, axis=1)[:, :k]
        near = np.take_along_axis(sims, top, axis=1).astype(np.float64)
        weights = np.exp((near - near.max(axis=1, keepdims=True)) / self.temperature)
        votes = np.zeros((n, self.n_labels))
        np.add.at(votes, (np.arange(n)[:, None], self.labels[top]), weights)
        votes /= votes.sum(axis=1, keepdims=True)
        # a message the model was trained on as it stands (an agent's correction) is voted
        # its own label outright, so one corrected example is not outvoted by its neighbours
        best = sims.argmax(axis=1)
        same = sims[np.arange(n), best] >= SAME_TEXT
        votes[same] = 0.0
        votes[np.flatnonzero(same), self.labels[best[same]]] = 1.0
        return np.asarray(votes, dtype=np.float64)

    def mix(
        self,
        probs: npt.NDArray[np.float64],
        vectors: Vectors,
        sims: npt.NDArray[np.float32] | None = None,
    ) -> npt.NDArray[np.float64]:
        return (1.0 - self.weight) * probs + self.weight * self.probabilities(vectors, sims)

    def save(self, path: Path) -> None:
        np.savez(
            path,
            vectors=self.vectors.astype(np.float16),
            labels=self.labels,
            settings=np.array([self.n_labels, self.k, self.temperature, self.weight]),
        )

    @classmethod
    def load(cls, path: Path) -> NeighbourVote:
        with np.load(path, allow_pickle=False) as data:
            n_labels, k, temperature, weight = (float(v) for v in data["settings"])
            return cls(
                data["vectors"].astype(np.float32),
                data["labels"].astype(np.int64),
                int(n_labels),
                int(k),
                temperature,
                weight,
            )

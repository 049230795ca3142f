"""The complaint head: how likely a person should take over a message, read from its
sentence embedding and its character n-grams together.

The embedding reads what a message is about, and reads how it is written poorly: "fix it
NOW", "3rd time!!", "🙄", a complaint in a language the English encoder does not know. One
logistic regression over both reads both. On the written chat messages out of fold, ROC
AUC 0.913 with the embedding alone and 0.961 with both; on the two conversation dev splits
0.971 / 0.964 and 0.997 / 0.996 (bench/results/2026-12-05-complaint-ngrams.md).

The head is an :class:`~nlp.ngrams.NgramHead`; its n-grams' vocabulary and idf weights ship
in the same ``.npz`` file as the regression's weights, as plain arrays (no pickle).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from nlp.base import Vectors
from nlp.ngrams import NgramHead

COMPLAINT, OTHER = "complaint", "other"


class ComplaintHead(NgramHead):
    """``softmax(([embedding | n-gram tf-idf] @ W.T + b) / T)`` over complaint / other."""

    def probability(self, vectors: Vectors, texts: Sequence[str]) -> npt.NDArray[np.float64]:
        """P(complaint) of each message."""
        return self.predict_proba(vectors, texts)[:, self.labels.index(COMPLAINT)]

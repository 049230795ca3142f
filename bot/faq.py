"""The shop's frequent questions (the response book's ``faq:``), matched by meaning.

Each question of the book is embedded once with the NLU's encoder (again when a new book
is published); a message is matched by the cosine similarity of its embedding, which the
NLU has already computed, to the nearest question. A match at or above ``min_similarity``
answers with that entry. The engine asks only where the bot would answer anyway: never over
an escalation or an opt-out, and an order request waiting for an address, a reason or a yes
reads the message first (bot/engine.py).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from bot.responses import FaqEntry


@dataclass(frozen=True)
class FaqMatch:
    key: str  # the answer's key in the response book (``faq.<n>``)
    question: str  # the book's question it matched
    similarity: float


class FaqMatcher:
    """Nearest FAQ question to a message; thread-safe, rebuilt when the entries change."""

    def __init__(
        self,
        encode: Callable[[Sequence[str]], npt.NDArray[np.float32]],
        min_similarity: float,
    ) -> None:
        self.encode = encode
        self.min_similarity = min_similarity
        self._lock = threading.Lock()
        self._entries: tuple[FaqEntry, ...] = ()
        self._vectors = np.zeros((0, 0), dtype=np.float32)
        self._owners: list[tuple[str, str]] = []  # per row: (key, question)

    def prepare(self, entries: tuple[FaqEntry, ...]) -> None:
        """Embed the questions of ``entries`` (nothing to do when they are the ones held)."""
        with self._lock:
            if entries is self._entries or entries == self._entries:
                return
            owners = [(e.key, q) for e in entries for q in e.questions]
            vectors = np.asarray(self.encode([q for _, q in owners]), np.float32)
            self._owners, self._vectors, self._entries = owners, _unit(vectors), entries

    def match(
        self,
        entries: tuple[FaqEntry, ...],
        text: str,
        vector: npt.NDArray[np.float32] | None,
        *,
        at_least: float | None = None,
    ) -> FaqMatch | None:
        """The entry whose question is nearest to the message (``vector``: its embedding
        by the same encoder, computed here when None), if near enough (``min_similarity``,
        or ``at_least``)."""
        if not entries:
            return None
        self.prepare(entries)
        with self._lock:
            vectors, owners = self._vectors, self._owners
        if vector is None:
            vector = np.asarray(self.encode([text]), np.float32)[0]
        similarities = vectors @ _unit(np.asarray(vector, np.float32).reshape(1, -1))[0]
        best = int(np.argmax(similarities))
        if similarities[best] < (self.min_similarity if at_least is None else at_least):
            return None
        key, question = owners[best]
        return FaqMatch(key, question, float(similarities[best]))


def _unit(vectors: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return (vectors / np.where(norms == 0, 1, norms)).astype(np.float32)

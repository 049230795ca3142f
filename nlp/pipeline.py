"""The NLU pipeline: one encoder pass feeds both the intent and the sentiment classifier."""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from nlp.base import Encoder, Understanding
from nlp.classifiers import IntentClassifier, SentimentClassifier
from nlp.dataset import bundled_data_path, load_examples
from nlp.store import Artifact, load_active, save_artifact
from nlp.training import train_head

log = logging.getLogger(__name__)


@dataclass
class NLUConfig:
    model_dir: Path
    intent_data: Path | None = None
    sentiment_data: Path | None = None
    intent_threshold: float = 0.45


class NLU:
    """Understands messages; models can be swapped at run time with :meth:`reload`."""

    def __init__(
        self, encoder: Encoder, intent: IntentClassifier, sentiment: SentimentClassifier
    ) -> None:
        self.encoder = encoder
        self._models = (intent, sentiment)
        self._swap = threading.Lock()

    @property
    def intent(self) -> IntentClassifier:
        return self._models[0]

    @property
    def sentiment(self) -> SentimentClassifier:
        return self._models[1]

    def understand(self, text: str) -> Understanding:
        return self.understand_batch([text])[0]

    def understand_batch(self, texts: Sequence[str]) -> list[Understanding]:
        vectors = self.encoder.encode(texts)
        intent, sentiment = self._models
        intents = intent.predict(vectors)
        sentiments = sentiment.predict(vectors)
        return [
            Understanding(text=t, intent=i, sentiment=s)
            for t, i, s in zip(texts, intents, sentiments, strict=True)
        ]

    def reload(self, config: NLUConfig) -> None:
        """Load the active artifacts again (after ``careloop nlu train``)."""
        fresh = load_nlu(self.encoder, config)
        with self._swap:
            self._models = fresh._models


def ensure_artifact(encoder: Encoder, config: NLUConfig, task: str) -> Artifact:
    """The active model for ``task``; trains one from the configured data if none exists."""
    artifact = load_active(config.model_dir, task)
    if artifact is not None and artifact.meta.get("encoder") == encoder.name:
        return artifact
    return train_task(encoder, config, task)


def train_task(
    encoder: Encoder, config: NLUConfig, task: str, data: Path | None = None
) -> Artifact:
    """Train ``task`` on ``data`` (or the configured/bundled file) and activate it."""
    configured = config.intent_data if task == "intent" else config.sentiment_data
    path = data or configured or bundled_data_path(task)
    examples = load_examples(path)
    log.info("nlu.train.start task=%s examples=%d data=%s", task, len(examples), path)
    trained = train_head(encoder, examples)
    artifact = save_artifact(
        config.model_dir,
        task,
        trained.head,
        {
            "mode": "fast",
            "encoder": encoder.name,
            "data_path": str(path),
            "data_sha256": trained.data_sha256,
            "n_examples": trained.n_examples,
            "metrics": trained.metrics,
        },
    )
    log.info(
        "nlu.train.done task=%s version=%s metrics=%s", task, artifact.version, trained.metrics
    )
    return artifact


def load_nlu(encoder: Encoder, config: NLUConfig) -> NLU:
    """Build the pipeline from the active artifacts, training any that are missing."""
    intent = ensure_artifact(encoder, config, "intent")
    sentiment = ensure_artifact(encoder, config, "sentiment")
    return NLU(
        encoder,
        IntentClassifier(intent.head, threshold=config.intent_threshold),
        SentimentClassifier(sentiment.head),
    )

"""The out-of-scope detector on small hand-made data: what it rejects, what it keeps, and
its place in a saved model version."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from nlp.base import FALLBACK_INTENT, OOS_LABEL
from nlp.classifiers import IntentClassifier
from nlp.dataset import Example
from nlp.encoder import SentenceEncoder
from nlp.oos import DETECTOR_FILE, OutOfScopeDetector
from nlp.pipeline import NLU, NLUConfig, load_nlu, train_task
from nlp.store import load_version
from nlp.training import train_head
from tests.test_nlp_modes import SMALL

IN_SCOPE = {
    "where's my package": "order_status",
    "has my order been sent": "order_status",
    "I'd like my money back": "refund_return",
    "how can I send this item back": "refund_return",
    "hi!": "greet",
}
UNRELATED = [
    "what is the capital of peru",
    "write me a poem about the sea",
    "how do black holes form",
    "recommend a good pasta recipe",
]


def small_examples() -> list[Example]:
    return [Example(t, label) for label, texts in SMALL.items() for t in texts]


def test_detector_rejects_unrelated_text_and_keeps_in_scope(encoder: SentenceEncoder) -> None:
    trained = train_head(encoder, small_examples(), detector=True)  # no out-of-scope examples
    assert trained.detector is not None
    assert "pseudo out-of-scope" in trained.detector.policy
    classifier = IntentClassifier(trained.head, detector=trained.detector)
    kept = classifier.predict(encoder.encode(list(IN_SCOPE)))
    assert [p.label for p in kept] == list(IN_SCOPE.values())
    rejected = classifier.predict(encoder.encode(UNRELATED))
    assert [p.label for p in rejected] == [FALLBACK_INTENT] * len(UNRELATED)
    # the ranking still says what the head would have guessed
    assert all(p.ranking and p.ranking[0][0] in SMALL for p in rejected)


def write_yaml(path: Path, groups: dict[str, list[str]]) -> Path:
    lines = ["intents:"]
    for label, texts in groups.items():
        lines.append(f"  {label}:")
        lines.extend(f'    - "{t}"' for t in texts)
    path.write_text("\n".join(lines) + "\n")
    return path


def test_artifact_with_detector_round_trip(tmp_path: Path, encoder: SentenceEncoder) -> None:
    groups = dict(SMALL)
    groups[OOS_LABEL] = [
        "what's the weather like",
        "tell me a joke",
        "who won the football match",
        "write a song for me",
        "what is the meaning of life",
        "recommend a film to watch",
    ]
    config = NLUConfig(model_dir=tmp_path, intent_data=write_yaml(tmp_path / "i.yml", groups))
    artifact = train_task(encoder, config, "intent")
    assert (artifact.path / DETECTOR_FILE).is_file()
    info = artifact.meta["metrics"]["oos_detector"]
    assert info["method"] == "msp+knn" and "out-of-scope examples" in info["policy"]

    loaded = load_version(tmp_path, "intent", artifact.version).oos_detector()
    assert isinstance(loaded, OutOfScopeDetector)
    with np.load(artifact.path / DETECTOR_FILE, allow_pickle=False) as data:
        assert data["reference"].dtype == np.float16  # plain arrays, no pickle
        assert len(data["reference"]) == sum(len(v) for v in SMALL.values())  # in-scope only
    vectors = encoder.encode(list(IN_SCOPE) + UNRELATED)
    probs = artifact.head.predict_proba(vectors)
    assert loaded.threshold == info["threshold"] or abs(loaded.threshold - info["threshold"]) < 1e-3
    assert np.allclose(loaded.scores(vectors, probs), loaded.scores(vectors, probs))

    nlu = load_nlu(encoder, config)
    assert nlu.intent.detector is not None
    got = [u.intent.label for u in nlu.understand_batch(list(IN_SCOPE) + UNRELATED)]
    assert got[: len(IN_SCOPE)] == list(IN_SCOPE.values())
    assert all(label in (FALLBACK_INTENT, OOS_LABEL) for label in got[len(IN_SCOPE) :])
    nlu.close()

    fixed = load_nlu(encoder, NLUConfig(model_dir=tmp_path, intent_threshold=0.5))
    assert fixed.intent.detector is None, "a configured threshold means the max-softmax rule"
    fixed.close()


def test_bundled_intent_model_uses_the_detector(nlu: NLU) -> None:
    assert nlu.intent.detector is not None
    results = nlu.understand_batch(["where is my order", "asdf qwerty zxcv", "hello"])
    assert [r.intent.label for r in results] == ["order_status", FALLBACK_INTENT, "greet"]


def test_a_lower_out_of_scope_weight_turns_fewer_in_scope_messages_away() -> None:
    """The threshold weighs out-of-scope recall against in-scope accuracy: with few
    out-of-scope messages expected (a low weight) fewer known intents are rejected."""
    from nlp.oos import balanced_threshold

    rng = np.random.default_rng(3)
    in_scores = rng.normal(0.0, 1.0, 400)
    oos_scores = rng.normal(1.5, 1.0, 40)
    scores = np.concatenate([in_scores, oos_scores])
    is_oos = np.arange(len(scores)) >= len(in_scores)
    right = ~is_oos
    even, _ = balanced_threshold(scores, right, is_oos)
    low, _ = balanced_threshold(scores, right, is_oos, oos_weight=0.15)
    rejected_even = int(np.sum(in_scores > even))
    rejected_low = int(np.sum(in_scores > low))
    assert low > even
    assert rejected_low < rejected_even
    # and the even weight still catches more of the out-of-scope messages
    assert np.sum(oos_scores > even) > np.sum(oos_scores > low)

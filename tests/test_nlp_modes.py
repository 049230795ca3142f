"""Fine-tuned mode, the tuned "not sure" threshold, the micro-batcher, model reload and
Hugging Face sentiment models, on small data."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from nlp.base import FALLBACK_INTENT
from nlp.batcher import MicroBatcher
from nlp.classifiers import TextSentimentModel, map_sentiment_labels
from nlp.dataset import Example
from nlp.encoder import SentenceEncoder
from nlp.evaluation import evaluate
from nlp.finetune import FinetuneConfig
from nlp.pipeline import NLU, NLUConfig, load_nlu, train_task
from nlp.store import load_active
from nlp.training import tune_threshold

SMALL = {
    "order_status": [
        "where is my order",
        "has my parcel shipped",
        "track my package",
        "when will it arrive",
        "status of my order",
        "is my order on its way",
        "where's my delivery",
        "order update",
    ],
    "refund_return": [
        "I want a refund",
        "how do I return this",
        "send it back",
        "money back please",
        "return label",
        "exchange for another size",
        "refund my purchase",
        "start a return",
    ],
    "greet": [
        "hello",
        "hi there",
        "good morning",
        "hey",
        "hiya",
        "good evening",
        "hello team",
        "hi, anyone there",
    ],
}


def small_yaml(tmp_path: Path) -> Path:
    lines = ["intents:"]
    for label, texts in SMALL.items():
        lines.append(f"  {label}:")
        lines.extend(f'    - "{t}"' for t in texts)
    path = tmp_path / "small.yml"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_micro_batcher_gives_every_caller_its_own_result() -> None:
    calls: list[int] = []

    def double(items: Sequence[int]) -> list[int]:
        calls.append(len(items))
        time.sleep(0.005)  # a forward pass
        return [2 * x for x in items]

    batcher: MicroBatcher[int, int] = MicroBatcher(double, max_batch=16, max_wait=0.002)
    try:
        with ThreadPoolExecutor(max_workers=32) as pool:
            results = list(pool.map(batcher.submit, range(200)))
        assert results == [2 * x for x in range(200)]
        assert sum(calls) == 200
        assert max(calls) > 1, "concurrent calls were batched"
        assert max(calls) <= 16
    finally:
        batcher.close()


def test_micro_batcher_runs_a_lone_call_at_once_in_the_callers_thread() -> None:
    threads: list[str] = []

    def record(items: Sequence[int]) -> list[int]:
        threads.append(threading.current_thread().name)
        return [x + 1 for x in items]

    # A batch window of a minute: a lone call that waited for one would not return here.
    batcher: MicroBatcher[int, int] = MicroBatcher(record, max_wait=60.0, name="nlu-test")
    try:
        assert [batcher.submit(x) for x in (1, 2, 3)] == [2, 3, 4]
        assert threads == [threading.current_thread().name] * 3
        assert (batcher.batches, batcher.items) == (3, 3)
    finally:
        batcher.close()


def test_micro_batcher_batches_what_arrives_while_a_call_runs() -> None:
    running, release = threading.Event(), threading.Event()
    calls: list[list[int]] = []

    def slow(items: Sequence[int]) -> list[int]:
        calls.append(list(items))
        if len(calls) == 1:
            running.set()
            release.wait(10)
        return [-x for x in items]

    batcher: MicroBatcher[int, int] = MicroBatcher(slow, max_batch=8, max_wait=0.05)
    try:
        with ThreadPoolExecutor(max_workers=1) as pool:
            first = pool.submit(batcher.submit, 0)  # idle: runs at once, in its thread
            assert running.wait(10)
            later = [batcher.submit_async(x) for x in (1, 2, 3, 4)]  # queued meanwhile
            release.set()
            assert first.result(10) == 0
            assert [f.result(10) for f in later] == [-1, -2, -3, -4]
        assert calls == [[0], [1, 2, 3, 4]]
    finally:
        batcher.close()


def test_micro_batcher_passes_errors_to_each_caller() -> None:
    def broken(items: Sequence[str]) -> list[str]:
        raise RuntimeError("model exploded")

    batcher: MicroBatcher[str, str] = MicroBatcher(broken)
    try:
        with pytest.raises(RuntimeError, match="exploded"):
            batcher.submit("x", timeout=5)
    finally:
        batcher.close()
    with pytest.raises(RuntimeError, match="closed"):
        batcher.submit("y")


def test_concurrent_understand_matches_one_by_one(nlu: NLU) -> None:
    texts = [
        "where is my order",
        "I want a refund",
        "hello",
        "my card was charged twice",
        "let me talk to a human",
        "this is awful",
        "thanks a lot",
        "what are your hours",
    ] * 5
    expected = [u.intent.label for u in nlu.understand_batch(texts)]
    barrier = threading.Barrier(len(texts))

    def one(text: str) -> str:
        barrier.wait()
        return nlu.understand(text).intent.label

    with ThreadPoolExecutor(max_workers=len(texts)) as pool:
        got = list(pool.map(one, texts))
    assert got == expected


def test_threshold_tuning_prefers_not_sure_over_wrong_answers() -> None:
    confidence = [0.95, 0.9, 0.85, 0.4, 0.35, 0.3, 0.25, 0.9]
    predicted = ["a", "b", "a", "a", "b", "a", "b", "oos"]
    truth = ["a", "b", "a", "b", "a", "oos", "oos", "oos"]
    threshold = tune_threshold(confidence, predicted, truth, oos_label="oos")
    assert 0.4 < threshold <= 0.85  # the low-confidence guesses were all wrong


def test_trained_threshold_is_used_unless_configured(
    tmp_path: Path, encoder: SentenceEncoder
) -> None:
    config = NLUConfig(model_dir=tmp_path)
    nlu = load_nlu(encoder, config)
    tuned = load_active(tmp_path, "intent")
    assert tuned is not None
    assert nlu.intent.threshold == tuned.meta["metrics"]["threshold"]
    fixed = load_nlu(encoder, NLUConfig(model_dir=tmp_path, intent_threshold=0.7))
    assert fixed.intent.threshold == 0.7


def test_evaluate_tunes_the_threshold_with_an_oos_label(encoder: SentenceEncoder) -> None:
    train = [Example(t, label) for label, texts in SMALL.items() for t in texts]
    train += [
        Example(t, "oos")
        for t in (
            "what's the weather",
            "tell me a joke",
            "who won the match",
            "write a poem",
            "how tall is everest",
            "recommend a film",
        )
    ]
    test = [Example("where is my parcel", "order_status"), Example("sing a song", "oos")]
    report = evaluate(encoder, train, test, oos_label="oos")
    assert report["oos_method"] == "msp+knn"
    assert "out-of-scope examples" in report["oos_policy"]  # tuned on train's oos rows
    assert report["in_scope_accuracy"] == 1.0 and report["oos_recall"] == 1.0
    assert report["oos_auroc"] == 1.0
    assert set(report) >= {"accuracy", "macro_f1", "threshold", "n_train", "n_test"}
    baseline = evaluate(encoder, train, test, oos_label="oos", oos_method="msp")
    assert baseline["oos_method"] == "msp" and 0.2 <= baseline["threshold"] <= 0.8


def test_finetuned_mode_trains_saves_loads_and_reloads(
    tmp_path: Path, encoder: SentenceEncoder
) -> None:
    config = NLUConfig(
        model_dir=tmp_path,
        intent_data=small_yaml(tmp_path),
        finetune=FinetuneConfig(epochs=1, batch_size=8),
    )
    nlu = load_nlu(encoder, config)  # fast models first
    assert nlu.intent.encoder is None
    before = nlu.marker

    artifact = train_task(encoder, config, "intent", mode="finetune")
    assert artifact.meta["mode"] == "finetune"
    assert artifact.encoder_path is not None and (artifact.encoder_path / "config.json").is_file()
    assert artifact.meta["metrics"]["steps"] >= 1
    assert not list(tmp_path.glob("intent/.intent-finetune-*")), "the work dir is cleaned up"

    assert nlu.reload_if_changed(config) is True
    assert nlu.marker != before
    assert nlu.intent.encoder is not None
    assert nlu.intent.base_head is not None, "the frozen-encoder head joins the ensemble"
    assert (artifact.path / "base_head.npz").is_file()
    assert nlu.reload_if_changed(config) is False
    result = nlu.understand("where is my parcel")
    assert result.intent.label in {"order_status", FALLBACK_INTENT}
    assert result.intent.ranking[0][0] == "order_status"
    assert abs(sum(c for _, c in result.intent.ranking) - 1.0) < 1e-6  # 3 labels, top 3
    assert result.sentiment.label in {"negative", "neutral", "positive"}


def test_finetune_evaluate_reports_its_mode(encoder: SentenceEncoder) -> None:
    train = [Example(t, label) for label, texts in SMALL.items() for t in texts]
    report = evaluate(
        encoder,
        train,
        train[:6],
        mode="finetune",
        finetune_config=FinetuneConfig(epochs=1, batch_size=8),
    )
    assert report["mode"] == "finetune" and report["n_train"] == len(train)
    assert 0.0 <= report["accuracy"] <= 1.0


@pytest.mark.parametrize(
    ("names", "expected"),
    [
        (["NEGATIVE", "POSITIVE"], ["negative", "positive"]),
        (["negative", "neutral", "positive"], ["negative", "neutral", "positive"]),
        (["LABEL_0", "LABEL_1", "LABEL_2"], ["negative", "neutral", "positive"]),
        (
            ["1 star", "2 stars", "3 stars", "4 stars", "5 stars"],
            ["negative", "negative", "neutral", "positive", "positive"],
        ),
    ],
)
def test_sentiment_label_mapping(names: list[str], expected: list[str]) -> None:
    assert map_sentiment_labels(names) == expected


def test_sentiment_label_mapping_refuses_unknown_labels() -> None:
    with pytest.raises(ValueError, match="cannot tell"):
        map_sentiment_labels(["joy", "anger"])


def tiny_hf_classifier(path: Path) -> Path:
    """A small random BERT text classifier saved locally (no download involved)."""
    from transformers import BertConfig, BertForSequenceClassification, BertTokenizer

    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "good", "bad", "order", "late", "ok"]
    path.mkdir()
    (path / "vocab.txt").write_text("\n".join(vocab) + "\n")
    BertTokenizer(str(path / "vocab.txt")).save_pretrained(str(path))
    config = BertConfig(
        vocab_size=len(vocab),
        hidden_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=32,
        id2label={0: "negative", 1: "neutral", 2: "positive"},
        label2id={"negative": 0, "neutral": 1, "positive": 2},
    )
    BertForSequenceClassification(config).save_pretrained(str(path))
    return path


def test_any_hugging_face_sentiment_model_through_config(
    tmp_path: Path, encoder: SentenceEncoder, model_dir: Path
) -> None:
    model_path = tiny_hf_classifier(tmp_path / "hf-sentiment")
    direct = TextSentimentModel(str(model_path))
    predictions = direct.predict_texts(["good order", "bad late order", "ok"])
    assert len(predictions) == 3
    for p in predictions:
        assert p.label in {"negative", "neutral", "positive"}
        assert -1.0 <= p.score <= 1.0
        assert abs(sum(p.probabilities.values()) - 1.0) < 1e-5

    nlu = load_nlu(encoder, NLUConfig(model_dir=model_dir, sentiment_model=str(model_path)))
    assert isinstance(nlu.sentiment, TextSentimentModel)
    understood = nlu.understand("good order")
    assert understood.intent.label and understood.sentiment.label in {
        "negative",
        "neutral",
        "positive",
    }

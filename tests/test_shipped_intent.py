"""The intent model shipped with careloop: current with the bundled examples, and used at a
fresh start instead of training."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

import nlp.pipeline
from nlp.dataset import bundled_examples, data_hash
from nlp.encoder import SentenceEncoder
from nlp.pipeline import NLU, NLUConfig, load_nlu
from nlp.pretrained import INTENT_DIR, INTENT_META, pretrained_dir, shipped_intent
from nlp.store import load_active, save_artifact


def test_the_shipped_intent_model_is_built_from_the_bundled_examples() -> None:
    import json

    meta = json.loads((pretrained_dir() / INTENT_DIR / INTENT_META).read_text())
    data = data_hash(bundled_examples("intent"))
    assert meta["data_sha256"] == data, (
        "nlp/data/intents.yml changed: rebuild the shipped model with `make models`"
    )
    assert meta["oos_weight"] == NLUConfig.intent_oos_weight


def test_a_fresh_start_uses_the_shipped_model_without_training(
    tmp_path: Path, encoder: SentenceEncoder, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_training(*args: object, **kwargs: object) -> None:
        raise AssertionError("a fresh start must not train the intent model")

    monkeypatch.setattr(nlp.pipeline, "train_head", no_training)
    nlu = load_nlu(encoder, NLUConfig(model_dir=tmp_path))
    assert nlu.understand("where is my parcel? it has not arrived").intent.label in (
        "order_status",
        "delivery_problem",
    )
    # and the shipped out-of-scope detector came with it
    assert nlu.understand("what is the capital of Mongolia").intent.label in (
        "nlu_fallback",
        "out_of_scope",
    )


def test_a_model_that_does_not_fit_is_not_used(encoder: SentenceEncoder) -> None:
    data = data_hash(bundled_examples("intent"))
    assert shipped_intent(encoder, data_sha256=data, oos_weight=NLUConfig.intent_oos_weight)
    assert shipped_intent(encoder, data_sha256="other data", oos_weight=0.15) is None
    assert shipped_intent(encoder, data_sha256=data, oos_weight=0.5) is None


def test_the_intent_model_reads_how_a_message_is_written_too(nlu: NLU) -> None:
    """The character n-gram vote (nlp/ngrams.py): a German product question that the
    English encoder alone reads as one about returns."""
    text = "Ist die Jacke wasserdicht?"
    assert nlu.understand(text).intent.label == "product_question"
    assert nlu.intent.ngrams is not None
    without = replace(nlu.intent, ngrams=None)
    assert without.predict(nlu.encoder.encode([text]))[0].label != "product_question"


def test_a_trained_intent_model_keeps_its_ngram_vote(
    tmp_path: Path, encoder: SentenceEncoder
) -> None:
    examples = tmp_path / "intents.yml"
    examples.write_text(
        "intents:\n"
        "  greet: [hello, hi there, good morning, hey]\n"
        "  order_status: [where is my parcel, order status please, has my order shipped,"
        " track my package]\n"
        "  opt_out: [unsubscribe me, stop sending emails, no more newsletters, remove me]\n"
    )
    config = NLUConfig(model_dir=tmp_path / "models", intent_data=examples)
    trained = load_nlu(encoder, config)
    assert trained.intent.ngrams is not None
    again = load_nlu(encoder, config)  # from the model store, no training
    assert again.intent.ngrams is not None
    texts = ["stop sending me emails please"]
    assert (
        again.intent.ngrams.probabilities(texts).tolist()
        == trained.intent.ngrams.probabilities(texts).tolist()
    )


def test_an_upgrade_replaces_the_shipped_intent_model_of_an_earlier_release(
    tmp_path: Path, encoder: SentenceEncoder
) -> None:
    config = NLUConfig(model_dir=tmp_path)
    first = load_nlu(encoder, config)
    assert first.intent.ngrams is not None
    # what an earlier release installed: its shipped model, before the n-gram vote
    earlier = load_active(tmp_path, "intent")
    assert earlier is not None
    meta = {k: v for k, v in earlier.meta.items() if k not in ("shipped_build", "version")}
    save_artifact(tmp_path, "intent", earlier.head, meta, detector=earlier.oos_detector())
    assert load_nlu(encoder, config).intent.ngrams is not None  # replaced by this release's
    # a model the shop trained itself stays
    save_artifact(tmp_path, "intent", earlier.head, {**meta, "shipped": False})
    assert load_nlu(encoder, config).intent.ngrams is None

"""The complaint head shipped with careloop: learned from the written chat messages, loaded
at start without training, checked against the encoder, and used by the escalation policy
together with sentiment and tone."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from bot.policy.escalation import Action, EscalationReason, PolicyConfig, decide
from nlp.base import IntentPrediction, SentimentPrediction, Understanding
from nlp.complaint_build import BuildConfig, build, rows_of
from nlp.dataset import ChatMessage
from nlp.encoder import SentenceEncoder
from nlp.pipeline import NLU
from nlp.pretrained import (
    COMPLAINT_HEAD_FILE,
    COMPLAINT_META_FILE,
    pretrained_dir,
    shipped_complaint,
)
from nlp.tone import read_tone

CONFIG = PolicyConfig()


def understanding(text: str, score: float, complaint: float | None) -> Understanding:
    return Understanding(
        text,
        IntentPrediction("order_status", 0.9),
        SentimentPrediction("neutral", score),
        read_tone(text),
        complaint=complaint,
    )


def escalates(u: Understanding) -> bool:
    d = decide(u, previous_intents=[], previous_scores=[], config=CONFIG)
    return d.action is Action.escalate


def test_the_shipped_head_is_small_and_says_how_it_was_built() -> None:
    meta = json.loads((pretrained_dir() / COMPLAINT_META_FILE).read_text())
    assert (pretrained_dir() / COMPLAINT_HEAD_FILE).stat().st_size < 500_000
    assert meta["labels"] == ["complaint", "other"]
    assert meta["ngrams"]["features"] > 1000
    assert meta["source"]["rows"] > 700
    held_out = meta["metrics"]["held_out"]
    assert held_out["f1"] > 0.8 and held_out["roc_auc"] > 0.95


def test_the_nlu_reads_complaints_with_the_shipped_head(nlu: NLU) -> None:
    angry = nlu.understand("third week and STILL no parcel, this company is a disgrace")
    calm = nlu.understand("what are your opening hours on saturday?")
    assert angry.complaint is not None and calm.complaint is not None
    assert angry.complaint > 0.9 > 0.5 > calm.complaint
    assert angry.as_dict()["complaint"] == round(angry.complaint, 4)


def test_a_head_that_does_not_fit_the_encoder_is_not_used(
    tmp_path: Path, encoder: SentenceEncoder
) -> None:
    assert shipped_complaint(encoder) is not None
    shutil.copytree(pretrained_dir(), tmp_path / "copy")
    with (tmp_path / "copy" / COMPLAINT_HEAD_FILE).open("ab") as fh:
        fh.write(b"tampered")
    assert shipped_complaint(encoder, tmp_path / "copy") is None
    assert shipped_complaint(encoder, tmp_path / "nowhere") is None


def test_a_likely_complaint_escalates_unless_it_reads_clearly_positive() -> None:
    plain = "my parcel hasn't arrived yet, any news?"
    assert escalates(understanding(plain, 0.2, 0.95))
    assert not escalates(understanding(plain, 0.4, 0.95))  # reads clearly positive
    assert not escalates(understanding(plain, -0.6, 0.5))  # negative, not a complaint
    assert not escalates(understanding(plain, -0.6, None))  # no head: as before
    d = decide(
        understanding(plain, -0.2, 0.85), previous_intents=[], previous_scores=[], config=CONFIG
    )
    assert d.action is Action.escalate and d.reason is EscalationReason.complaint


def test_capital_acronyms_and_order_numbers_are_not_stress() -> None:
    assert not read_tone("my DHL parcel, order O0070012, shows VAT twice").emphasis
    assert read_tone("you sent it to my old flat TWICE").emphasis
    assert not read_tone("WHERE IS MY ORDER").emphasis  # that is shouting
    assert read_tone("WHERE IS MY ORDER").shouting


def test_escalations_are_complaints_and_bare_requests_for_a_person_are_left_out() -> None:
    rows = rows_of(
        [
            ChatMessage("still no refund, this is a joke", "refund_return", True, "negative"),
            ChatMessage("can I talk to a person please", "human_agent", True, "neutral"),
            ChatMessage("do you ship to Austria?", "order_status", False, "neutral"),
        ]
    )
    assert [(r.text, r.label) for r in rows] == [
        ("still no refund, this is a joke", "complaint"),
        ("do you ship to Austria?", "other"),
    ]


@pytest.mark.slow
def test_a_build_is_deterministic_and_loadable(tmp_path: Path, encoder: SentenceEncoder) -> None:
    complaints = [
        "my parcel is lost again and nobody answers",
        "worst service ever, still waiting for my refund",
        "you charged me twice and ignore my emails",
        "the app crashes every time, useless",
        "three weeks late and no word from you",
        "broken on arrival and support hung up on me",
    ]
    others = [
        "do you ship to Austria?",
        "what time do you open on sunday",
        "thanks, the jacket fits perfectly",
        "is the blue one back in stock?",
        "love the new collection",
        "can I pay with paypal?",
    ]
    messages = [ChatMessage(t, "complaint", True, "negative") for t in complaints]
    messages += [ChatMessage(t, "product_question", False, "neutral") for t in others]
    config = BuildConfig(folds=2)
    first = build(encoder, tmp_path / "a", config, messages)
    second = build(encoder, tmp_path / "b", config, messages)
    assert first["head_sha256"] == second["head_sha256"]
    shipped = shipped_complaint(encoder, tmp_path / "a")
    assert shipped is not None
    texts = ["still no refund, useless", "do you ship to Norway?"]
    p = shipped.head.probability(encoder.encode(texts), texts)
    assert p[0] > 0.5 > p[1]


def test_how_a_message_is_written_counts_not_only_what_it_is_about(nlu: NLU) -> None:
    """The same request, calm and shouted: the character n-grams read the difference that
    the sentence embedding mostly misses."""
    calm = nlu.understand("please cancel order O0001234")
    shouted = nlu.understand("CANCEL ORDER O0001234 NOW!!!")
    assert calm.complaint is not None and shouted.complaint is not None
    assert shouted.complaint > calm.complaint + 0.3

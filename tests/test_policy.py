"""The escalation policy as a pure function."""

from __future__ import annotations

from bot.policy.escalation import (
    Action,
    CustomerSignals,
    EscalationReason,
    PolicyConfig,
    decide,
    priority,
)
from nlp.base import FALLBACK_INTENT, IntentPrediction, SentimentPrediction, Understanding

CONFIG = PolicyConfig()


def u(intent: str, score: float = 0.0) -> Understanding:
    return Understanding("x", IntentPrediction(intent, 0.9), SentimentPrediction("neutral", score))


def test_answers_a_plain_question() -> None:
    d = decide(u("order_status"), previous_intents=[], previous_scores=[], config=CONFIG)
    assert d.action is Action.answer and d.response == "order_status"


def test_complaint_and_human_request_escalate() -> None:
    assert decide(
        u("complaint"), previous_intents=[], previous_scores=[], config=CONFIG
    ).reason is (EscalationReason.complaint)
    d = decide(u("human_agent"), previous_intents=[], previous_scores=[], config=CONFIG)
    assert d.action is Action.escalate and d.reason is EscalationReason.human_request


def test_strong_or_repeated_negative_sentiment_escalates() -> None:
    d = decide(u("order_status", -0.9), previous_intents=[], previous_scores=[], config=CONFIG)
    assert d.reason is EscalationReason.negative_sentiment
    d = decide(
        u("order_status", -0.4), previous_intents=["x"], previous_scores=[-0.5], config=CONFIG
    )
    assert d.reason is EscalationReason.repeated_negative
    d = decide(
        u("order_status", -0.4), previous_intents=["x"], previous_scores=[0.2], config=CONFIG
    )
    assert d.action is Action.answer


def test_fallbacks_rephrase_then_escalate() -> None:
    d = decide(u(FALLBACK_INTENT), previous_intents=["greet"], previous_scores=[0], config=CONFIG)
    assert d.action is Action.rephrase
    d = decide(
        u(FALLBACK_INTENT), previous_intents=[FALLBACK_INTENT], previous_scores=[0], config=CONFIG
    )
    assert d.reason is EscalationReason.repeated_fallback


def test_opt_out() -> None:
    d = decide(u("opt_out"), previous_intents=[], previous_scores=[], config=CONFIG)
    assert d.action is Action.opt_out


def test_priority_formula() -> None:
    base = priority(EscalationReason.human_request, 0.0, CustomerSignals())
    assert base == 20
    angry_vip = priority(
        EscalationReason.complaint,
        -0.5,
        CustomerSignals(rfm_segment="Champions", churn_risk="high"),
    )
    assert angry_vip == 30 + 20 + 15 + 15

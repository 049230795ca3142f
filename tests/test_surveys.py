"""Surveys end to end on the web chat, the survey rules, the CRM feed and the analytics."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from careloop.config import Settings
from crm.conversations import service as conversations
from crm.db import utcnow
from crm.models import (
    ChannelIdentity,
    Conversation,
    ConversationStatus,
    Customer,
    Message,
    Role,
    SurveyKind,
    SurveyResponse,
    SurveyStatus,
    User,
)
from crm.surveys import analytics
from crm.surveys import service as surveys
from tests.factories import (
    make_conversation,
    make_customer,
    make_order,
    make_survey,
    make_user,
    make_web_identity,
)
from tests.test_inbox import escalate, login

COMMENT_QUESTION = Settings().survey_comment_question


def chat(client: TestClient, sid: str, text: str, button: str | None = None) -> dict[str, Any]:
    response = client.post(
        "/api/v1/chat/messages", json={"session_id": sid, "text": text, "button": button}
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def last_message(client: TestClient, sid: str) -> dict[str, Any]:
    messages = client.get(f"/api/v1/chat/sessions/{sid}/messages").json()["messages"]
    return dict(messages[-1])


def survey_of(session: Session, customer_id: int) -> SurveyResponse:
    session.expire_all()
    return session.scalars(
        select(SurveyResponse)
        .where(SurveyResponse.customer_id == customer_id)
        .order_by(SurveyResponse.id.desc())
    ).first()  # type: ignore[return-value]


def customer_of(session: Session, sid: str) -> Customer:
    identity = session.scalars(
        select(ChannelIdentity).where(ChannelIdentity.external_id == sid)
    ).one()
    return session.get_one(Customer, identity.customer_id)


def bot_conversation_resolved(client: TestClient, session: Session, sid: str) -> Customer:
    """The customer asks the bot something; the conversation goes idle and is resolved."""
    chat(client, sid, "where is my order?")
    conversations.resolve_idle_bot_conversations(
        session, idle_for=dt.timedelta(0), now=utcnow() + dt.timedelta(seconds=1)
    )
    session.flush()
    return customer_of(session, sid)


# -- flows on the web chat -------------------------------------------------------------


def test_csat_after_an_agent_resolves_then_comment_then_follow_up(
    client: TestClient, session: Session, settings: Settings, staff: dict[str, User]
) -> None:
    sid = "survey-flow-1"
    conversation_id = escalate(client, sid, "This is unacceptable, I want to file a complaint")
    token = login(client, staff["agent"])
    base = f"/api/v1/inbox/conversations/{conversation_id}"
    assert client.post(f"{base}/claim", headers={"X-CSRF-Token": token}).status_code == 200
    assert client.post(f"{base}/resolve", headers={"X-CSRF-Token": token}).status_code == 200

    assert surveys.dispatch(session, settings).sent == 1
    question = last_message(client, sid)
    assert question["text"] == settings.survey_csat_question
    assert [b["text"] for b in question["buttons"]] == ["1", "2", "3", "4", "5"]

    answered = chat(client, sid, "1", button=question["buttons"][0]["data"])
    assert answered["conversation"]["id"] == conversation_id  # stays with the resolved one
    assert answered["conversation"]["status"] == "resolved"
    assert answered["replies"][-1]["text"] == COMMENT_QUESTION
    assert [b["text"] for b in answered["replies"][-1]["buttons"]] == ["Skip"]

    commented = chat(client, sid, "The agent was rude and it took forever. Really disappointing.")
    texts = [r["text"] for r in commented["replies"]]
    assert any("get in touch" in t for t in texts), texts

    survey = survey_of(session, customer_of(session, sid).id)
    assert survey.kind is SurveyKind.csat and survey.status is SurveyStatus.answered
    assert survey.score == 1 and survey.agent_id == staff["agent"].id
    assert survey.topic == "complaint" and survey.conversation_id == conversation_id
    assert survey.comment is not None and "rude" in survey.comment
    assert survey.comment_sentiment is not None and survey.comment_sentiment < 0
    follow_up = session.get_one(Conversation, survey.follow_up_conversation_id)
    assert follow_up.status is ConversationStatus.waiting
    assert follow_up.escalation_reason == "survey_follow_up"
    assert follow_up.id != conversation_id

    queue = client.get("/api/v1/inbox/conversations?view=queue").json()["conversations"]
    assert any(
        row["id"] == follow_up.id and row["reason"] == "survey_follow_up" for row in queue
    ), queue
    note = session.scalars(
        select(Message).where(Message.conversation_id == follow_up.id, Message.is_private_note)
    ).one()
    assert "CSAT 1 of 5" in note.text and "rude" in note.text
    assert note.delivery_status is None  # never sent to the customer

    customer = customer_of(session, sid)
    assert (customer.csat_last, customer.csat_count, customer.csat_avg) == (1, 1, 1.0)
    panel = client.get(f"/api/v1/inbox/conversations/{follow_up.id}").json()["customer"]
    assert panel["satisfaction"]["csat_last"] == 1
    assert panel["surveys"][0]["score"] == 1 and "rude" in panel["surveys"][0]["comment"]


def test_typed_answer_is_recorded_once_and_a_repeat_is_declined(
    client: TestClient, session: Session, settings: Settings
) -> None:
    sid = "survey-typed-1"
    customer = bot_conversation_resolved(client, session, sid)
    surveys.dispatch(session, settings)
    question = last_message(client, sid)
    assert question["buttons"], "bot-resolved conversations are surveyed too"

    typed = chat(client, sid, "4/5")
    assert typed["replies"][-1]["text"] == COMMENT_QUESTION
    again = chat(client, sid, "5", button=question["buttons"][4]["data"])
    assert "already answered" in again["replies"][0]["text"]
    skipped = chat(client, sid, "Skip", button=typed["replies"][-1]["buttons"][0]["data"])
    assert "No problem" in skipped["replies"][0]["text"]

    survey = survey_of(session, customer.id)
    assert survey.score == 4 and survey.comment is None and survey.follow_up_conversation_id is None
    assert survey.comment_open_until is None
    answers = session.scalars(
        select(Message)
        .where(Message.conversation_id == survey.conversation_id, Message.direction == "inbound")
        .order_by(Message.id)
    ).all()
    assert [m.text for m in answers][-3:] == ["4/5", "5", "Skip"]


def test_a_score_typed_with_its_reason_needs_no_why(
    client: TestClient, session: Session, settings: Settings
) -> None:
    sid = "survey-typed-why"
    customer = bot_conversation_resolved(client, session, sid)
    surveys.dispatch(session, settings)
    typed = chat(client, sid, "2/5 - nobody answered my email for a week, really disappointing")
    texts = [r["text"] for r in typed["replies"]]
    assert COMMENT_QUESTION not in texts and any("get in touch" in t for t in texts), texts
    survey = survey_of(session, customer.id)
    assert survey.score == 2 and survey.comment == (
        "nobody answered my email for a week, really disappointing"
    )
    assert survey.comment_open_until is None and survey.follow_up_conversation_id is not None


def test_a_customer_who_wrote_in_german_is_asked_and_thanked_in_german(
    client: TestClient, session: Session, settings: Settings
) -> None:
    sid = "survey-german"
    chat(client, sid, "Hallo, wo ist meine Bestellung? Ich warte schon eine Weile darauf.")
    conversations.resolve_idle_bot_conversations(
        session, idle_for=dt.timedelta(0), now=utcnow() + dt.timedelta(seconds=1)
    )
    assert surveys.dispatch(session, settings).sent == 1
    question = last_message(client, sid)
    assert question["text"].startswith("Wie zufrieden sind Sie mit der Hilfe")
    assert [b["text"] for b in question["buttons"]] == ["1", "2", "3", "4", "5"]

    scored = chat(client, sid, "4", button=question["buttons"][3]["data"])
    why = scored["replies"][-1]
    assert why["text"].startswith("Vielen Dank! Was ist der wichtigste Grund")
    assert [b["text"] for b in why["buttons"]] == ["Überspringen"]
    skipped = chat(client, sid, "Überspringen", button=why["buttons"][0]["data"])
    assert skipped["replies"][0]["text"] == "Kein Problem. Danke für Ihre Bewertung!"
    survey = survey_of(session, customer_of(session, sid).id)
    assert survey.score == 4 and survey.comment is None


def test_a_reworded_question_is_asked_as_written_in_every_language(
    client: TestClient, session: Session, settings: Settings
) -> None:
    own = settings.model_copy(update={"survey_csat_question": "Did we sort it out? (1-5)"})
    sid = "survey-own-words"
    chat(client, sid, "Bonjour, où en est ma commande ? J'attends depuis longtemps.")
    conversations.resolve_idle_bot_conversations(
        session, idle_for=dt.timedelta(0), now=utcnow() + dt.timedelta(seconds=1)
    )
    assert surveys.dispatch(session, own).sent == 1
    assert last_message(client, sid)["text"] == "Did we sort it out? (1-5)"


def test_nps_is_asked_in_the_language_the_customer_last_wrote_in_else_their_locale(
    session: Session, settings: Settings
) -> None:
    wrote, identity = web_customer(session, locale="en-GB")
    make_conversation(session, wrote, identity, language="es")
    french, _ = web_customer(session, locale="fr-BE")
    unknown, _ = web_customer(session, locale="ja-JP")
    for customer in (wrote, french, unknown):
        make_survey(
            session, customer, SurveyKind.nps, status=SurveyStatus.pending, due_at=utcnow(),
            sent_at=None,
        )  # fmt: skip
    nps_only = settings.model_copy(update={"survey_csat_enabled": False, "survey_min_gap_days": 0})
    assert surveys.dispatch(session, nps_only).sent == 3
    asked = {
        survey.customer_id: session.scalars(
            select(Message.text).where(Message.conversation_id == survey.conversation_id)
        ).one()
        for survey in session.scalars(
            select(SurveyResponse).where(SurveyResponse.kind == SurveyKind.nps)
        )
    }
    assert asked[wrote.id].startswith("¿Qué probabilidad hay de que nos recomiende")
    assert asked[french.id].startswith("Quelle est la probabilité que vous nous recommandiez")
    assert asked[unknown.id] == settings.survey_nps_question


def test_a_number_in_a_live_conversation_is_not_taken_for_a_score(
    client: TestClient, session: Session, settings: Settings
) -> None:
    sid = "survey-live-1"
    customer = bot_conversation_resolved(client, session, sid)
    surveys.dispatch(session, settings)
    question = last_message(client, sid)
    chat(client, sid, "I have a question about my loyalty points")  # a new conversation
    chat(client, sid, "3")
    assert survey_of(session, customer.id).status is SurveyStatus.sent
    # The buttons still work.
    chat(client, sid, "5", button=question["buttons"][4]["data"])
    assert survey_of(session, customer.id).score == 5


def test_a_late_answer_is_declined_politely_and_not_recorded(
    client: TestClient, session: Session, settings: Settings
) -> None:
    sid = "survey-late-1"
    customer = bot_conversation_resolved(client, session, sid)
    surveys.dispatch(session, settings)
    question = last_message(client, sid)
    later = utcnow() + dt.timedelta(hours=settings.survey_expiry_hours, minutes=1)
    assert surveys.dispatch(session, settings, now=later).expired == 1

    late = chat(client, sid, "5", button=question["buttons"][4]["data"])
    assert "closed" in late["replies"][0]["text"]
    survey = survey_of(session, customer.id)
    assert survey.status is SurveyStatus.expired and survey.score is None
    chat(client, sid, "5")  # typed, with nothing open: a normal message for the bot
    assert survey_of(session, customer.id).score is None


def test_someone_elses_survey_button_records_nothing(
    client: TestClient, session: Session, settings: Settings
) -> None:
    bot_conversation_resolved(client, session, "survey-owner-1")
    surveys.dispatch(session, settings)
    data = last_message(client, "survey-owner-1")["buttons"][0]["data"]
    reply = chat(client, "survey-other-1", "1", button=data)
    assert "closed" in reply["replies"][0]["text"]
    assert survey_of(session, customer_of(session, "survey-owner-1").id).score is None


# -- rules -----------------------------------------------------------------------------


def web_customer(session: Session, **fields: Any) -> tuple[Customer, ChannelIdentity]:
    customer = make_customer(session, **fields)
    return customer, make_web_identity(session, customer, f"web-{customer.id}")


def test_one_open_survey_per_customer_and_the_throttle(
    session: Session, settings: Settings
) -> None:
    customer, identity = web_customer(session)
    first = make_conversation(session, customer, identity)
    second = make_conversation(session, customer, identity)
    result = surveys.dispatch(session, settings)
    assert (result.sent, result.skipped) == (1, {"another_open": 1})

    asked = session.scalars(
        select(SurveyResponse).where(SurveyResponse.conversation_id == first.id)
    ).one()
    assert surveys.record_score(session, asked, 5, settings) is surveys.AnswerStatus.recorded
    make_conversation(session, customer, identity)
    assert surveys.dispatch(session, settings).skipped == {"throttled": 1}
    no_gap = settings.model_copy(update={"survey_min_gap_days": 0})
    make_conversation(session, customer, identity)
    assert surveys.dispatch(session, no_gap).sent == 1
    statuses = {
        s.conversation_id: (s.status, s.skip_reason)
        for s in session.scalars(select(SurveyResponse))
        if s.customer_id == customer.id
    }
    assert statuses[second.id] == (SurveyStatus.skipped, "another_open")


def test_dispatch_twice_asks_once_and_the_database_enforces_it(
    session: Session, settings: Settings
) -> None:
    customer, identity = web_customer(session)
    conversation = make_conversation(session, customer, identity)
    assert surveys.dispatch(session, settings).sent == 1
    assert surveys.dispatch(session, settings).sent == 0
    assert surveys.create_after_service(session, settings) == []
    questions = session.scalars(
        select(Message).where(
            Message.conversation_id == conversation.id, Message.direction == "outbound"
        )
    ).all()
    assert len(questions) == 1 and questions[0].delivery_status == "pending"

    with pytest.raises(IntegrityError), session.begin_nested():
        make_survey(session, customer, conversation_id=conversation.id)
    with pytest.raises(IntegrityError), session.begin_nested():
        make_survey(session, customer, status=SurveyStatus.sent, kind=SurveyKind.nps)


def test_opted_out_customers_get_csat_but_no_nps(session: Session, settings: Settings) -> None:
    customer, identity = web_customer(session, opted_out_at=utcnow(), marketing_consent=False)
    make_conversation(session, customer, identity)
    assert surveys.dispatch(session, settings).sent == 1  # CSAT after service: a service message
    assert surveys.schedule_nps(session, settings) == []
    nps = make_survey(
        session,
        customer,
        SurveyKind.nps,
        status=SurveyStatus.pending,
        due_at=utcnow(),
        sent_at=None,
    )
    surveys.dispatch(session, settings.model_copy(update={"survey_min_gap_days": 0}))
    assert (nps.status, nps.skip_reason) == (SurveyStatus.skipped, "opted_out")


def test_unreachable_customers_are_skipped(session: Session, settings: Settings) -> None:
    customer, identity = web_customer(session)
    identity.reachable = False
    make_conversation(session, customer, identity)
    assert surveys.dispatch(session, settings).skipped == {"unreachable": 1}


def test_nps_goes_to_active_customers_not_asked_lately(
    session: Session, settings: Settings
) -> None:
    active, identity = web_customer(session)
    make_conversation(session, active, identity, status=ConversationStatus.bot)
    quiet, _ = web_customer(session)
    make_order(session, quiet, ordered_at=utcnow() - dt.timedelta(days=200))
    asked, _ = web_customer(session)
    make_order(session, asked)
    make_survey(session, asked, SurveyKind.nps, 9, answered_at=utcnow() - dt.timedelta(days=30))
    buyer, _ = web_customer(session)
    make_order(session, buyer)

    created = surveys.schedule_nps(session, settings)
    assert sorted(s.customer_id for s in created) == sorted([active.id, buyer.id])
    assert surveys.schedule_nps(session, settings) == []  # pending ones count as asked

    result = surveys.dispatch(session, settings)
    assert result.sent == 2
    survey = session.scalars(
        select(SurveyResponse).where(SurveyResponse.customer_id == buyer.id)
    ).one()
    question = session.scalars(
        select(Message).where(Message.conversation_id == survey.conversation_id)
    ).one()
    assert [b["text"] for b in question.payload["buttons"]] == [str(n) for n in range(11)]
    assert question.payload["row_width"] == 6
    holder = session.get_one(Conversation, survey.conversation_id)
    assert holder.status is ConversationStatus.resolved  # not in anyone's queue

    surveys.record_score(session, survey, 3, settings)
    buyer_row = session.get_one(Customer, buyer.id)
    assert (buyer_row.nps_last, buyer_row.nps_category) == (3, "detractor")


def test_ces_is_asked_after_a_configured_intent(session: Session, settings: Settings) -> None:
    ces = settings.model_copy(update={"survey_ces_intents": ["refund_return"]})
    customer, identity = web_customer(session)
    make_conversation(session, customer, identity, intent="refund_return", text="refund please")
    surveys.dispatch(session, ces)
    survey = session.scalars(
        select(SurveyResponse).where(SurveyResponse.customer_id == customer.id)
    ).one()
    assert survey.kind is SurveyKind.ces and survey.topic == "refund_return"
    assert [b["text"] for b in surveys.buttons(survey)] == [str(n) for n in range(1, 8)]
    with pytest.raises(ValueError, match="1-7"):
        surveys.record_score(session, survey, 9, ces)


def test_csat_trend_and_average_feed_the_customer(session: Session, settings: Settings) -> None:
    customer, _ = web_customer(session)
    for day, score in ((10, 5), (5, 4), (1, 2)):
        make_survey(session, customer, score=score, answered_at=utcnow() - dt.timedelta(days=day))
    refreshed = surveys.refresh_customer(session, customer_id=customer.id)
    assert refreshed.csat_last == 2 and refreshed.csat_count == 3
    assert refreshed.csat_avg == pytest.approx(3.667)
    assert refreshed.csat_trend == pytest.approx(-2.5)


def test_score_parsing() -> None:
    assert [surveys.parse_answer(t) for t in ("4", " 9/10 ", "5.", "10!", "4 stars", "x")] == [
        (4, None),
        (9, None),
        (5, None),
        (10, None),
        (4, None),
        None,
    ]
    # scores as customers type them, with the reason said after them
    assert surveys.parse_answer("4 out of 5") == (4, None)
    assert surveys.parse_answer("⭐️⭐️⭐️⭐️") == (4, None)
    assert surveys.parse_answer("I'd give it a 9") == (9, None)
    assert surveys.parse_answer("ten!") == (10, None)
    assert surveys.parse_answer("9 - quick and friendly") == (9, "quick and friendly")
    assert surveys.parse_answer("2/5 nobody answered my email") == (2, "nobody answered my email")
    # numbers that are no score
    for text in ("4 items were missing", "3 weeks late", "4.5", "order 4 never came", "100"):
        assert surveys.parse_answer(text) is None, text
    assert surveys.parse_button("survey:12:5") == (12, "5")
    assert surveys.parse_button("survey:12:skip") == (12, "skip")
    assert surveys.parse_button("survey:x:5") is None and surveys.parse_button("say:hi") is None


# -- analytics -------------------------------------------------------------------------

WEEK1 = dt.datetime(2026, 1, 6, 12, tzinfo=dt.UTC)  # a Tuesday; the week starts 2026-01-05
WEEK2 = dt.datetime(2026, 1, 13, 12, tzinfo=dt.UTC)
NOW = dt.datetime(2026, 6, 1, tzinfo=dt.UTC)


def known_data(session: Session) -> dict[str, User]:
    """A small data set whose report is worked out by hand in the test below."""
    alice = make_user(session, Role.agent, display_name="Alice Agent")
    bob = make_user(session, Role.agent, display_name="Bob Agent")
    c = [make_customer(session) for _ in range(14)]
    days = dt.timedelta(days=1)

    def csat(
        customer: Customer, score: int, when: dt.datetime, agent: User | None, topic: str
    ) -> SurveyResponse:
        return make_survey(
            session,
            customer,
            score=score,
            answered_at=when,
            agent_id=agent.id if agent else None,
            topic=topic,
        )

    csat(c[0], 5, WEEK1, alice, "order_status")
    csat(c[1], 4, WEEK1 + days, alice, "order_status")
    csat(c[2], 2, WEEK1 + 2 * days, bob, "complaint")
    csat(c[3], 3, WEEK1 + 3 * days, None, "order_status")
    csat(c[2], 5, WEEK2, alice, "delivery_problem")
    low = csat(c[4], 1, WEEK2 + days, bob, "complaint")
    csat(c[5], 4, WEEK2 + 2 * days, bob, "delivery_problem")
    csat(c[0], 1, dt.datetime(2026, 1, 20, tzinfo=dt.UTC), bob, "complaint")  # after the period
    for i in range(3):  # asked in the period, never answered
        make_survey(session, c[6], sent_at=WEEK1 + i * days)
    make_survey(session, c[6], sent_at=dt.datetime(2025, 12, 1, tzinfo=dt.UTC))  # before

    for customer, score, when in (
        (c[7], 10, WEEK1),
        (c[8], 9, WEEK1),
        (c[9], 6, WEEK1),
        (c[10], 7, WEEK2),
        (c[11], 3, WEEK2),
    ):
        make_survey(session, customer, SurveyKind.nps, score, answered_at=when)
    make_survey(session, c[12], SurveyKind.ces, 6, answered_at=WEEK2)
    make_survey(session, c[13], SurveyKind.ces, 2, answered_at=WEEK2)

    follow_up = make_conversation(session, c[4], status=ConversationStatus.waiting)
    low.follow_up_conversation_id = follow_up.id
    # Orders: c0 buys 10 days after its answer, c3 30 days after, c2 200 days after its
    # latest answer (too late), c5 only before its answer; c1 and c4 never again.
    make_order(session, c[0], ordered_at=WEEK1 + 10 * days, total_amount=Decimal("10"))
    make_order(session, c[3], ordered_at=WEEK1 + 33 * days)
    make_order(session, c[2], ordered_at=WEEK2 + 200 * days)
    make_order(session, c[5], ordered_at=WEEK2 - 3 * days)
    c[0].churn_probability = 0.2
    c[1].churn_probability = 0.6
    session.flush()
    return {"alice": alice, "bob": bob}


def test_satisfaction_report_on_a_known_data_set(session: Session) -> None:
    agents = known_data(session)
    report = analytics.satisfaction_report(
        session,
        start=dt.date(2026, 1, 5),
        end=dt.date(2026, 1, 18),
        bucket="week",
        churn_days=90,
        now=NOW,
    )
    assert report["csat"] == {
        "responses": 7,
        "average": 3.43,
        "csat_pct": 57.1,
        "distribution": {"1": 1, "2": 1, "3": 1, "4": 2, "5": 2},
    }
    assert report["nps"] == {
        "responses": 5,
        "average": 7.0,
        "nps": 0.0,
        "promoters": 2,
        "passives": 1,
        "detractors": 2,
        "distribution": {str(n): int(n in (3, 6, 7, 9, 10)) for n in range(11)},
    }
    assert report["ces"]["responses"] == 2 and report["ces"]["average"] == 4.0
    assert report["response_rate"] == {
        "csat": {"asked": 10, "answered": 7, "rate_pct": 70.0},
        "nps": {"asked": 5, "answered": 5, "rate_pct": 100.0},
        "ces": {"asked": 2, "answered": 2, "rate_pct": 100.0},
    }
    assert report["over_time"] == [
        {
            "bucket": "2026-01-05",
            "csat_responses": 4,
            "csat_pct": 50.0,
            "nps_responses": 3,
            "nps": 33.3,
            "ces_average": None,
        },
        {
            "bucket": "2026-01-12",
            "csat_responses": 3,
            "csat_pct": 66.7,
            "nps_responses": 2,
            "nps": -50.0,
            "ces_average": 4.0,
        },
    ]
    assert report["by_agent"] == [
        {
            "agent_id": agents["alice"].id,
            "agent": "Alice Agent",
            "responses": 3,
            "csat_pct": 100.0,
            "average": 4.67,
        },
        {
            "agent_id": agents["bob"].id,
            "agent": "Bob Agent",
            "responses": 3,
            "csat_pct": 33.3,
            "average": 2.33,
        },
        {"agent_id": None, "agent": "bot only", "responses": 1, "csat_pct": 0.0, "average": 3.0},
    ]
    assert report["by_topic"] == [
        {"topic": "order_status", "responses": 3, "csat_pct": 66.7, "average": 4.0},
        {"topic": "complaint", "responses": 2, "csat_pct": 0.0, "average": 1.5},
        {"topic": "delivery_problem", "responses": 2, "csat_pct": 100.0, "average": 4.5},
    ]
    assert report["churn_by_csat"] == [
        {
            "band": "1-2",
            "customers": 1,
            "observed": 1,
            "churned": 1,
            "churn_rate_pct": 100.0,
            "avg_churn_probability": None,
        },
        {
            "band": "3",
            "customers": 1,
            "observed": 1,
            "churned": 0,
            "churn_rate_pct": 0.0,
            "avg_churn_probability": None,
        },
        {
            "band": "4-5",
            "customers": 4,
            "observed": 4,
            "churned": 3,
            "churn_rate_pct": 75.0,
            "avg_churn_probability": 0.4,
        },
    ]
    assert report["follow_ups"] == 1


def test_churn_is_not_observed_before_the_window_has_passed(session: Session) -> None:
    known_data(session)
    report = analytics.satisfaction_report(
        session,
        start=dt.date(2026, 1, 5),
        end=dt.date(2026, 1, 18),
        churn_days=90,
        now=dt.datetime(2026, 2, 1, tzinfo=dt.UTC),
    )
    assert [(b["observed"], b["churn_rate_pct"]) for b in report["churn_by_csat"]] == [
        (0, None),
        (0, None),
        (0, None),
    ]


def test_analytics_api_roles_and_errors(
    client: TestClient, session: Session, staff: dict[str, User]
) -> None:
    known_data(session)
    login(client, staff["marketer"])
    ok = client.get("/api/v1/analytics/satisfaction?start=2026-01-05&end=2026-01-18")
    assert ok.status_code == 200, ok.text
    assert ok.json()["csat"]["csat_pct"] == 57.1 and ok.json()["nps"]["nps"] == 0.0
    assert "comment" not in ok.text  # marketers see numbers, not what customers wrote
    bad = client.get("/api/v1/analytics/satisfaction?bucket=year")
    assert bad.status_code == 422 and "bucket" in bad.json()["error"]["message"]
    backwards = client.get("/api/v1/analytics/satisfaction?start=2026-02-01&end=2026-01-01")
    assert backwards.status_code == 422
    assert client.get("/analytics/satisfaction").status_code == 200

    login(client, staff["agent"])
    assert client.get("/api/v1/analytics/satisfaction").status_code == 403
    assert client.get("/analytics/satisfaction").status_code == 403


def test_a_new_question_after_a_score_is_not_taken_for_the_comment(
    client: TestClient, session: Session, settings: Settings
) -> None:
    sid = "survey-question-1"
    customer = bot_conversation_resolved(client, session, sid)
    surveys.dispatch(session, settings)
    chat(client, sid, "2")
    reply = chat(client, sid, "Can you tell me where my order is?")
    assert reply["message"]["id"] and reply["intent"]["label"] == "order_status"
    assert reply["conversation"]["status"] == "bot"
    survey = survey_of(session, customer.id)
    assert survey.score == 2 and survey.comment is None

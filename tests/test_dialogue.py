"""Requests about one order through the web chat: slots, proof of ownership, and what is
revealed to whom, on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import re
import time
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr, ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.engine import Engine as BotEngine
from bot.inbound import InboundMessage
from bot.responses import ResponseBook
from careloop.config import Settings
from crm.customers.links import web_login_token
from crm.models import (
    Channel,
    ChannelIdentity,
    Conversation,
    ConversationStatus,
    Customer,
    Message,
    OrderStatus,
    VerificationAttempt,
)
from nlp.base import IntentPrediction, Understanding
from nlp.pipeline import NLU
from tests.factories import make_customer, make_order, make_web_identity

URL = "/api/v1/chat/messages"
SECRET_DETAILS = ("JJD0001", "DHL", "Invalidenstr")
OPTED_OUT = "you won't receive any more offers"


@pytest.fixture
def shop(session: Session) -> dict[str, Any]:
    anna = make_customer(session, first_name="Anna", email="anna.schmidt@example.de")
    ben = make_customer(session, first_name="Ben", email="ben@example.com", external_id="C2002")
    old = make_order(
        session,
        anna,
        external_id="O0001111",
        ordered_at=dt.datetime(2026, 10, 1, tzinfo=dt.UTC),
        status=OrderStatus.delivered,
        tracking_number="JJD0001111",
        shipping_postcode="10115",
        shipping_address="Invalidenstr. 1, 10115 Berlin",
    )
    latest = make_order(
        session,
        anna,
        external_id="O0001234",
        ordered_at=dt.datetime(2026, 11, 20, tzinfo=dt.UTC),
        status=OrderStatus.shipped,
        tracking_number="JJD0001234",
        shipping_postcode="10115",
        shipping_address="Invalidenstr. 12, 10115 Berlin",
    )
    paid = make_order(
        session,
        ben,
        external_id="55821",
        status=OrderStatus.paid,
        tracking_number=None,
        carrier=None,
        shipping_postcode="80331",
    )
    session.commit()
    return {"anna": anna, "ben": ben, "old": old, "latest": latest, "paid": paid}


def chat(client: TestClient, visitor: str, *texts: str, **extra: Any) -> list[dict[str, Any]]:
    bodies = []
    for text in texts:
        res = client.post(URL, json={"session_id": visitor, "text": text, **extra})
        assert res.status_code == 200, res.text
        bodies.append(res.json())
    return bodies


def said(bodies: list[dict[str, Any]]) -> str:
    return " ".join(r["text"] for b in bodies for r in b["replies"])


def private_note(session: Session) -> str:
    """The one private note for the agents the conversation got."""
    return session.scalars(select(Message).where(Message.is_private_note.is_(True))).one().text


def attempts(session: Session, visitor: str) -> int:
    """How many order checks the visitor's chat has spent."""
    identity = session.scalars(
        select(ChannelIdentity).where(ChannelIdentity.external_id == visitor)
    ).one()
    return len(
        session.scalars(
            select(VerificationAttempt).where(
                VerificationAttempt.channel_identity_id == identity.id
            )
        ).all()
    )


def reveals_nothing(bodies: list[dict[str, Any]]) -> bool:
    text = said(bodies)
    return not any(secret in text for secret in SECRET_DETAILS)


@pytest.mark.usefixtures("shop")
@pytest.mark.parametrize(
    "turns",
    [
        ("where is my parcel?", "O0001234, anna.schmidt@example.de"),
        ("has my order shipped?", "order O0001234", "ANNA.SCHMIDT@EXAMPLE.DE"),
        ("where is my order", "my email is anna.schmidt@example.de", "O0001234"),
        ("status of O0001234? my email is anna.schmidt@example.de",),
        ("where is my order", "O0001234", "postcode 10115"),
        # dictated on a phone
        (
            "whats the status of order oh zero zero zero one two three four",
            "anna dot schmidt at example dot de",
        ),
        ("where is my order", "oh zero zero zero one two three four", "anna.schmidt@example.de"),
    ],
)
def test_a_visitor_who_proves_the_order_sees_it(client: TestClient, turns: tuple[str, ...]) -> None:
    bodies = chat(client, "anon-1", *turns)
    assert reveals_nothing(bodies[:-1])
    last = said(bodies[-1:])
    assert "O0001234" in last and "JJD0001234" in last and "shipped" in last
    assert "JJD0001111" not in last  # the named order, not another one
    assert bodies[-1]["linked"] is True


@pytest.mark.usefixtures("shop")
@pytest.mark.parametrize(
    ("first", "paid"),
    [
        ("Waar blijft bestelling 55821?", "betaald"),
        ("czy zamówienie 55821 zostało wysłane?", "opłacone"),
    ],
)
def test_an_order_named_in_the_customers_language_is_found(
    client: TestClient, first: str, paid: str
) -> None:
    bodies = chat(client, "order-word", first, "postcode 80331")
    assert reveals_nothing(bodies[:1]) and "55821" in said(bodies[1:]) and paid in said(bodies)


@pytest.mark.usefixtures("shop")
@pytest.mark.parametrize("postcode", ["postcode 10115", "PLZ 10115", "CAP 00184"])
def test_a_postcode_is_no_order_number_even_when_one_was_asked_for(
    client: TestClient, postcode: str
) -> None:
    bodies = chat(client, "postcode-first", "where is my order", postcode)
    assert "order number" in said(bodies[1:]) and "for order" not in said(bodies[1:])


@pytest.mark.usefixtures("shop")
def test_a_bare_postcode_beside_the_bare_order_number_is_the_proof(client: TestClient) -> None:
    """ "55821 10115" was read as two order numbers, and the bot asked for the proof it had
    just been given (twice, as the customer said "yes" next)."""
    bodies = chat(client, "bare-pair", "where is my order", "55821 80331")
    assert "55821" in said(bodies[1:]) and "paid" in said(bodies[1:])
    # a second number that is an order, or the wrong postcode, proves nothing
    for second in ("O0001234", "80335"):
        wrong = chat(client, f"bare-{second}", "where is my order", f"55821 {second}")
        assert "paid" not in said(wrong[1:]) and reveals_nothing(wrong), second


@pytest.mark.usefixtures("shop")
def test_a_shipped_order_shows_its_carriers_tracking_page(client: TestClient) -> None:
    shipped = chat(client, "tracked", "where is O0001234? anna.schmidt@example.de")
    assert "Track it here: https://www.dhl.de/" in said(shipped)
    assert said(shipped).endswith("verfolgen.html?piececode=JJD0001234")
    delivered = chat(client, "delivered", "where is O0001111? anna.schmidt@example.de")
    assert "delivered" in said(delivered) and "Track it here" not in said(delivered)


def test_tracking_pages_must_be_https_with_the_number() -> None:
    with pytest.raises(ValidationError, match="CARELOOP_TRACKING_URLS"):
        Settings(tracking_urls={"DHL": "http://dhl.example/track?n={number}"})
    with pytest.raises(ValidationError, match="CARELOOP_TRACKING_URLS"):
        Settings(tracking_urls={"DHL": "https://dhl.example/track"})


@pytest.mark.usefixtures("shop")
@pytest.mark.parametrize("named", ["#0001234", "order 0001234", "00001234"])
def test_an_order_id_without_its_letter_is_found(client: TestClient, named: str) -> None:
    """The shop's ids are O0001234: customers leave the letter out or type a zero."""
    visitor = "no-letter-" + named.replace(" ", "-").replace("#", "")
    bodies = chat(client, visitor, f"where is {named}? anna.schmidt@example.de")
    assert "O0001234" in said(bodies) and "JJD0001234" in said(bodies)


def test_proof_links_the_chat_to_the_customer(
    client: TestClient, session: Session, shop: dict[str, Any]
) -> None:
    chat(client, "anon-2", "where is my order", "O0001234 anna.schmidt@example.de")
    identity = session.scalars(
        select(ChannelIdentity).where(ChannelIdentity.external_id == "anon-2")
    ).one()
    assert identity.customer_id == shop["anna"].id
    conversation = session.scalars(
        select(Conversation).where(Conversation.channel_identity_id == identity.id)
    ).one()
    assert conversation.customer_id == shop["anna"].id
    # From then on, the latest order needs no proof.
    assert "JJD0001234" in said(chat(client, "anon-2", "and where is my order now?"))


@pytest.mark.usefixtures("shop")
def test_a_bare_proof_keeps_the_request_it_answers(client: TestClient) -> None:
    # (the proof reads as change_address to the intent model)
    proof = "my delivery address postcode is 80331"
    bodies = chat(client, "anon-postcode", "is order 55821 on its way?", proof)
    assert bodies[-1]["intent"]["label"] == "change_address"
    last = said(bodies[-1:])
    assert "55821" in last and "paid" in last
    assert "new delivery address" not in last


@pytest.mark.usefixtures("shop")
def test_a_bare_number_after_where_is_is_the_order_asked_about(client: TestClient) -> None:
    bodies = chat(client, "anon-where", "where is 55821", "80331")
    assert reveals_nothing(bodies[:1]) and "55821" in said(bodies[:1])
    assert "paid" in said(bodies[-1:]) and bodies[-1]["linked"] is True


@pytest.mark.usefixtures("shop")
def test_a_change_of_address_or_a_return_says_which_order_it_is_about(
    client: TestClient,
) -> None:
    address = said(chat(client, "anon-move", "can I change the address of order 55821?")[-1:])
    address += said(chat(client, "anon-move", "80331")[-1:])
    assert "55821" in address and "paid" in address and "new delivery address" in address
    refund = chat(client, "anon-return", "I want to return O0001111", "anna.schmidt@example.de")
    assert "delivered" in said(refund[-1:]) and "reason" in said(refund[-1:])


@pytest.mark.usefixtures("shop")
def test_a_follow_up_is_about_the_order_just_shown_not_the_latest(client: TestClient) -> None:
    proven = chat(client, "anon-older", "status of O0001111", "anna.schmidt@example.de")
    assert "JJD0001111" in said(proven[-1:])
    follow_up = said(chat(client, "anon-older", "and when will it arrive?"))
    assert "O0001111" in follow_up and "JJD0001111" in follow_up
    assert "O0001234" not in follow_up and "JJD0001234" not in follow_up
    offer = said(chat(client, "anon-older", "how do returns work?"))
    assert "order O0001111" in offer and "latest" not in offer
    assert "O0001234" not in offer


@pytest.mark.usefixtures("shop")
@pytest.mark.parametrize(
    "turns",
    [
        ("where is my order", "O0001234", "someone.else@example.com"),  # wrong email
        ("where is my order", "O0001234", "ben@example.com"),  # another customer's email
        ("where is my order", "O9999999", "anna.schmidt@example.de"),  # unknown order
        ("where is my order", "O0001234", "postcode 80331"),  # wrong postcode
        ("where is my order", "55821", "anna.schmidt@example.de"),  # Ben's order
        ("where is my order", "O0001234"),  # no proof at all
        ("O0001234 10115 10117 10119 10243 12043 13055",),  # a guess at many postcodes
    ],
)
def test_a_wrong_or_missing_proof_reveals_nothing(
    client: TestClient, turns: tuple[str, ...]
) -> None:
    bodies = chat(client, "anon-3", *turns)
    assert reveals_nothing(bodies)
    assert bodies[-1]["linked"] is False


STATUS_WORDS = re.compile(r"(?i)\b(" + "|".join(s.value for s in OrderStatus) + r")\b")


@pytest.mark.parametrize("status", list(OrderStatus))
@pytest.mark.parametrize(
    "turns",
    [
        ("where is my order", "71120", "ok"),  # the proof asked for, then asked again
        ("is order 71120 on its way?",),
        ("cancel order 71120", "someone@example.com"),
    ],
)
def test_before_the_proof_no_reply_says_the_orders_status(
    client: TestClient, session: Session, status: OrderStatus, turns: tuple[str, ...]
) -> None:
    carla = make_customer(session, first_name="Carla", email="carla@example.it")
    make_order(session, carla, external_id="71120", status=status, shipping_postcode="00184")
    session.commit()
    text = said(chat(client, f"anon-{status.value}", *turns))
    assert "71120" in text  # the bot talks about the order it was given ...
    assert not STATUS_WORDS.search(text), text  # ... without a word of its state


@pytest.mark.usefixtures("shop")
@pytest.mark.parametrize(
    "first",
    [
        "I ordered a lamp 3 weeks ago and still nothing. Order O0001234",
        "3rd time asking, where is O0001234?",
        "O0001234 was 49,90 €, when does it arrive?",
    ],
)
def test_numbers_that_are_no_postcode_ask_for_the_proof(
    client: TestClient, session: Session, first: str
) -> None:
    bodies = chat(client, "no-postcode-" + str(len(first)), first)
    text = said(bodies)
    assert "couldn't match" not in text and "email address" in text
    assert session.scalars(select(VerificationAttempt)).all() == []


@pytest.mark.usefixtures("shop")
def test_a_wrong_pair_does_not_say_which_half_was_wrong(client: TestClient) -> None:
    replies = [
        said(chat(client, visitor, "where is my order", pair)[-1:])
        for visitor, pair in (
            ("v-a", "O0001234 someone@example.com"),
            ("v-b", "O9999999 anna.schmidt@example.de"),
            ("v-c", "O9999999 nobody@example.org"),
        )
    ]
    assert len(set(replies)) == 1
    assert "couldn't match" in replies[0]


@pytest.mark.usefixtures("shop")
@pytest.mark.parametrize(
    "turns",
    [
        # the email mistyped, then sent again alone: it goes with the order number tried
        ("where is O0001234", "anna.schmit@example.de", "sorry typo: anna.schmidt@example.de"),
        # the order number mistyped, then sent again alone: it goes with the email tried
        ("where is O0001243? anna.schmidt@example.de", "oops, I meant O0001234"),
    ],
)
def test_the_half_corrected_after_a_wrong_pair_goes_with_the_other_half(
    client: TestClient, session: Session, turns: tuple[str, ...]
) -> None:
    bodies = chat(client, "corrected", *turns)
    assert "couldn't match" in said(bodies[-2:-1]) and reveals_nothing(bodies[:-1])
    assert "JJD0001234" in said(bodies[-1:])
    attempts = session.scalars(select(VerificationAttempt.succeeded)).all()
    assert sorted(attempts) == [False, True]  # (the corrected pair counts as a try)


@pytest.mark.usefixtures("shop")
def test_the_same_half_sent_again_after_a_wrong_pair_is_not_tried_again(
    client: TestClient, session: Session
) -> None:
    bodies = chat(client, "same-half", "where is O0001234", "anna.schmit@example.de", "O0001234")
    assert "email" in said(bodies[-1:]) and reveals_nothing(bodies)
    assert len(session.scalars(select(VerificationAttempt)).all()) == 1


def test_failed_proofs_hand_over_to_a_person(client: TestClient, session: Session) -> None:
    bodies = chat(
        client,
        "guesser",
        "where is my order",
        "O0001234 a@example.com",
        "O0001234 b@example.com",
        "O0001234 c@example.com",
        "O0001234 anna.schmidt@example.de",
    )
    assert reveals_nothing(bodies)
    assert bodies[3]["conversation"]["status"] == "waiting"
    assert bodies[3]["conversation"]["escalation_reason"] == "verification_failed"
    failed = session.scalars(select(VerificationAttempt)).all()
    assert len(failed) == 3 and not any(a.succeeded for a in failed)


@pytest.mark.usefixtures("shop")
def test_an_unhappy_customer_in_the_queue_still_gets_the_order_lookup(
    client: TestClient, session: Session
) -> None:
    first = chat(
        client, "impatient", "This is ridiculous, where is O0001234??? I have been waiting for days"
    )
    assert first[0]["conversation"]["status"] == "waiting"
    assert "colleague" in said(first) and "email" in said(first)
    assert reveals_nothing(first)
    escalated_at = session.scalars(select(Conversation)).one().escalated_at
    proof = chat(client, "impatient", "anna.schmidt@example.de")
    assert "JJD0001234" in said(proof) and "shipped" in said(proof)
    session.expire_all()
    conversation = session.scalars(select(Conversation)).one()
    assert conversation.status is ConversationStatus.waiting  # a person still answers
    assert (
        conversation.escalated_at == escalated_at and conversation.escalation_reason == "complaint"
    )


def test_an_order_and_its_email_sent_in_the_queue_are_looked_up(
    client: TestClient, session: Session
) -> None:
    ida = make_customer(session, first_name="Ida", email="ida.mueller106@example.com")
    make_order(session, ida, external_id="O0010700", tracking_number="JJD0010700")
    session.commit()
    first = chat(client, "angry-no-number", "wheres my stuff 😡 ordered last week")
    assert first[0]["conversation"]["status"] == "waiting"
    # (read as an account question, 0.29: order numbers and emails look like contact data)
    data = chat(client, "angry-no-number", "O0010700 ida.mueller106@example.com")
    assert data[0]["intent"]["label"] not in ("order_status", "nlu_fallback")
    assert "JJD0010700" in said(data)
    assert data[0]["conversation"]["status"] == "waiting"  # a person still answers


class ReadsAs:
    """The real NLU, except that given texts get the given intent reading (and, with
    ``complaint``, that complaint-head probability)."""

    def __init__(
        self,
        nlu: NLU,
        readings: dict[str, IntentPrediction],
        *,
        complaint: float | None = None,
    ) -> None:
        self.nlu = nlu
        self.readings = readings
        self.complaint = complaint

    def understand(self, text: str) -> Understanding:
        understanding = self.nlu.understand(text)
        if text not in self.readings:
            return understanding
        understanding = replace(understanding, intent=self.readings[text])
        if self.complaint is not None:
            understanding = replace(understanding, complaint=self.complaint)
        return understanding

    def __getattr__(self, name: str) -> Any:
        return getattr(self.nlu, name)


def reads_as_complaint(nlu: NLU, runner_up: dict[str, str]) -> ReadsAs:
    """The real NLU, except that given texts read as a complaint over a runner-up intent
    (as the shipped model read "Good evening, could you tell me something about order
    O0003002?": complaint 0.43, order_status 0.39), and the complaint head calls it one
    (0.85; below 0.8 a calm question read so, unsure, is "not sure", see test_policy)."""
    readings = {
        text: IntentPrediction("complaint", 0.43, [("complaint", 0.43), (second, 0.39)])
        for text, second in runner_up.items()
    }
    return ReadsAs(nlu, readings, complaint=0.85)


@pytest.mark.usefixtures("shop")
def test_a_complaint_read_over_an_order_question_still_gets_the_order_lookup(
    client: TestClient, bot: BotEngine, session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    question = "Good evening, could you tell me something about order O0001111?"
    cancel = "Good evening, I would like to cancel order O0001234"
    reading = reads_as_complaint(bot.nlu, {question: "order_status", cancel: "cancel_order"})
    monkeypatch.setattr(bot, "nlu", reading)
    first = chat(client, "polite", question)
    assert first[0]["conversation"]["escalation_reason"] == "complaint"
    assert "email" in said(first) and reveals_nothing(first)
    proof = chat(client, "polite", "Anna.Schmidt@Example.de")
    assert "JJD0001111" in said(proof)  # the order named, not the latest
    assert proof[0]["conversation"]["status"] == "waiting"  # a person still answers
    # a complaint whose next reading is a change to the order: the person makes the change,
    # and the order is looked up meanwhile
    other = chat(client, "cancelling", cancel, "anna.schmidt@example.de")
    assert other[0]["conversation"]["escalation_reason"] == "complaint"
    assert "email" in said(other[:1]) and reveals_nothing(other[:1])
    assert "O0001234" in said(other[1:]) and "JJD0001234" in said(other[1:])
    assert "cancel" not in said(other[1:]).lower()  # (no cancellation offered by the bot)
    assert other[1]["conversation"]["status"] == "waiting"


@pytest.mark.usefixtures("shop")
def test_a_complaint_naming_an_order_gets_the_lookup_while_a_person_is_waited_for(
    client: TestClient, bot: BotEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Resigned irony about a named order ("it's been a while, I'm beginning to think it
    was a figment of my imagination") goes to a person; the order is still shown once the
    customer proves it is theirs, though the intent model's next reading is no lookup."""
    irony = "Hi, O0001111 - beginning to think it was a figment of my imagination"
    monkeypatch.setattr(bot, "nlu", reads_as_complaint(bot.nlu, {irony: "human_agent"}))
    first = chat(client, "figment", irony)
    assert first[0]["conversation"]["escalation_reason"] == "complaint"
    assert "email" in said(first) and reveals_nothing(first)
    proof = chat(client, "figment", "anna.schmidt@example.de")
    assert "JJD0001111" in said(proof)
    assert proof[0]["conversation"]["status"] == "waiting"  # a person still answers


def test_the_email_asked_for_is_used_though_read_as_an_unsure_opt_out(
    client: TestClient,
    bot: BotEngine,
    session: Session,
    shop: dict[str, Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The shipped model read "la mia email è giulia@example.it" as an opt-out at 0.30, and
    the bot withdrew the customer's marketing consent instead of looking the order up."""
    proof = "la mia email è anna.schmidt@example.de"
    unsubscribe = "unsubscribe anna.schmidt@example.de"
    reading = ReadsAs(
        bot.nlu,
        {proof: IntentPrediction("opt_out", 0.30), unsubscribe: IntentPrediction("opt_out", 0.97)},
    )
    monkeypatch.setattr(bot, "nlu", reading)
    anna = shop["anna"]
    anna.marketing_consent = True
    session.commit()
    bodies = chat(client, "giulia", "Vorrei restituire l'ordine O0001234", proof)
    # (answered in Italian, the language the customer writes in)
    assert "O0001234" in said(bodies[1:]) and "motivo del reso" in said(bodies[1:])
    assert OPTED_OUT not in said(bodies)
    session.refresh(anna)
    assert anna.marketing_consent and anna.opted_out_at is None
    # the reason keeps the customer's words, not the ones that introduce them
    reason = chat(client, "giulia", "il motivo: la taglia è sbagliata")
    assert "): la taglia è sbagliata. Lo avvii" in said(reason)
    # a sure opt-out, even while an email is asked for, withdraws the consent
    assert OPTED_OUT in said(chat(client, "sure", "where is O0001111?", unsubscribe)[1:])


@pytest.mark.usefixtures("shop")
def test_the_email_asked_for_is_used_though_read_as_an_opt_out_that_stops_nothing(
    client: TestClient, bot: BotEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An email sent with "please stop it" about an order, read as an opt-out at 0.51,
    answers the question; "no more newsletters please, anna@…" at the same reading opts
    out."""
    proof = "my email is anna.schmidt@example.de, please stop it if you can"
    newsletters = "no more newsletters please, anna.schmidt@example.de"
    reading = ReadsAs(
        bot.nlu,
        {proof: IntentPrediction("opt_out", 0.51), newsletters: IntentPrediction("opt_out", 0.51)},
    )
    monkeypatch.setattr(bot, "nlu", reading)
    bodies = chat(client, "stop-it", "where is O0001111?", proof)
    assert OPTED_OUT not in said(bodies) and "JJD0001111" in said(bodies[1:])
    assert OPTED_OUT in said(chat(client, "no-more", "where is O0001111?", newsletters)[1:])


@pytest.mark.usefixtures("shop")
def test_a_new_address_is_kept_without_the_words_that_introduce_it(client: TestClient) -> None:
    bodies = chat(
        client,
        "moving",
        "can I change the delivery address for 55821?",
        "ben@example.com",
        "new address is Hauptstraße 5, 01069 Dresden",
    )
    assert "Hauptstraße 5, 01069 Dresden" in said(bodies[2:])
    assert "new address is" not in said(bodies[2:])


@pytest.mark.usefixtures("shop")
def test_in_the_queue_a_change_waits_for_the_person_and_its_order_is_shown(
    client: TestClient,
) -> None:
    """A cancellation asked for while a person is awaited is the person's to make; the bot
    shows the order it names once it is proven, and makes no cancellation of its own."""
    bodies = chat(
        client,
        "wants-a-person",
        "I want to talk to a person",
        "cancel order 55821",
        "ben@example.com",
        "where is my order?",
    )
    assert "email" in said(bodies[1:2]) and reveals_nothing(bodies[1:2])
    assert "Order 55821" in said(bodies[2:3]) and "is paid" in said(bodies[2:3])
    assert "cancel" not in said(bodies[1:]).lower()
    assert bodies[3]["replies"] == []  # (no order named: the person answers)
    assert all(b["conversation"]["status"] == "waiting" for b in bodies)


@pytest.mark.usefixtures("shop")
def test_danger_with_a_named_order_goes_to_a_person_and_the_order_is_looked_up(
    client: TestClient,
) -> None:
    """A safety report naming an order reaches a person at once; the order is shown once the
    customer proves it is theirs, with the proof named as a postcode."""
    bodies = chat(
        client,
        "burnt-fan",
        "The fan from order O0001111 started smoking last night, I want to send it back",
        "Die Lieferadresse war meine Wohnung, PLZ 10115.",
    )
    assert bodies[0]["conversation"]["escalation_reason"] == "urgent"
    assert reveals_nothing(bodies[:1]) and "postcode" in said(bodies[:1])
    assert "JJD0001111" in said(bodies[1:])  # the order named, not the latest
    assert bodies[1]["conversation"]["status"] == "waiting"


@pytest.mark.usefixtures("shop")
def test_a_problem_reported_with_its_proof_shows_the_order_it_is_passed_on_with(
    client: TestClient,
) -> None:
    bodies = chat(
        client,
        "cracked-bowl",
        "hi, the salad bowl from O0001111 arrived cracked, postcode 10115. can you send a new one",
    )
    assert "O0001111 (delivered, DHL)" in said(bodies)
    assert "O0001234" not in said(bodies)


@pytest.mark.usefixtures("shop")
def test_never_mind_in_the_queue_with_an_order_question_starts_the_lookup(
    client: TestClient,
) -> None:
    bodies = chat(
        client,
        "withdrawn",
        "I want to speak to a human",
        "actually never mind, where is O0001234",
        "anna.schmidt@example.de",
    )
    assert bodies[1]["conversation"]["status"] == "bot", bodies[1]["intent"]
    assert "withdrawn" in said(bodies[1:2]) and "email address" in said(bodies[1:2])
    assert "JJD0001234" in said(bodies[2:])


@pytest.mark.usefixtures("shop")
def test_failed_proofs_in_the_queue_keep_the_queue_place(
    client: TestClient, session: Session
) -> None:
    chat(client, "queued-guesser", "I want to talk to a person")
    escalated_at = session.scalars(select(Conversation)).one().escalated_at
    bodies = chat(
        client,
        "queued-guesser",
        *(f"O0001234 {name}@example.com" for name in ("a", "b", "c", "anna.schmidt")),
    )
    assert reveals_nothing(bodies)
    assert "handing you over" in said(bodies[-2:])
    session.expire_all()
    conversation = session.scalars(select(Conversation)).one()
    assert conversation.escalated_at == escalated_at
    assert conversation.escalation_reason == "human_request"


def full_width(text: str) -> str:
    """``text`` as typed on an East Asian keyboard: full-width letters, digits and signs."""
    return "".join(
        chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else "\u3000" if c == " " else c for c in text
    )


@pytest.mark.usefixtures("shop")
def test_full_width_text_reads_as_plain_text(client: TestClient, session: Session) -> None:
    bodies = chat(
        client,
        "full-width",
        full_width("where is my order?"),
        full_width("#55821"),
        "ben@example.com",
    )
    assert bodies[0]["intent"]["label"] == "order_status"
    assert "email" in said(bodies[1:2]) and "couldn't match" not in said(bodies[1:2])
    assert "55821" in said(bodies[-1:]) and "paid" in said(bodies[-1:])
    assert not session.scalars(
        select(VerificationAttempt).where(~VerificationAttempt.succeeded)
    ).all()


@pytest.mark.usefixtures("shop")
def test_a_bare_number_beside_the_email_is_the_order_number(client: TestClient) -> None:
    bodies = chat(client, "bare-pair", "55821 / ben@example.com - shipped yet?")
    assert "55821" in said(bodies) and "paid" in said(bodies)
    wrong = chat(client, "bare-wrong", "55821 / someone@example.com - shipped yet?")
    assert "couldn't match" in said(wrong) and "paid" not in said(wrong)


@pytest.mark.usefixtures("shop")
def test_a_phone_number_beside_the_email_is_no_order_number(
    client: TestClient, session: Session
) -> None:
    bodies = chat(client, "phone-pair", "where is my order? +49 170 1234567, ben@example.com")
    assert "order number" in said(bodies) and "couldn't match" not in said(bodies)
    assert not session.scalars(select(VerificationAttempt)).all()


@pytest.mark.usefixtures("shop")
def test_a_phone_number_given_for_the_order_number_is_no_order_number(
    client: TestClient, session: Session
) -> None:
    bodies = chat(client, "phone-asked", "where is my order?", "015123456789", "55821")
    assert "order number" in said(bodies[1:2]) and "couldn't match" not in said(bodies[1:2])
    assert "55821" in said(bodies[2:]) and not session.scalars(select(VerificationAttempt)).all()


def test_failed_proofs_are_limited_per_visitor_across_conversations(
    client: TestClient, session: Session, shop: dict[str, Any]
) -> None:
    def start_over() -> None:  # the visitor leaves; the bot resolves the idle conversation
        for c in session.scalars(select(Conversation)).all():
            c.status = ConversationStatus.resolved
        session.commit()

    for _ in range(2):  # two wrong pairs in each of two conversations: below 3 per conversation
        chat(client, "persistent", "where is my order", "O0001234 x@example.com")
        chat(client, "persistent", "O0001234 y@example.com")
        start_over()
    fifth = chat(client, "persistent", "where is my order", "O0001234 z@example.com")
    assert fifth[-1]["conversation"]["escalation_reason"] == "verification_failed"
    start_over()
    bodies = chat(client, "persistent", "where is my order", "O0001234 anna.schmidt@example.de")
    assert reveals_nothing(bodies)
    assert bodies[-1]["conversation"]["escalation_reason"] == "verification_failed"


def test_a_known_customer_naming_an_order_gets_that_order(
    client: TestClient, session: Session, shop: dict[str, Any]
) -> None:
    make_web_identity(session, shop["anna"], "anna-web")
    session.commit()
    text = said(chat(client, "anna-web", "what happened to order O0001111?"))
    assert "O0001111" in text and "delivered" in text and "JJD0001234" not in text
    latest = said(chat(client, "anna-web", "where is my order?"))
    assert "O0001234" in latest


def test_a_known_customer_naming_someone_elses_order_must_prove_it(
    client: TestClient, session: Session, shop: dict[str, Any]
) -> None:
    make_web_identity(session, shop["anna"], "anna-web-2")
    session.commit()
    bodies = chat(client, "anna-web-2", "status of order 55821 please")
    assert "80331" not in said(bodies) and "paid" not in said(bodies)
    assert "email" in said(bodies)


def test_a_reply_read_unsure_as_never_mind_keeps_the_request(
    client: TestClient, bot: BotEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An earlier model read "still not here" as never mind, unsure (below 0.5)."""
    unsure = ReadsAs(bot.nlu, {"still not here": IntentPrediction("cancel_request", 0.42)})
    monkeypatch.setattr(bot, "nlu", unsure)
    bodies = chat(client, "impatient", "my parcel is late", "still not here")
    assert bodies[1]["intent"]["label"] == "cancel_request"
    assert "order number" in said(bodies[1:]) and "dropped" not in said(bodies[1:])


def test_never_mind_drops_the_request(client: TestClient, session: Session) -> None:
    bodies = chat(client, "changed-mind", "where is my order", "never mind", "O0001234")
    assert "dropped" in said(bodies[1:2])
    conversation = session.scalars(select(Conversation)).one()
    # "O0001234" alone starts a new order-status request, which asks for the proof again.
    assert conversation.dialogue is not None and conversation.dialogue["awaiting"] == "proof"
    assert reveals_nothing(bodies)


@pytest.mark.parametrize("closing", ["ok bye", "thanks, I'll have a look for it"])
def test_a_goodbye_or_thanks_ends_the_request_still_asking(
    client: TestClient, session: Session, closing: str
) -> None:
    bodies = chat(client, "leaving", "where is my order", closing)
    assert "order number" not in said(bodies[1:])
    assert session.scalars(select(Conversation)).one().dialogue in (None, {})
    (reply,) = bodies[1]["replies"]
    assert reply["text"]  # the ordinary goodbye or "you're welcome"


def test_replies_that_fill_nothing_end_in_an_offer_of_a_person(client: TestClient) -> None:
    bodies = chat(client, "lost", "where is my order", "hmm", "dunno", "what")
    assert "talk to a person" in said(bodies[-1:]).lower()
    assert bodies[-1]["replies"][0]["quick_replies"] in ([], ["Talk to a person"])


def test_a_bare_what_while_asked_for_an_order_number_is_not_a_complaint(nlu: NLU) -> None:
    assert nlu.understand("what").intent.label != "complaint"


def test_a_complaint_that_answers_nothing_asked_is_handed_over(
    client: TestClient, session: Session
) -> None:
    bodies = chat(
        client, "fed-up", "where is my order", "this is unacceptable, I want a refund now"
    )
    assert bodies[-1]["conversation"]["status"] == "waiting"
    assert bodies[-1]["conversation"]["escalation_reason"] == "complaint"
    assert session.scalars(select(Conversation)).one().dialogue in (None, {})


@pytest.mark.usefixtures("shop")
def test_cancel_a_paid_order_after_confirmation(client: TestClient, session: Session) -> None:
    bodies = chat(client, "ben-anon", "I want to cancel order 55821", "ben@example.com")
    assert "can still be cancelled" in said(bodies[-1:])
    assert bodies[-1]["conversation"]["status"] == "bot"
    done = chat(client, "ben-anon", "Yes, cancel it")
    assert done[0]["conversation"]["status"] == "waiting"
    assert done[0]["conversation"]["escalation_reason"] == "order_request"
    note = private_note(session)
    assert "Cancellation requested for order 55821" in note


@pytest.mark.usefixtures("shop")
@pytest.mark.parametrize(
    ("first", "answer", "asked"),
    [
        ("Je voudrais annuler ma commande 55821", "oui", True),
        ("Bestellung 55821 stornieren bitte", "Ja, bitte", True),
        ("Quiero cancelar el pedido 55821", "sí", True),
        ("Je voudrais annuler ma commande 55821", "non, merci", False),
        ("chcę anulować zamówienie 55821", "nie", False),
    ],
)
def test_a_yes_or_no_in_the_customers_language_answers_the_cancellation(
    client: TestClient, session: Session, first: str, answer: str, asked: bool
) -> None:
    bodies = chat(client, "ben-lang", first, "ben@example.com")
    assert "55821" in said(bodies[-1:]) and bodies[-1]["replies"][0]["quick_replies"]
    done = chat(client, "ben-lang", answer)
    assert "yes or a no" not in said(done)
    assert (done[0]["conversation"]["status"] == "waiting") is asked
    if asked:
        assert "Cancellation requested for order 55821" in private_note(session)


@pytest.mark.usefixtures("shop")
def test_a_reason_given_for_the_order_suggested_returns_that_order(
    client: TestClient, session: Session
) -> None:
    bodies = chat(
        client,
        "reason-for-suggested",
        "where is my order? O0001234 anna.schmidt@example.de",
        "how do returns work?",
        "they're too small",
    )
    assert "Is it about order O0001234" in said(bodies[1:2])
    assert "order number" not in said(bodies[2:])
    assert private_note(session) == "Return of order O0001234: they're too small"


def test_a_new_address_with_its_postcode_is_no_proof_of_the_order(
    client: TestClient, session: Session, shop: dict[str, Any]
) -> None:
    """Anna's order goes to 10115; the new address's postcode is not tried as the proof
    (a failed proof counts towards the hand-over and forgets the order number)."""
    shop["latest"].status = OrderStatus.paid
    session.commit()
    bodies = chat(
        client,
        "new-address-no-proof",
        "please change the address of O0001234 to Zeil 10, 60313 Frankfurt",
        "anna.schmidt@example.de",
    )
    assert "couldn't match" not in said(bodies) and "email address" in said(bodies[:1])
    assert "New delivery address requested for order O0001234: Zeil 10, 60313 Frankfurt" in (
        private_note(session)
    )
    assert session.scalars(select(VerificationAttempt.succeeded)).all() == [True]


def test_the_proof_postcode_beside_the_new_address_proves_the_order(
    client: TestClient, session: Session, shop: dict[str, Any]
) -> None:
    """ "… to Zeil 10, 60313 Frankfurt, postcode 10115": the new address is no proof, and
    the postcode after it (the order's) is."""
    shop["latest"].status = OrderStatus.paid
    session.commit()
    chat(
        client,
        "new-address-and-proof",
        "please change the address of O0001234 to Zeil 10, 60313 Frankfurt, postcode 10115",
    )
    assert "New delivery address requested for order O0001234: Zeil 10, 60313 Frankfurt" in (
        private_note(session)
    )
    assert session.scalars(select(VerificationAttempt.succeeded)).all() == [True]


@pytest.mark.usefixtures("shop")
def test_an_email_given_with_a_greeting_is_used_for_the_order_asked_later(
    client: TestClient,
) -> None:
    visitor = "hi-with-email"
    bodies = chat(client, visitor, "hi, I'm Anna, anna.schmidt@example.de", "where is my order?")
    assert "not sure" not in said(bodies[:1]) and "Hi" in said(bodies[:1])
    assert "email address you gave me" in said(bodies[1:]) and reveals_nothing(bodies)
    found = chat(client, visitor, "O0001234")
    assert "JJD0001234" in said(found)


def test_an_answer_that_points_to_a_person_offers_one_in_a_tap(client: TestClient) -> None:
    answer = chat(client, "charged-twice", "I was charged twice for my order")[0]
    assert "Talk to a person" in answer["replies"][0]["quick_replies"]
    tapped = chat(client, "charged-twice", "Talk to a person")[0]
    assert tapped["conversation"]["escalation_reason"] == "human_request"


def test_punctuation_alone_is_not_understood(client: TestClient) -> None:
    body = chat(client, "just-a-question-mark", "?")[0]
    assert "not sure I understood" in said([body])


@pytest.mark.usefixtures("shop")
def test_a_question_on_the_side_keeps_the_request_for_one_more_message(
    client: TestClient, session: Session
) -> None:
    moving = chat(
        client,
        "side-address",
        "I want to change the delivery address for order 55821 ben@example.com",
        "wait, when are you open?",
        "Leopoldstr. 7, 80802 München",
    )
    assert "Saturday 10:00" in said(moving[1:2])
    assert moving[-1]["conversation"]["escalation_reason"] == "order_request"
    assert "Leopoldstr. 7, 80802 München" in private_note(session)
    # Two messages that give nothing asked for drop it.
    dropped = chat(
        client,
        "side-confirm",
        "cancel order 55821 ben@example.com",
        "when are you open?",
        "thanks",
        "yes",
    )
    assert "Shall I" in said(dropped[:1]) and "Saturday 10:00" in said(dropped[1:2])
    assert all(b["conversation"]["status"] == "bot" for b in dropped)


@pytest.mark.usefixtures("shop")
def test_a_shipped_order_cannot_be_cancelled(client: TestClient) -> None:
    bodies = chat(client, "anna-anon", "cancel my order O0001234 anna.schmidt@example.de")
    assert "already shipped" in said(bodies)
    assert bodies[-1]["conversation"]["status"] == "bot"


def test_a_delivery_problem_is_asked_for_its_order_with_sympathy(client: TestClient) -> None:
    bodies = chat(client, "damaged", "I received a damaged item, what should I do?")
    assert "sorry" in said(bodies).lower() and "happy" not in said(bodies).lower()
    assert "order number" in said(bodies)


@pytest.mark.usefixtures("shop")
def test_a_delivered_order_cannot_be_cancelled_and_a_return_is_offered(
    client: TestClient, session: Session
) -> None:
    bodies = chat(
        client, "anna-late", "cancel my order O0001111 anna.schmidt@example.de", "yes please"
    )
    assert "Shall I start a return?" in said(bodies[:1])
    assert "reason for returning" in said(bodies[1:])
    declined = chat(client, "anna-keeps", "cancel O0001111 anna.schmidt@example.de", "no thanks")
    assert "no return for order O0001111" in said(declined[1:])
    moved_on = chat(
        client, "anna-asks", "cancel O0001111 anna.schmidt@example.de", "what are your hours?"
    )
    assert "return" not in said(moved_on[1:]).lower()
    assert moved_on[-1]["conversation"]["status"] == "bot"


@pytest.mark.usefixtures("shop")
def test_change_the_address_of_an_unshipped_order(client: TestClient, session: Session) -> None:
    bodies = chat(
        client,
        "ben-move",
        "I need to change the delivery address",
        "order 55821, postcode 80331",
        "Leopoldstr. 5, 80802 München",
    )
    assert "new delivery address" in said(bodies[1:2])
    assert bodies[-1]["conversation"]["escalation_reason"] == "order_request"
    note = private_note(session)
    assert "Leopoldstr. 5, 80802 München" in note


def _failed_attempts(session: Session) -> int:
    attempts = session.scalars(select(VerificationAttempt)).all()
    return sum(1 for a in attempts if not a.succeeded)


def test_a_new_address_answers_the_question_which_order(
    client: TestClient, session: Session, shop: dict[str, Any]
) -> None:
    make_web_identity(session, shop["ben"], "ben-web-move")
    session.commit()
    bodies = chat(
        client,
        "ben-web-move",
        "can I change my delivery address?",
        "Leopoldstr. 5, 80802 München",  # (no "yes" first; 80802 is no order number)
    )
    assert "55821" in said(bodies[:1])
    assert bodies[-1]["conversation"]["escalation_reason"] == "order_request"
    note = private_note(session)
    assert "Leopoldstr. 5, 80802 München" in note and "55821" in note
    assert _failed_attempts(session) == 0


@pytest.mark.usefixtures("shop")
def test_a_new_address_before_the_order_number_is_kept(
    client: TestClient, session: Session
) -> None:
    bodies = chat(
        client,
        "anon-move-first",
        "can I change my delivery address?",
        "new address: Leopoldstr. 5, 80802 München",
        "order 55821, postcode 80331",
    )
    assert "noted the new address" in said(bodies[1:2])
    assert bodies[-1]["conversation"]["escalation_reason"] == "order_request"
    assert private_note(session).endswith(": Leopoldstr. 5, 80802 München")
    assert _failed_attempts(session) == 0
    # In one message with the order, the address is taken out of the rest.
    chat(
        client,
        "ben-all-at-once",
        "I used the wrong address! Order 55821, postcode 80331. "
        "The right one is Leopoldstr. 7, 80802 München",
    )
    # A street name in two words ("Berliner Allee") is kept whole.
    chat(
        client,
        "ben-two-words",
        "please change the address of order 55821 (postcode 80331) to Berliner Allee 5, "
        "60316 Frankfurt",
    )
    notes = session.scalars(select(Message.text).where(Message.is_private_note.is_(True))).all()
    assert "New delivery address requested for order 55821: Leopoldstr. 7, 80802 München" in notes
    assert (
        "New delivery address requested for order 55821: Berliner Allee 5, 60316 Frankfurt" in notes
    )


@pytest.mark.usefixtures("shop")
@pytest.mark.parametrize("missing", ["I don't have the order number", "I don't know it", "no idea"])
def test_no_order_number_hears_where_to_find_it_and_the_request_goes_on(
    client: TestClient, missing: str
) -> None:
    bodies = chat(
        client,
        "anon-no-number-" + str(len(missing)),
        "where is my order",
        missing,
        "anna.schmidt@example.de",
        "O0001234",
    )
    assert "confirmation email" in said(bodies[1:2])
    assert "order number" in said(bodies[2:3]) and reveals_nothing(bodies[:3])
    assert "JJD0001234" in said(bodies[3:])


def test_a_late_order_is_said_to_be_late_and_a_person_offered(
    client: TestClient, session: Session, shop: dict[str, Any]
) -> None:
    bodies = chat(client, "on-time", "where is my order? O0001234 anna.schmidt@example.de")
    assert "JJD0001234" in said(bodies) and "later than" not in said(bodies)
    shop["latest"].estimated_delivery = dt.date.today() - dt.timedelta(days=2)
    session.commit()
    visitor = "late-order"
    bodies = chat(client, visitor, "the tracking hasn't moved, O0001234 anna.schmidt@example.de")
    assert "JJD0001234" in said(bodies) and "later than we expected" in said(bodies)
    taken = chat(client, visitor, "yes")[0]
    assert taken["conversation"]["status"] == "waiting"
    assert taken["conversation"]["escalation_reason"] == "human_request"


def test_a_late_order_shown_while_waiting_for_a_person_offers_none(
    client: TestClient, session: Session, shop: dict[str, Any]
) -> None:
    """The customer already waits for a colleague: the late order is shown without asking
    whether they would like one."""
    shop["latest"].estimated_delivery = dt.date.today() - dt.timedelta(days=2)
    session.commit()
    visitor = "late-and-queued"
    bodies = chat(client, visitor, "where is O0001234?? third time asking!!!")
    assert bodies[0]["conversation"]["status"] == "waiting" and reveals_nothing(bodies)
    shown = chat(client, visitor, "anna.schmidt@example.de")
    assert "JJD0001234" in said(shown) and "later than we expected" in said(shown)
    assert "would you like" not in said(shown).lower()
    assert "colleague who takes your conversation" in said(shown)
    after = chat(client, visitor, "yes")
    assert after[0]["conversation"]["status"] == "waiting" and not said(after)


@pytest.mark.usefixtures("shop")
def test_a_charge_looked_up_while_waiting_for_a_person_shows_what_the_order_came_to(
    client: TestClient,
) -> None:
    """ "I was charged twice" reaches a person; the order and email sent while waiting got
    the delivery's details ("… look into it with DHL"), not what the order came to."""
    visitor = "charged-queued"
    first = chat(client, visitor, "I was charged twice, this is ridiculous!!!")
    assert first[0]["conversation"]["status"] == "waiting"
    shown = chat(client, visitor, "O0001234 anna.schmidt@example.de")
    assert "came to €49.90" in said(shown) and "payment provider" in said(shown)
    assert "JJD0001234" not in said(shown) and "would you like" not in said(shown).lower()
    named = chat(client, "charged-named", "I was charged twice for O0001234, ridiculous!!!")
    assert named[0]["conversation"]["status"] == "waiting" and reveals_nothing(named)
    assert "came to €49.90" in said(chat(client, "charged-named", "10115"))


@pytest.mark.usefixtures("shop")
def test_a_delivery_gone_wrong_said_in_german_is_passed_on_without_asking_what_went_wrong(
    client: TestClient,
) -> None:
    """ "Mein Paket kam beschädigt an" says what went wrong; once the order is proven it
    goes to a person with the order, not "Tell me what went wrong"."""
    bodies = chat(client, "beschaedigt", "Mein Paket kam beschädigt an", "O0001234", "10115")
    assert bodies[0]["intent"]["label"] == "delivery_problem"
    assert bodies[-1]["conversation"]["status"] == "waiting"
    assert "Tell me what went wrong" not in said(bodies)


@pytest.mark.usefixtures("shop")
def test_where_to_find_the_order_number_is_answered_and_the_number_then_looked_up(
    client: TestClient,
) -> None:
    """ "Where can I find my order number?" (a status question, 0.72) was asked to send its
    order number."""
    bodies = chat(client, "where-number", "Where can I find my order number?")
    assert "order confirmation email" in said(bodies) and reveals_nothing(bodies)
    shown = chat(client, "where-number", "O0001234 anna.schmidt@example.de")
    assert "JJD0001234" in said(shown)
    # "where is my order" still asks for it, and a question after the answer drops it
    asked = chat(client, "where-order", "where is my order")
    assert "order confirmation email" not in said(asked) and "order number" in said(asked)
    moved = chat(client, "where-number-2", "what's my order number?", "do you ship to austria?")
    assert "We deliver to Germany, Austria" in said(moved[1:])


@pytest.mark.usefixtures("shop")
@pytest.mark.parametrize("then", ["my email is anna.schmidt@example.de", "I really don't have it"])
def test_without_an_order_number_a_person_is_offered(client: TestClient, then: str) -> None:
    """An email alone proves no order: a customer who has no order number is offered a
    person instead of being asked for it again."""
    visitor = "no-number-" + str(len(then))
    bodies = chat(client, visitor, "where is my stuff", "i dont have the order number", then)
    assert "talk to a person" in said(bodies[2:]).lower() and reveals_nothing(bodies)
    taken = chat(client, visitor, "yes please")[0]
    assert taken["conversation"]["status"] == "waiting"
    assert taken["conversation"]["escalation_reason"] == "human_request"


@pytest.mark.usefixtures("shop")
def test_an_order_and_email_read_unsure_as_a_request_for_a_person_are_looked_up(
    client: TestClient,
) -> None:
    """The intent model reads this as a request for a person (0.35): order numbers and
    emails look like contact details to it. Read again without them, it is a return."""
    body = chat(client, "returner", "I'd like to send back O0001234 anna.schmidt@example.de")[0]
    assert body["intent"]["label"] == "human_agent" and body["intent"]["confidence"] < 0.5
    assert body["conversation"]["status"] == "bot"
    assert "O0001234" in said([body]) and "reason for returning" in said([body])
    # Read without them, a status question ("O0001234 anna@…, where is it") stays one.
    looked = chat(client, "looker", "anna.schmidt@example.de O0001234 where is it")[0]
    assert "JJD0001234" in said([looked])
    asked = chat(
        client, "asker", "O0001234 anna.schmidt@example.de, please put me through to a person"
    )
    assert asked[0]["conversation"]["escalation_reason"] == "human_request"


def test_yes_to_the_offer_of_a_person_fetches_one(client: TestClient) -> None:
    bodies = chat(client, "lost-then-yes", "where is my order", "hmm", "dunno", "what", "yes")
    assert "talk to a person" in said(bodies[3:4]).lower()
    assert bodies[-1]["conversation"]["status"] == "waiting"
    assert bodies[-1]["conversation"]["escalation_reason"] == "human_request"


@pytest.mark.usefixtures("shop")
def test_a_change_to_the_order_just_shown_needs_no_second_question(client: TestClient) -> None:
    bodies = chat(
        client, "anon-follow-up", "status of 55821, postcode 80331", "can I still cancel it?"
    )
    assert "paid" in said(bodies[:1])
    assert "Shall I ask our team to cancel" in said(bodies[1:]) and "Is it about" not in said(
        bodies[1:]
    )
    # A general question after it still asks which order it is about.
    general = chat(client, "anon-follow-up", "never mind", "how do returns work?")
    assert "Is it about" in said(general[1:]) and "55821" in said(general[1:])


@pytest.mark.usefixtures("shop")
def test_the_shops_frequent_questions_are_answered_without_stopping_a_request(
    client: TestClient,
) -> None:
    faq = chat(client, "faq-visitor", "do you deliver to the UK?", "whats the delivery fee")
    assert "We deliver to Germany, Austria" in said(faq[:1])
    assert "costs €4.90" in said(faq[1:])
    # A change to an order (no intent of its own: read unsure as a cancellation or a
    # return) gets the shop's answer, not the cancellation's.
    changed = chat(client, "faq-change", "can I change the size of my order before it ships?")
    assert "can't be changed once it's placed" in said(changed)
    assert "Shall I" not in said(changed)
    # A frequent question about a named order is matched with "my order" in its place.
    invoice = chat(client, "faq-invoice", "I need an invoice for O0001234")
    assert "Orders → Invoice" in said(invoice) and reveals_nothing(invoice)
    # The order it named is kept: the email sent next shows it (it got "what can I help
    # you with? … send me its order number as well"); another's email shows nothing.
    proven = chat(client, "faq-invoice", "anna.schmidt@example.de")
    assert "JJD0001234" in said(proven)
    wrong = chat(client, "faq-invoice-2", "I need an invoice for O0001234", "ben@example.com")
    assert reveals_nothing(wrong)
    resend = chat(client, "faq-resend", "can you resend my order confirmation email?")
    assert "spam folder" in said(resend)
    # "where is my order?" is no frequent question: it asks for the order, and a frequent
    # question in between leaves that request waiting for its order number.
    bodies = chat(
        client,
        "faq-then-order",
        "where is my order?",
        "how much is shipping?",
        "O0001234 anna.schmidt@example.de",
    )
    assert "order number" in said(bodies[:1]) and "costs €4.90" in said(bodies[1:2])
    assert "JJD0001234" in said(bodies[2:])
    # No frequent question is answered over a person: this complaint still goes to one.
    angry = chat(client, "faq-angry", "your shipping costs are a SCAM, I want my money back")
    assert angry[0]["conversation"]["status"] == "waiting"


@pytest.mark.usefixtures("shop")
def test_an_order_named_in_a_general_question_is_kept_for_its_proof(client: TestClient) -> None:
    # The voucher's general answer, and the order it named shown for the postcode sent next
    # (it got "what can I help you with? … send me its order number as well").
    asked = chat(client, "voucher", "Quick one: did my voucher get applied to O0001234?")
    assert "Voucher" in said(asked) and reveals_nothing(asked)
    assert "JJD0001234" in said(chat(client, "voucher", "postcode 10115"))
    wrong = chat(client, "voucher-2", "did my voucher get applied to O0001234?", "postcode 80331")
    assert reveals_nothing(wrong)


@pytest.mark.usefixtures("shop")
def test_a_topic_barely_read_is_not_sure_and_two_in_a_row_reach_a_person(
    client: TestClient, bot: BotEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """ "Liefert ihr auch nach Österreich?" was read as the opening hours at 0.15 and got
    them; "¿Cuánto cuesta el envío?" was asked for an order number at 0.13."""
    austria = "Liefert ihr auch nach Österreich?"
    again = "Liefert ihr nach Österreich, ja oder nein?"
    named = "Was ist mit O0001234 anna.schmidt@example.de?"
    monkeypatch.setattr(
        bot,
        "nlu",
        ReadsAs(
            bot.nlu,
            {
                austria: IntentPrediction("opening_hours_contact", 0.15),
                again: IntentPrediction("change_address", 0.14),
                named: IntentPrediction("opening_hours_contact", 0.15),
            },
        ),
    )
    first = chat(client, "barely", austria)
    assert "nicht sicher" in said(first) and "Samstag" not in said(first)
    assert first[0]["conversation"]["status"] == "bot"
    second = chat(client, "barely", again)[0]
    assert second["conversation"]["escalation_reason"] == "repeated_fallback"
    # a message naming an order and its email is still looked up
    assert "JJD0001234" in said(chat(client, "barely-named", named))


def test_an_answered_frequent_question_counts_as_understood_whatever_its_intent(
    client: TestClient, bot: BotEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Read as out of scope (as an earlier model read "do you ship to austria?"), the
    question still got its answer: a "not sure" after it is the first in a row, not the
    second, and no person is called in."""
    monkeypatch.setattr(
        bot,
        "nlu",
        ReadsAs(bot.nlu, {"do you ship to austria?": IntentPrediction("out_of_scope", 0.18)}),
    )
    understood = chat(client, "faq-then-hmm", "do you ship to austria?", "hmm")
    assert understood[0]["intent"]["label"] == "out_of_scope"
    assert "We deliver to Germany, Austria" in said(understood[:1])
    assert understood[-1]["conversation"]["status"] == "bot"


def test_the_shops_frequent_questions_answer_the_ways_customers_ask(client: TestClient) -> None:
    """ "Do you ship to Norway?" was read as a status question (0.20) and asked for an order
    number; "what is your return address?" got the opening hours (0.49)."""
    norway = chat(client, "faq-norway", "Do you ship to Norway?")
    assert "We don't ship outside Europe" in said(norway) and "order number" not in said(norway)
    back = chat(client, "faq-return-address", "what is your return address?")
    assert "return label" in said(back) and "Saturday" not in said(back)
    # how returns work is still the returns answer, not the address
    how = chat(client, "faq-how-returns", "how do I return an item?")
    assert "within 30 days" in said(how)
    gift = chat(client, "faq-gift-card", "I have a gift card, how do I use it?")
    assert "'Voucher' field" in said(gift) and "Current offers" not in said(gift)
    # shipping questions read as status questions were asked for an order number
    for n, (question, answer) in enumerate(
        [
            ("is express shipping available?", "next working day"),
            ("do you deliver on saturdays?", "Monday to Saturday"),
            ("what's the minimum order value?", "no minimum order value"),
            ("can I order by phone?", "on our website only"),  # (was a cancellation, 0.29)
        ]
    ):
        got = chat(client, f"faq-shipping-{n}", question)
        assert answer in said(got) and "order number" not in said(got), question


def test_asked_whether_it_is_a_bot_it_says_so_and_offers_a_person(client: TestClient) -> None:
    """ "are you a real person or a bot? just curious" was handed to a person (the intent
    model read a request for one at 0.43), and "are you a bot?" got "I'm afraid I can't help
    with that"."""
    for n, question in enumerate(
        [
            "are you a bot?",
            "are you a real person or a bot? just curious",
            "am I talking to a real person?",
        ]
    ):
        answer = chat(client, f"about-me-{n}", question)
        assert "a program, not a person" in said(answer), question
        assert answer[-1]["conversation"]["status"] == "bot"
        assert answer[-1]["replies"][-1]["quick_replies"] == ["Talk to a person"]
    taken = chat(client, "about-me-0", "Talk to a person")
    assert taken[-1]["conversation"]["status"] == "waiting"
    german = chat(client, "about-me-de", "Bist du ein Bot oder ein Mensch?")
    assert "ein Programm und kein Mensch" in said(german)
    # asked with a request, the request is answered; with a request for a person, a person comes
    assert "order number" in said(
        chat(client, "about-me-order", "are you a bot? where is my order")
    )
    wants = chat(client, "about-me-human", "are you a bot? I need a real person")
    assert wants[-1]["conversation"]["status"] == "waiting"


def test_a_message_in_the_shops_name_asking_for_card_details_gets_the_safety_answer(
    client: TestClient,
) -> None:
    """ "Is that really you?" about an email asking for card details got the payment
    answer; customers ask whether a message in the shop's name is real."""
    for n, question in enumerate(
        [
            "Got an email from service@shop-verify-account.com asking me to confirm my card "
            "details. Is that really you?",
            "I got an SMS to pay a customs fee by link, is that you?",
        ]
    ):
        got = said(chat(client, f"faq-phishing-{n}", question))
        assert "We never ask for your password, your card details" in got, question
        assert "help@shop.example" in got


def test_a_follow_up_on_an_answer_gets_that_answer_again(client: TestClient) -> None:
    """ "and to the UK?" says too little for the intent model (not sure, 0.46); the previous
    answer covers it, and is not taken for the same question asked twice."""
    faq = chat(client, "follow-faq", "do you ship to austria?", "and to the UK?")
    assert "We don't ship outside Europe" in said(faq[1:])
    hours = chat(client, "follow-hours", "when are you open?", "and on sundays?")
    assert "Saturday 10:00" in said(hours[1:]) and "person" not in said(hours[1:])
    # A follow-up the intent model reads with confidence is a new question.
    order = chat(client, "follow-new", "what are your opening hours", "and where is my order?")
    assert "order number" in said(order[1:]) and "Saturday" not in said(order[1:])


def test_a_follow_up_naming_another_frequent_question_gets_that_answer(
    client: TestClient,
) -> None:
    """ "and how long does it take?" after "do you ship to Switzerland?" asks the delivery
    time's question, not the countries' again."""
    bodies = chat(
        client, "follow-time", "do you ship to Switzerland?", "and how long does it take?"
    )
    assert "working days" in said(bodies[1:]) and "outside Europe" not in said(bodies[1:])
    cost = chat(client, "follow-cost", "do you ship to Switzerland?", "and how much is it?")
    assert "€9.90" in said(cost[1:]) and "outside Europe" not in said(cost[1:])
    # a follow-up naming only a country asks the previous question again: "and to
    # Switzerland?" is nearer to "Do you ship to Switzerland?" than to the costs'
    # questions, and got the countries after the shipping costs
    again = chat(client, "follow-same", "How much is shipping to Austria?", "and to Switzerland?")
    assert "€9.90" in said(again[1:]) and "outside Europe" not in said(again[1:])


def test_a_short_question_about_the_answer_is_no_complaint(client: TestClient) -> None:
    """ "how long does that take?" reads as a complaint, unsure (0.29), and the complaint
    head gives it 0.01: later in a chat it asks about the answer."""
    bodies = chat(client, "how-long", "how do returns work?", "ok and how long does that take?")
    assert bodies[-1]["conversation"]["status"] == "bot"
    assert "sorry about this" not in said(bodies[1:])
    # one shouted still reaches a person
    angry = chat(client, "how-long-angry", "how do returns work?", "and how long does THAT take??")
    assert angry[-1]["conversation"]["status"] == "waiting"


@pytest.mark.usefixtures("shop")
def test_a_delivery_problem_asked_in_general_gets_no_apology(client: TestClient) -> None:
    bodies = chat(client, "what-if-lost", "what happens if my parcel gets lost?", "ok thanks")
    assert "replacement or refund" in said(bodies[:1]) and "sorry" not in said(bodies[:1])
    assert "order number" not in said(bodies[1:])  # (the offer to look is dropped)
    reported = chat(client, "lost-for-real", "I got a damaged item, what do I do?")
    assert "sorry" in said(reported).lower()


@pytest.mark.usefixtures("shop")
def test_what_if_it_never_comes_after_the_order_is_shown_gets_the_lost_parcel_answer(
    client: TestClient,
) -> None:
    proven = chat(client, "what-if-shown", "where is O0001234?", "anna.schmidt@example.de")
    assert "JJD0001234" in said(proven[-1:])
    for question in ("and what if it doesn't come?", "what if it gets lost"):
        answer = said(chat(client, "what-if-shown", question))
        assert "replacement or refund" in answer, question
    fresh = said(chat(client, "what-if-fresh", "what if it never arrives?"))
    assert "replacement or refund" in fresh and "sorry" not in fresh.lower()


def test_a_question_for_the_phone_number_gets_the_number(
    client: TestClient, bot: BotEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Read as a request for a person (0.43 by an earlier model) or unsure, the question
    for the number is answered with it; asked for a call in so many words, a person takes
    it."""
    question = "Which number can I call with questions about an order?"
    monkeypatch.setattr(
        bot, "nlu", ReadsAs(bot.nlu, {question: IntentPrediction("human_agent", 0.43)})
    )
    bodies = chat(client, "number", question)
    assert "call +49 30 1234567" in said(bodies)
    assert bodies[0]["conversation"]["status"] == "bot"
    called = chat(client, "call-me", "what's your phone number? please call me back")
    assert called[0]["conversation"]["escalation_reason"] == "human_request"


@pytest.mark.usefixtures("shop")
def test_changed_my_mind_is_the_return_reason_the_bot_offered(client: TestClient) -> None:
    bodies = chat(
        client,
        "changed-mind",
        "how do I return something?",
        "O0001111 anna.schmidt@example.de",
        "changed my mind",
    )
    assert "reason for returning" in said(bodies[-2:-1])
    # (the order shown by its date and total, so the customer sees which one goes back)
    assert "noted the return of order O0001111 from 1 Oct 2026 (" in said(bodies[-1:])
    assert "): changed my mind. Start it" in said(bodies[-1:])


@pytest.mark.usefixtures("shop")
def test_a_return_with_its_reason_in_the_first_message_shows_the_order(
    client: TestClient,
) -> None:
    bodies = chat(
        client,
        "return-reason-first",
        "I need to return a gift from order O0001111, it was the wrong size.",
        "anna.schmidt@example.de",
    )
    assert "noted the return of order O0001111 from 1 Oct 2026" in said(bodies[-1:])
    assert "wrong size. Start it" in said(bodies[-1:]) and ".." not in said(bodies[-1:])


@pytest.mark.usefixtures("shop")
def test_not_knowing_the_number_says_where_to_find_it_whatever_the_model_reads(
    client: TestClient,
) -> None:
    # ("I don't know the number": opening hours at 0.31)
    bodies = chat(client, "no-number-2", "where is my order", "I don't know the number")
    assert "order confirmation email" in said(bodies[-1:])


@pytest.mark.usefixtures("shop")
def test_data_alone_is_asked_what_it_is_about(client: TestClient) -> None:
    bodies = chat(client, "email-alone", "anna.schmidt@example.de", "where is my order")
    assert "What can I help you with" in said(bodies[:1]) and "rephrase" not in said(bodies)
    assert "order number" in said(bodies[1:]) and reveals_nothing(bodies)
    # data alone counts as understood: one "not sure" next is no second in a row
    noise = chat(client, "phone-alone", "+49 151 23456789", "lol")
    assert noise[-1]["conversation"]["status"] == "bot" and "rephrase" in said(noise[1:])


@pytest.mark.usefixtures("shop")
@pytest.mark.parametrize(
    "praise",
    [
        "The courier was so friendly, please pass it on!",
        "your returns are so easy, much better than other shops 👍",
    ],
)
def test_praise_read_unsure_as_its_topic_is_thanked(client: TestClient, praise: str) -> None:
    bodies = chat(client, "praise", praise)
    assert "great to hear" in said(bodies) and "sorry" not in said(bodies).lower()
    assert "order number" not in said(bodies) and bodies[0]["conversation"]["status"] == "bot"


@pytest.mark.usefixtures("shop")
def test_a_problem_said_kindly_is_still_a_problem(client: TestClient) -> None:
    bodies = chat(client, "kind-problem", "The courier was friendly but my parcel is missing")
    assert "great to hear" not in said(bodies) and "order number" in said(bodies)


@pytest.mark.usefixtures("shop")
def test_what_went_wrong_with_a_delivery_goes_to_a_person_with_the_order(
    client: TestClient, session: Session
) -> None:
    bodies = chat(
        client,
        "wrong-item",
        "I have a problem with my parcel",
        "O0001234 anna.schmidt@example.de",
        "I ordered a blue lamp and got a red one",
    )
    assert "what went wrong" in said(bodies[1:2])
    assert "colleague" in said(bodies[2:]) and "what went wrong" not in said(bodies[2:])
    assert bodies[-1]["conversation"]["escalation_reason"] == "complaint"
    note = private_note(session)
    assert note == "Delivery problem with order O0001234: I ordered a blue lamp and got a red one"
    # Small talk after the question is no problem report: the question is dropped.
    polite = chat(
        client, "thanks-only", "issue with my package", "O0001234 anna.schmidt@example.de"
    )
    assert "what went wrong" in said(polite[1:])
    thanks = chat(client, "thanks-only", "thanks")
    assert thanks[0]["conversation"]["status"] == "bot"


@pytest.mark.usefixtures("shop")
@pytest.mark.parametrize(
    ("first", "noted"),
    [
        ("the parcel for O0001234 never arrived", "the parcel for O0001234 never arrived"),
        ("my lamp arrived with a crack in the shade", "my lamp arrived with a crack in the shade"),
        (
            "Hello, I ordered 2 items but only got 1, order O0001234",
            "Hello, I ordered 2 items but only got 1, order O0001234",
        ),
        (
            "my package O0001234 says delivered but I don't have it",
            "my package O0001234 says delivered but I don't have it",
        ),
        ("I'd like to return O0001234 because it's too small", "it's too small"),
        (
            "I'd like to exchange O0001234 for a bigger size",
            "I'd like to exchange O0001234 for a bigger size",
        ),
    ],
)
def test_what_went_wrong_said_with_the_request_is_not_asked_again(
    client: TestClient, session: Session, first: str, noted: str
) -> None:
    bodies = chat(client, "said-" + str(len(first)), first, "O0001234 anna.schmidt@example.de")
    replies = said(bodies[1:])
    assert "what went wrong" not in replies.lower() and "reason" not in replies.lower()
    assert noted in replies
    assert noted in private_note(session)


@pytest.mark.usefixtures("shop")
def test_an_exchange_hears_how_to_get_the_other_size(client: TestClient) -> None:
    proof = "O0001234 anna.schmidt@example.de"
    swap = chat(client, "swap", "I'd like to exchange O0001234 for a bigger size", proof)
    assert "order it again" in said(swap[1:]) and "noted the return" in said(swap[1:])
    plain = chat(client, "plain-return", "I'd like to return O0001234 because it's too small")
    assert "order it again" not in said(plain)


@pytest.mark.usefixtures("shop")
def test_a_reason_given_before_the_order_number_is_kept(
    client: TestClient, session: Session
) -> None:
    bodies = chat(
        client,
        "reason-first",
        "I want to return my shoes",
        "they're too small",
        "O0001234",
        "anna.schmidt@example.de",
    )
    assert "order number" in said(bodies[1:2])
    assert "reason" not in said(bodies[2:]).lower()
    assert "they're too small" in said(bodies[3:])
    assert "they're too small" in private_note(session)


@pytest.mark.usefixtures("shop")
@pytest.mark.parametrize(
    "asked", ["did my refund go through? O0001234", "has the refund for O0001234 gone through yet?"]
)
def test_a_question_about_a_refund_is_no_new_return(client: TestClient, asked: str) -> None:
    visitor = "refund-" + str(len(asked))
    bodies = chat(client, visitor, asked, "anna.schmidt@example.de")
    assert "no return of it has been booked" in said(bodies[-1:])
    assert "reason for returning" not in said(bodies)
    # "shall I ask a colleague to trace it?": a yes fetches one (it got "not sure")
    taken = chat(client, visitor, "yes")[0]
    assert taken["conversation"]["escalation_reason"] == "human_request"


def test_a_question_about_the_refund_of_a_returned_order_offers_a_person(
    client: TestClient, session: Session, shop: dict[str, Any]
) -> None:
    shop["old"].status = OrderStatus.returned
    session.commit()
    visitor = "refund-returned"
    bodies = chat(
        client, visitor, "did my refund for O0001111 go through?", "anna.schmidt@example.de"
    )
    assert "already returned" in said(bodies[-1:]) and "check on your refund" in said(bodies[-1:])
    taken = chat(client, visitor, "yes")[0]
    assert taken["conversation"]["escalation_reason"] == "human_request"
    # A new return of it hears that it is returned, with no offer.
    again = chat(client, "return-returned", "I'd like to return O0001111 anna.schmidt@example.de")
    assert "already returned" in said(again) and "check on your refund" not in said(again)


@pytest.mark.usefixtures("shop")
def test_return_asks_for_the_reason(client: TestClient, session: Session) -> None:
    bodies = chat(
        client,
        "anna-return",
        "I'd like to return something",
        "O0001111 anna.schmidt@example.de",
        "it doesn't fit",
    )
    assert "reason" in said(bodies[1:2])
    assert "doesn't fit" in said(bodies[2:]) and "O0001111" in said(bodies[2:])
    note = private_note(session)
    assert note == "Return of order O0001111: it doesn't fit"


def test_a_signed_web_login_links_the_chat(
    client: TestClient, settings: Settings, shop: dict[str, Any]
) -> None:
    settings.web_login_secret = SecretStr("shop-secret-for-tests")
    token = web_login_token("C2002", "shop-secret-for-tests", expires=int(time.time()) + 600)
    bodies = chat(client, "ben-logged-in", "where is my order?", customer_token=token)
    assert bodies[0]["linked"] is True and "55821" in said(bodies)
    forged = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
    other = chat(client, "mallory", "where is my order?", customer_token=forged)
    assert other[0]["linked"] is False and "55821" not in said(other)


@pytest.mark.usefixtures("shop")
def test_entities_are_returned_and_stored(client: TestClient, session: Session) -> None:
    body = chat(client, "ent", "order O0001234, mail anna.schmidt@example.de, paid €59,90")[0]
    kinds = [(e["type"], e["value"]) for e in body["entities"]]
    assert kinds == [
        ("order", "O0001234"),
        ("email", "anna.schmidt@example.de"),
        ("money", "59.90 EUR"),
    ]
    stored = session.get_one(Message, body["message"]["id"])
    assert [e["type"] for e in stored.entities or []] == ["order", "email", "money"]


@pytest.fixture
def clocked_bot(nlu: NLU) -> Iterator[tuple[BotEngine, list[dt.datetime]]]:
    now = [dt.datetime(2026, 12, 4, 12, 0, tzinfo=dt.UTC)]
    yield BotEngine(nlu, ResponseBook.load(), clock=lambda: now[0]), now


def test_the_request_expires(
    session: Session, clocked_bot: tuple[BotEngine, list[dt.datetime]]
) -> None:
    bot, now = clocked_bot

    def say(text: str, n: int) -> str:
        inbound = InboundMessage(Channel.web, "slow-visitor", text, f"m{n}")
        return " ".join(m.text for m in bot.handle(session, inbound).replies)

    say("where is my order", 1)
    conversation = session.scalars(select(Conversation)).one()
    assert conversation.dialogue is not None
    now[0] += dt.timedelta(minutes=31)
    reply = say("hmm", 2)
    assert conversation.dialogue is None
    assert "order number" not in reply
    assert session.scalars(select(Customer)).one() is not None


def test_a_customer_writing_in_the_queue_hears_when_a_person_answers_now_and_then(
    session: Session, nlu: NLU
) -> None:
    now = [dt.datetime.now(dt.UTC)]
    bot = BotEngine(nlu, ResponseBook.load(), clock=lambda: now[0])

    def say(text: str, n: int) -> str:
        inbound = InboundMessage(Channel.web, "queued-visitor", text, f"q{n}")
        return " ".join(m.text for m in bot.handle(session, inbound).replies)

    assert "colleague" in say("I want to talk to a person", 1)
    assert say("hello?", 2) == ""  # (just told)
    now[0] += dt.timedelta(minutes=11)
    assert "colleague" in say("anyone there??", 3)
    now[0] = dt.datetime.now(dt.UTC)  # (the reminder was stored at the real time)
    assert say("hello??", 4) == ""  # at most once in ten minutes
    assert session.scalars(select(Conversation)).one().status is ConversationStatus.waiting


@pytest.mark.usefixtures("shop")
def test_an_email_given_earlier_counts_but_a_refused_one_is_not_tried_again(
    client: TestClient, session: Session
) -> None:
    bodies = chat(client, "early-email", "anna.schmidt@example.de", "where is O0001234?")
    assert "JJD0001234" in said(bodies[-1:])
    chat(client, "wrong-early", "someone@example.com", "where is O0001234?")
    again = chat(client, "wrong-early", "O0001234")
    assert reveals_nothing(again)
    assert "email" in said(again)  # asked for the proof, not another silent attempt
    assert attempts(session, "wrong-early") == 1


@pytest.mark.usefixtures("shop")
def test_a_bare_number_in_an_order_request_after_the_email_is_the_order_number(
    client: TestClient,
) -> None:
    bodies = chat(client, "email-then-number", "my email is ben@example.com", "has 55821 shipped?")
    assert "55821" in said(bodies[-1:])
    assert "order number" not in said(bodies[-1:]).casefold()  # not asked for it again


@pytest.mark.usefixtures("shop")
def test_a_postcode_named_before_the_order_number_is_its_proof_once(
    client: TestClient, session: Session
) -> None:
    bodies = chat(client, "postcode-first", "my postcode is 10115", "where's order O0001111?")
    assert "JJD0001111" in said(bodies[-1:])  # the older order, as named
    wrong = chat(client, "wrong-postcode-first", "my postcode is 99999", "where's O0001111?")
    assert reveals_nothing(wrong)
    again = chat(client, "wrong-postcode-first", "O0001111")
    assert reveals_nothing(again)
    assert "postcode" in said(again)  # asked for the proof: the refused one is not tried again
    # for a change of address, a postcode named earlier may be the new one: not tried
    moving = chat(
        client, "new-postcode-first", "my new postcode is 99999", "change address O0001111"
    )
    assert reveals_nothing(moving) and "postcode" in said(moving[-1:])
    assert attempts(session, "new-postcode-first") == 0  # (no attempt spent on it)
    assert attempts(session, "wrong-postcode-first") == 1


def test_a_charge_on_a_named_order_shows_that_order_to_its_owner_and_offers_a_person(
    client: TestClient,
    bot: BotEngine,
    monkeypatch: pytest.MonkeyPatch,
    shop: dict[str, Any],
) -> None:
    """ "I was charged twice for order O0001234", then the email: the general payment answer
    came first, and the email then got "what can I help you with?" with the order lost."""
    charged = "I was charged twice for order O0001111"
    general = "Do you take PayPal?"
    reading = ReadsAs(
        bot.nlu,
        {
            charged: IntentPrediction("payment_problem", 0.9),
            general: IntentPrediction("payment_problem", 0.9),
        },
    )
    monkeypatch.setattr(bot, "nlu", reading)
    bodies = chat(client, "double", charged)
    assert reveals_nothing(bodies) and "O0001111" in said(bodies)
    shown = chat(client, "double", "anna.schmidt@example.de")
    assert "O0001111" in said(shown) and "delivered" in said(shown)
    assert "O0001234" not in said(shown)  # the order named, not her latest
    assert shown[0]["linked"] is True
    taken = chat(client, "double", "yes please")[0]
    assert taken["conversation"]["escalation_reason"] == "human_request"
    # Someone else's email shows nothing of the order.
    assert reveals_nothing(chat(client, "other", charged, "ben@example.com"))
    # A payment question that names no order gets the general answer and no offer to look
    # one up.
    asked = said(chat(client, "paypal", general))
    assert "PayPal" in asked and "order number" not in asked


@pytest.mark.usefixtures("shop")
def test_a_problem_with_an_order_said_before_what_asks_what_went_wrong(
    client: TestClient, bot: BotEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """ "I have a problem with my order", read unsure as a cancellation (0.24): the customer
    heard how cancelling works and, once the order was proven, that it could no longer be
    cancelled, which nobody had asked."""
    problem = "I have a problem with my order"
    monkeypatch.setattr(
        bot, "nlu", ReadsAs(bot.nlu, {problem: IntentPrediction("cancel_order", 0.24)})
    )
    bodies = chat(client, "trouble", problem, "O0001234", "anna.schmidt@example.de")
    assert "cancel" not in said(bodies).lower()
    assert "order number" in said(bodies[:1]) and "what went wrong" in said(bodies[2:])
    noted = chat(client, "trouble", "it arrived broken")[0]
    assert noted["conversation"]["escalation_reason"] == "complaint"
    # read surely as a cancellation, it stays one
    sure = ReadsAs(bot.nlu, {problem: IntentPrediction("cancel_order", 0.9)})
    monkeypatch.setattr(bot, "nlu", sure)
    assert "cancel" in said(chat(client, "sure-cancel", problem)).lower()


def test_an_item_that_broke_in_use_gets_the_warranty_not_good_question(
    client: TestClient, bot: BotEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """ "the zipper on my jacket broke after two weeks" (a product question) got "Good
    question! Sizes in stock, materials, care and warranty are on each product page"."""
    broke = "the zipper on my jacket broke after two weeks"
    stopped = "my kettle stopped working"
    monkeypatch.setattr(
        bot,
        "nlu",
        ReadsAs(
            bot.nlu,
            {
                broke: IntentPrediction("product_question", 0.9),
                stopped: IntentPrediction("product_question", 0.76),
                "is the sweater available in size M?": IntentPrediction("product_question", 0.9),
            },
        ),
    )
    bodies = chat(client, "zipper", broke)
    assert "two-year warranty" in said(bodies) and "Good question" not in said(bodies)
    assert bodies[0]["conversation"]["status"] == "bot"
    taken = chat(client, "zipper", "yes please")[-1]
    assert taken["conversation"]["escalation_reason"] == "human_request"
    assert "two-year warranty" in said(chat(client, "kettle", stopped))
    # "what can I do?" next (read out of scope: "I'm afraid I can't help with that") is
    # offered a person, and "yes" takes the offer
    asked = chat(client, "kettle", "what can I do?")
    assert "shall I ask one to help?" in said(asked) and "can't help" not in said(asked)
    assert chat(client, "kettle", "yes")[0]["conversation"]["status"] == "waiting"
    asked = chat(client, "sweater", "is the sweater available in size M?")
    assert "Good question" in said(asked) and "warranty:" not in said(asked)


def test_a_yes_to_an_answer_that_offers_a_person_fetches_one(
    client: TestClient, bot: BotEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """ "my account is locked" gets the login answer, which ends "type 'agent' …" with a
    button for a person; "ok please help" next got "You're welcome!"."""
    locked = "my account is locked"
    monkeypatch.setattr(
        bot, "nlu", ReadsAs(bot.nlu, {locked: IntentPrediction("account_login", 0.99)})
    )
    taken = chat(client, "locked", locked, "ok please help")[-1]
    assert taken["conversation"]["escalation_reason"] == "human_request"
    closed = chat(client, "locked-bye", locked, "ok thanks bye")[-1]
    assert closed["conversation"]["status"] == "bot"
    # a bare "ok" acknowledges the answer; it says yes to nothing
    noted = chat(client, "locked-ok", locked, "ok")[-1]
    assert noted["conversation"]["status"] == "bot"
    # only a short yes takes such a hint: a new request after "ok" goes on
    other = chat(client, "locked-other", locked, "ok, other thing: where is O0001234?")[-1]
    assert other["conversation"]["status"] == "bot" and "O0001234" in said([other])
    # a greeting's button asks nothing: "yes" after it is no request for a person
    greeted = chat(client, "greeted", "hi", "yes")[-1]
    assert greeted["conversation"]["status"] == "bot"


def test_a_question_after_a_thank_you_is_not_answered_as_praise(
    client: TestClient, bot: BotEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    question = "thanks! how long does the change take?"
    reading = ReadsAs(bot.nlu, {question: IntentPrediction("feedback_praise", 0.22)})
    monkeypatch.setattr(bot, "nlu", reading)
    bodies = chat(client, "thanks-and-a-question", question)
    assert "great to hear" not in said(bodies)
    assert bodies[0]["conversation"]["status"] == "bot"
    assert "rephrase" in said(bodies)  # ("not sure": the frequent questions had no answer)


@pytest.mark.usefixtures("shop")
def test_a_pasted_tracking_code_is_no_postcode_proof(client: TestClient, session: Session) -> None:
    bodies = chat(
        client,
        "tracking-line",
        "Pasting the tracking line: 'ZX00001234GLS0 - delivery not possible'. Order O0001234.",
    )
    assert "couldn't match" not in said(bodies) and reveals_nothing(bodies)
    assert session.scalars(select(VerificationAttempt)).all() == []
    shown = chat(client, "tracking-line", "The postcode is 10115")
    assert "JJD0001234" in said(shown)


@pytest.mark.usefixtures("shop")
def test_a_postcode_after_a_wrong_pair_goes_with_its_order_number(
    client: TestClient, session: Session
) -> None:
    bodies = chat(client, "postcode-after", "where is O0001234? ben@example.com")
    assert "couldn't match" in said(bodies) and reveals_nothing(bodies)
    shown = chat(client, "postcode-after", "the delivery postcode is 10115")
    assert "JJD0001234" in said(shown)
    attempts = session.scalars(select(VerificationAttempt.succeeded)).all()
    assert sorted(attempts) == [False, True]


@pytest.mark.usefixtures("shop")
def test_the_number_corrected_while_waiting_for_a_person_is_looked_up(
    client: TestClient,
) -> None:
    first = chat(
        client,
        "corrected-queued",
        "Second time asking, I wrote yesterday too. Order O0001243, anna.schmidt@example.de",
    )
    assert first[0]["conversation"]["status"] == "waiting" and reveals_nothing(first)
    assert "couldn't match" in said(first)
    # (read as a new address, unsure: it is the number the lookup waits for)
    fixed = chat(client, "corrected-queued", "oops wrong number, O0001234")
    assert "JJD0001234" in said(fixed)
    assert fixed[0]["conversation"]["status"] == "waiting"  # a person still answers

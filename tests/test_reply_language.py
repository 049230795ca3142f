"""Replies in the customer's language: what the detector reads, how the response book
chooses a translation, and a whole conversation in German, Spanish or Polish."""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

import pytest
from fastapi.testclient import TestClient
from jinja2 import TemplateError
from pydantic import SecretStr
from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.book import SAMPLE_CONTEXT
from bot.responses import ResponseBook, ResponsesError
from careloop.config import Settings
from crm.customers.links import web_login_token
from crm.models import Conversation, OrderStatus, User
from nlp.language_id import language_of
from nlp.tone import read_tone
from tests.factories import make_customer, make_order
from tests.test_inbox import login

URL = "/api/v1/chat/messages"


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("Wo bleibt eigentlich meine Bestellung O0008150?", "de"),
        ("Bonjour, je voudrais annuler ma commande s'il vous plaît", "fr"),
        ("Hola, quiero cancelar mi pedido O0002380 por favor", "es"),
        ("Gdzie jest moja paczka? Zamówiłam 28.11.", "pl"),
        ("Can you tell me where my parcel is? I ordered last week.", "en"),
    ],
)
def test_a_message_that_says_enough_names_its_language(text: str, language: str) -> None:
    assert language_of(text) == language


@pytest.mark.parametrize(
    "text", ["ok", "ciao", "danke!", "O0001234", "anna.schmidt@example.de", "#55821 ???", ""]
)
def test_a_short_message_names_no_language(text: str) -> None:
    assert language_of(text) is None


BOOK = """
shop: {name: Demo, hours: "Mon-Fri 9-18"}
responses:
  greet:
    - text: "Hi! We're open {{ shop.hours }}."
      buttons: ["Talk to a person"]
  status:
    - requires: [order]
      text: "Order {{ order.ref }} is {{ words[order.status] }}."
    - text: "Send me the order number."
  thanks:
    - text: "You're welcome!"
faq:
  - questions: ["Do you ship abroad?"]
    answer: "Within the EU."
    translations: {de: "Innerhalb der EU."}
translations:
  de:
    shop: {hours: "Mo-Fr 9-18 Uhr"}
    words: {shipped: versandt}
    responses:
      greet:
        - text: "Hallo! Wir sind {{ shop.hours }} da."
          buttons: ["Mit einem Menschen sprechen"]
      status:
        - requires: [order]
          text: "Bestellung {{ order.ref }} ist {{ words[order.status] }}."
        - text: "Bitte schicken Sie mir die Bestellnummer."
"""


def test_a_translation_answers_in_its_language_and_falls_back_to_the_book() -> None:
    book = ResponseBook.parse(BOOK)
    german = {"lang": "de", "order": {"ref": "A1", "status": "shipped"}}
    greet = book.reply("greet", german)
    assert greet is not None
    assert greet.text == "Hallo! Wir sind Mo-Fr 9-18 Uhr da."
    assert [b.text for b in greet.buttons] == ["Mit einem Menschen sprechen"]
    assert book.render("status", german) == "Bestellung A1 ist versandt."
    # a status the translation has no word for reads as itself
    assert book.render("status", {**german, "order": {"ref": "A1", "status": "paid"}}) == (
        "Bestellung A1 ist paid."
    )
    assert book.render("status", {"lang": "de", "order": None}) == (
        "Bitte schicken Sie mir die Bestellnummer."
    )
    assert book.render("thanks", german) == "You're welcome!"  # not translated
    assert book.render("faq.1", german) == "Innerhalb der EU."
    # no language, or one without a translation: the book's own
    assert book.render("greet", {}) == "Hi! We're open Mon-Fri 9-18."
    assert book.render("status", {"lang": "fr", "order": {"ref": "A1", "status": "shipped"}}) == (
        "Order A1 is shipped."
    )


@pytest.mark.parametrize(
    ("change", "error"),
    [
        (("translations:\n  de:", "translations:\n  xx:"), "cannot tell when a customer writes"),
        (('      greet:\n        - text: "Hallo', '      gret:\n        - text: "Hallo'), "gret"),
        (("words: {shipped: versandt}", "words: {shipped: [versandt]}"), "every word"),
        (('translations: {de: "Innerhalb der EU."}', 'translations: {de: ""}'), "maps language"),
    ],
)
def test_a_bad_translation_is_refused_with_where_it_is(change: tuple[str, str], error: str) -> None:
    old, new = change
    assert old in BOOK
    with pytest.raises(ResponsesError, match=error):
        ResponseBook.parse(BOOK.replace(old, new))


def test_the_shipped_book_answers_everything_in_each_language_it_has() -> None:
    book = ResponseBook.load()
    assert set(book.translations) >= {"de", "fr", "es", "it", "nl", "pl", "pt", "sv", "tr"}
    for code, translation in book.translations.items():
        assert set(translation.variants) == set(book.answers()), code
        for key, variants in translation.variants.items():
            own = book.variants(key)
            assert [v.requires for v in variants] == [v.requires for v in own], (code, key)
            assert [len(v.buttons) for v in variants] == [len(v.buttons) for v in own]
            # a button that asks for a person in English asks for one in the translation
            # (and "yes" after it takes the offer)
            assert [read_tone(b.text).wants_human for v in variants for b in v.buttons] == [
                read_tone(b.text).wants_human for v in own for b in v.buttons
            ], (code, key)
            for i, variant in enumerate(variants):
                for status in OrderStatus:
                    order = {**SAMPLE_CONTEXT["order"], "status": status.value}
                    try:
                        text = book.render_variant(key, i, {**SAMPLE_CONTEXT, "order": order}, code)
                    except TemplateError as exc:  # pragma: no cover - the failure's message
                        pytest.fail(f"{code} {key}[{i}]: {exc}")
                    # what the program fills in reads in the language too
                    assert f" {status.value}" not in text or status.value in variant.text, (
                        code,
                        key,
                        text,
                    )


@pytest.fixture
def orders(session: Session) -> dict[str, Any]:
    jonas = make_customer(session, first_name="Jonas", email="jonas.becker@example.de")
    placed = make_order(
        session,
        jonas,
        external_id="O0002380",
        status=OrderStatus.placed,
        tracking_number=None,
        ordered_at=dt.datetime(2026, 12, 2, tzinfo=dt.UTC),
    )
    delivered = make_order(
        session,
        jonas,
        external_id="O0001187",
        status=OrderStatus.delivered,
        ordered_at=dt.datetime(2026, 10, 2, tzinfo=dt.UTC),
    )
    session.commit()
    return {"jonas": jonas, "placed": placed, "delivered": delivered}


def chat(client: TestClient, visitor: str, text: str) -> dict[str, Any]:
    res = client.post(URL, json={"session_id": visitor, "text": text})
    assert res.status_code == 200, res.text
    body: dict[str, Any] = res.json()
    return body


def said(body: dict[str, Any]) -> str:
    return " ".join(r["text"] for r in body["replies"])


def buttons(body: dict[str, Any]) -> list[str]:
    return [label for r in body["replies"] for label in r.get("quick_replies") or []]


@pytest.mark.usefixtures("orders")
@pytest.mark.parametrize(
    ("first", "language", "asks", "confirms", "done"),
    [
        (
            "Ich möchte bitte meine Bestellung O0002380 stornieren, danke",
            "de",
            "E-Mail-Adresse",
            "storniert werden",
            "Erledigt",
        ),
        (
            "Hola, quiero cancelar mi pedido O0002380 por favor",
            "es",
            "correo electrónico",
            "puede cancelarse",
            "Hecho",
        ),
        (
            "Dzień dobry, chciałabym anulować moje zamówienie O0002380 proszę",
            "pl",
            "adres e-mail",
            "można je anulować",
            "Gotowe",
        ),
    ],
)
def test_a_cancellation_in_the_customers_language_from_first_message_to_done(
    client: TestClient,
    session: Session,
    first: str,
    language: str,
    asks: str,
    confirms: str,
    done: str,
) -> None:
    visitor = f"lang-{language}"
    assert asks in said(chat(client, visitor, first))
    # the email alone names no language: the conversation keeps its own
    offer = chat(client, visitor, "jonas.becker@example.de")
    assert confirms in said(offer) and "O0002380" in said(offer)
    # the order's date and amount as the language writes them
    written = {
        "de": ("02.12.2026", "49,90"),
        "es": ("2 dic 2026", "49,90"),
        "pl": ("2 gru 2026", "49,90"),
    }
    assert all(part in said(offer) for part in written[language]), said(offer)
    yes, _no = buttons(offer)
    requested = said(chat(client, visitor, yes))  # the button, pressed, is understood
    assert requested.startswith(done) and "O0002380" in requested
    conversation = session.scalars(select(Conversation)).one()
    assert conversation.language == language


def test_a_customer_who_goes_on_in_english_gets_english_again(client: TestClient) -> None:
    first = said(chat(client, "switch", "Wie lange dauert der Versand nach Österreich?"))
    assert first.startswith("Entschuldigung")
    again = said(chat(client, "switch", "Sorry, in English please: how long does delivery take?"))
    assert "working days" in again


# What each translation tells a customer waiting for a person to say if they no longer need
# help (the English "never mind")
WITHDRAW = {
    "de": "hat sich erledigt",
    "fr": "laissez tomber",
    "es": "ya no hace falta",
    "it": "non importa",
    "nl": "laat maar",
    "pl": "nieważne",
    "pt": "já não é preciso",
    "sv": "strunt samma",
    "tr": "boşver",
}


@pytest.mark.parametrize("language", sorted(WITHDRAW))
def test_the_words_a_translation_offers_for_never_mind_withdraw_the_request(
    client: TestClient, language: str
) -> None:
    translation = ResponseBook.load().translations[language]
    phrase = WITHDRAW[language]
    assert phrase in translation.variants["escalated"][0].text
    person = translation.variants["greet"][0].buttons[2].text  # "Talk to a person"
    handed = chat(client, f"withdraw-{language}", person)
    assert handed["conversation"]["status"] == "waiting"
    withdrawn = chat(client, f"withdraw-{language}", phrase)
    assert withdrawn["conversation"]["status"] == "bot", said(withdrawn)


@pytest.mark.usefixtures("orders")
def test_translated_buttons_say_what_the_english_ones_say(client: TestClient) -> None:
    dutch = ResponseBook.load().translations["nl"]
    where, _return, person = (b.text for b in dutch.variants["greet"][0].buttons)
    chat(client, "lang-nl", "Goedemorgen, ik heb een vraag over mijn bestelling")
    assert "bestelnummer" in said(chat(client, "lang-nl", where))
    handed = chat(client, "lang-nl", person)
    assert handed["conversation"]["status"] == "waiting"
    withdrawn = chat(client, "lang-nl", "laat maar")  # what the reply told them to say
    assert withdrawn["conversation"]["status"] == "bot"
    assert "ingetrokken" in said(withdrawn)


def test_a_known_customers_locale_answers_before_they_have_written_enough(
    client: TestClient, session: Session, settings: Settings
) -> None:
    make_customer(
        session, first_name="Lea", email="lea@example.at", external_id="C7001", locale="de-AT"
    )
    session.commit()
    settings.web_login_secret = SecretStr("shop-secret-for-tests")
    token = web_login_token("C7001", "shop-secret-for-tests", expires=int(time.time()) + 600)
    body = client.post(URL, json={"session_id": "lea-1", "text": "hi", "customer_token": token})
    assert body.status_code == 200, body.text
    assert "Hallo Lea" in said(body.json())


def test_the_browsers_language_answers_until_the_visitors_words_name_one(
    client: TestClient,
) -> None:
    hello = client.post(URL, json={"session_id": "browser-de", "text": "hi", "locale": "de-DE"})
    assert hello.status_code == 200, hello.text
    assert said(hello.json()).startswith("Hallo!")
    welcome = client.get("/api/v1/chat/welcome", params={"locale": "fr-CA"}).json()
    assert (
        welcome["greeting"].startswith("Bonjour")
        and "Où est ma commande ?" in (welcome["quick_replies"])
    )
    # a language the book has no translation for, or none: the book's own
    for params in ({"locale": "da-DK"}, {}):
        english = client.get("/api/v1/chat/welcome", params=params).json()
        assert english["greeting"].startswith("Hi!")
    refused = client.get("/api/v1/chat/welcome", params={"locale": "<script>"})
    assert refused.status_code == 422


def test_agents_see_the_language_the_customer_writes_in(
    client: TestClient, staff: dict[str, User]
) -> None:
    handed = chat(client, "inbox-lang", "Ich möchte bitte mit einem Menschen sprechen, danke")
    assert handed["conversation"]["status"] == "waiting"
    login(client, staff["agent"])
    body = client.get(f"/api/v1/inbox/conversations/{handed['conversation']['id']}").json()
    assert body["conversation"]["language"] == "de"


@pytest.mark.usefixtures("orders")
def test_a_new_address_abroad_does_not_change_the_language(client: TestClient) -> None:
    chat(client, "moving", "I'd like to change the delivery address for order O0002380")
    asked = said(chat(client, "moving", "jonas.becker@example.de"))
    assert "new delivery address" in asked
    noted = said(chat(client, "moving", "Hauptstraße 14, 90402 Nürnberg"))
    assert noted.startswith("Thanks! I've passed the new address")

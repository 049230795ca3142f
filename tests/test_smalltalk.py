"""Greetings, thanks and goodbyes in the shop's customers' languages read as small talk."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from nlp.smalltalk import praise, small_talk


@pytest.mark.parametrize(
    ("text", "label"),
    [
        ("Tschüss!", "goodbye"),
        ("Danke, tschüss! 👋", "goodbye"),
        ("Dziękuję", "thanks"),
        ("merci beaucoup", "thanks"),
        ("GRÜSS GOTT", "greet"),
        ("Merhaba", "greet"),
        ("Das war's, tschüss", "goodbye"),  # ("that's all", apostrophe and all)
        ("Das war’s!", "goodbye"),
        ("to wszystko", "goodbye"),
        ("Hej då!", "goodbye"),
        ("Díky, na shledanou", "goodbye"),
        ("Tschüss und schönes Wochenende!", "goodbye"),
        ("Muito obrigada", "thanks"),
        ("Vielen Dank für die schnelle Hilfe", "thanks"),
        ("Dzień dobry, mam pytanie", "greet"),
        ("Merhaba, kolay gelsin", "greet"),
        ("Danke für nichts", None),
        ("Vielen Dank für die Info, aber wo ist mein Paket?", None),
        ("hallo, where is my order?", None),  # more than small talk: the model decides
        ("c'est tout ce que j'ai reçu?", None),
        ("merci pour rien", None),
        ("", None),
    ],
)
def test_only_small_talk_words_make_small_talk(text: str, label: str | None) -> None:
    assert small_talk(text) == label


def test_a_goodbye_in_german_is_answered_as_one_not_escalated(client: TestClient) -> None:
    res = client.post("/api/v1/chat/messages", json={"session_id": "tschuess", "text": "Tschüss!"})
    assert res.status_code == 200
    body = res.json()
    assert body["intent"]["label"] == "goodbye"
    assert body["conversation"]["status"] == "bot"


@pytest.mark.parametrize(
    "text",
    [
        "Très satisfaite de ma commande, bravo à toute l'équipe !",
        "Snabb leverans och fin kvalitet, mycket nöjd!",
        "Super schnelle Lieferung, bin total begeistert!",
        "Bardzo zadowolona z zakupów, polecam",
        "bravo pour la qualité, très contente de mon manteau",
        "Großes Lob an Ihr Team, die Reklamation ging super schnell!",
        "Riktigt bra kundservice, tack!",
        "Ottima esperienza, tornerò a comprare",
        "Top Service, bestelle gerne wieder!",
        "¡Me encanta mi nueva lámpara!",
        "Snabb leverans och fin kvalitet. Tummen upp! 👍",
        "Felicitări, cea mai rapidă livrare pe care am avut-o vreodată!",
        "Πολύ ευχαριστημένη από την παραγγελία!",
        "Kiitos nopeasta vaihdosta, uudet kengät sopivat täydellisesti!",
        "Loistava palvelu, kiitos!",
        "Te felicito, la app funciona muy bien",
        "Vă mulțumesc, totul a ajuns la recepție exact cum am cerut.",
    ],
)
def test_praise_in_the_customers_languages_is_praise(text: str) -> None:
    assert praise(text)


@pytest.mark.parametrize(
    "text",
    [
        "Jestem bardzo niezadowolona",
        "Ich war zufrieden, aber jetzt ist die Jacke kaputt",
        "Je ne suis pas satisfaite",
        "pas content du tout",
        "Sind Sie mit dem Versand zufrieden?",
        "Very happy with the order",  # (English: the models read it)
        "Toller Service, das Paket ist immer noch nicht da",
        "Super Service?",
        "nu sunt mulțumit de livrare",
        "Felicitări, dar coletul a venit rupt",
        "Δεν είμαι ευχαριστημένη",
        "Kiitos nopeasta vastauksesta, mutta kenkä on edelleen rikki.",
        "Vă mulțumesc, dar coletul nu a ajuns.",
        "",
    ],
)
def test_praise_needs_praise_words_without_a_but_or_a_no(text: str) -> None:
    assert not praise(text)


def test_praise_in_swedish_is_not_handed_over_as_a_complaint(client: TestClient) -> None:
    res = client.post(
        "/api/v1/chat/messages",
        json={"session_id": "nojd", "text": "Snabb leverans och fin kvalitet, mycket nöjd!"},
    )
    assert res.status_code == 200
    body = res.json()
    assert body["intent"]["label"] == "feedback_praise"
    assert body["conversation"]["status"] == "bot"

"""Greetings, thanks and goodbyes in the shop's customers' languages read as small talk."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from nlp.smalltalk import small_talk


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

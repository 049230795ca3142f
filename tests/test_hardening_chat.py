"""Hardening of the chat path (issue 23: items 1, 5, 6, 10 and 16), on SQLite and PostgreSQL.

Text no database stores alike (a NUL, an unpaired UTF-16 surrogate) is refused at the HTTP
edge with a 422 and cleaned in Telegram updates; one bad message never fails another
visitor's; ids and integers beyond what the columns hold get a 422, not a fake outage; a
Telegram update that cannot be processed becomes a dead letter and is acknowledged.
"""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator, Sequence
from concurrent.futures import Future
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy import Engine, func, select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from app.compose import web_app
from bot.engine import Engine as BotEngine
from careloop.config import Settings, TelegramMode
from careloop.text import storable, unstorable
from crm.db import session_scope
from crm.imports.service import import_csv
from crm.models import (
    Campaign,
    Customer,
    Message,
    Role,
    TelegramDeadLetter,
    User,
)
from crm.schemas import MAX_ID
from crm.users.service import create_api_token
from devtools.fake_telegram import TOKEN, FakeTelegram, FakeTelegramServer
from nlp.base import Understanding
from nlp.batcher import MicroBatcher
from nlp.pipeline import NLU
from tests.factories import campaign_fields, make_user

CHAT = "/api/v1/chat/messages"
HUGE = 2**64  # beyond the 64-bit integers both databases store
BAD_TEXTS = {"nul": "x \x00 y", "surrogate": "x \ud800 y"}


def count(session: Session, model: type) -> int:
    return session.scalar(select(func.count()).select_from(model)) or 0


def bearer(session: Session, user: User) -> dict[str, str]:
    plain, _ = create_api_token(session, user=user, name="test")
    session.commit()
    return {"Authorization": f"Bearer {plain}"}


def raw_json(payload: dict[str, Any]) -> dict[str, Any]:
    """Keyword arguments posting ``payload`` as JSON with ``\\u`` escapes (a lone
    surrogate cannot be sent any other way)."""
    return {"content": json.dumps(payload), "headers": {"Content-Type": "application/json"}}


# -- the kernel's text rules ----------------------------------------------------------


def test_unstorable_names_the_problem_and_storable_cleans_it() -> None:
    assert unstorable("plain ümlaut 😀") is None
    assert "NUL" in (unstorable("a\x00b") or "")
    assert "surrogate" in (unstorable("a\ud800b") or "")
    assert storable("a\x00b \ud800 c") == "ab \ufffd c"
    assert storable("\ud83d\ude00") == "😀"  # a split pair joins again


# -- item 1: one bad message never fails another caller's -----------------------------


def test_a_failing_item_fails_only_its_own_caller(caplog: pytest.LogCaptureFixture) -> None:
    calls: list[int] = []

    def shout(items: Sequence[str]) -> list[str]:
        calls.append(len(items))
        if any("bad" in item for item in items):
            raise ValueError("cannot read this")
        return [item.upper() for item in items]

    # A long max_wait: everything submitted below lands in one batch.
    batcher: MicroBatcher[str, str] = MicroBatcher(shout, max_batch=64, max_wait=0.5)
    texts = [f"good {i}" if i % 4 else f"bad {i}" for i in range(40)]
    try:
        with caplog.at_level(logging.WARNING, logger="nlp.batcher"):
            futures: list[Future[str]] = [batcher.submit_async(t) for t in texts]
            for text, future in zip(texts, futures, strict=True):
                if text.startswith("bad"):
                    with pytest.raises(ValueError, match="cannot read"):
                        future.result(timeout=30)
                else:
                    assert future.result(timeout=30) == text.upper()
    finally:
        batcher.close()
    assert calls[0] == 40, "the first attempt was one batch"
    assert batcher.failed_items == 10
    lines = [r for r in caplog.records if "nlu.batch.item_failed" in r.getMessage()]
    assert len(lines) == 1, "ten failures, one log line"
    assert lines[0].exc_info is None, "no traceback per bad request"


def test_an_unreadable_text_does_not_fail_the_nlu_for_others(nlu: NLU) -> None:
    # The real encoder: its tokenizer refuses a lone surrogate.
    batcher: MicroBatcher[str, Understanding] = MicroBatcher(
        nlu.understand_batch, max_batch=64, max_wait=0.5
    )
    good = ["where is my order", "hello there", "I want a refund", "thanks a lot"] * 3
    texts = [*good[:6], "x \ud800 y", *good[6:], "\udfff"]
    try:
        futures = [batcher.submit_async(t) for t in texts]
        results: list[Understanding] = []
        failures = 0
        for future in futures:
            try:
                results.append(future.result(timeout=120))
            except TypeError:
                failures += 1
    finally:
        batcher.close()
    assert failures == 2
    assert [r.text for r in results] == good
    assert all(r.intent.label for r in results)


@pytest.mark.parametrize("kind", sorted(BAD_TEXTS))
def test_chat_refuses_unstorable_text_with_a_clear_422(
    client: TestClient, session: Session, kind: str
) -> None:
    res = client.post(CHAT, **raw_json({"session_id": "p", "text": BAD_TEXTS[kind]}))
    assert res.status_code == 422, res.text
    error = res.json()["error"]
    assert error["code"] == "invalid"
    assert "'text'" in error["message"] and "cannot be stored" in error["message"]
    assert ("NUL" if kind == "nul" else "surrogate") in error["message"]
    assert count(session, Message) == 0 and count(session, Customer) == 0
    ok = client.post(CHAT, json={"session_id": "p", "text": "hello there"})
    assert ok.status_code == 200, "the same visitor carries on"


def test_unstorable_text_is_refused_in_every_field_and_place(
    client: TestClient, session: Session, staff: dict[str, User]
) -> None:
    headers = bearer(session, staff["admin"])
    marketer = bearer(session, staff["marketer"])
    cases = [
        ("post", CHAT, {"session_id": "p", "text": "hi", "first_name": "A\x00"}, headers),
        ("post", "/api/v1/teams", {"name": "Deli\x00very"}, headers),
        ("post", "/api/v1/campaigns", campaign_fields(name="Win\x00back"), marketer),
        ("post", "/api/v1/campaigns", campaign_fields(audience={"a\x00": 1}), marketer),
        ("post", "/api/v1/admin/users", {"email": "x@y.z", "password": "p\ud800"}, headers),
    ]
    for method, path, body, auth in cases:
        res = client.request(
            method, path, headers=auth | raw_json(body)["headers"], content=json.dumps(body)
        )
        assert res.status_code == 422, (path, res.text)
        assert "cannot be stored" in res.json()["error"]["message"]
    # Query strings and forms too.
    res = client.get("/api/v1/customers", params={"segment": "At\x00risk"}, headers=headers)
    assert res.status_code == 422 and "query parameter 'segment'" in res.json()["error"]["message"]
    res = client.post("/login", data={"email": "a\x00@b.c", "password": "x"})
    assert res.status_code == 422 and "form field 'email'" in res.json()["error"]["message"]
    assert count(session, Campaign) == 0


def test_notes_and_replies_with_a_nul_are_refused(
    client: TestClient, session: Session, staff: dict[str, User]
) -> None:
    assert client.post(CHAT, json={"session_id": "note-1", "text": "I want a human"}).is_success
    conversation_id = session.scalars(select(Message.conversation_id)).first()
    headers = bearer(session, staff["agent"])
    for private in (True, False):
        res = client.post(
            f"/api/v1/inbox/conversations/{conversation_id}/messages",
            json={"text": "see \x00 this", "private": private},
            headers=headers,
        )
        assert res.status_code == 422, res.text
    stored = session.scalars(select(Message.text)).all()
    assert not any("\x00" in t for t in stored)


# -- item 5: long ids -------------------------------------------------------------------


def test_the_longest_session_id_works_without_a_message_id(
    client: TestClient, session: Session
) -> None:
    session_id = "s" * 128
    res = client.post(CHAT, json={"session_id": session_id, "text": "hello there"})
    assert res.status_code == 200, res.text
    listed = client.get(f"/api/v1/chat/sessions/{session_id}/messages")
    assert listed.status_code == 200 and listed.json()["messages"]


def test_ids_too_long_together_get_a_422_and_short_enough_ones_work(
    client: TestClient, session: Session
) -> None:
    res = client.post(
        CHAT, json={"session_id": "s" * 100, "message_id": "m" * 100, "text": "hello there"}
    )
    assert res.status_code == 422, res.text
    assert "at most 127" in res.json()["error"]["message"]
    assert count(session, Message) == 0
    body = {"session_id": "s" * 63, "message_id": "m" * 63, "text": "hello there"}
    first = client.post(CHAT, json=body)
    assert first.status_code == 200, first.text
    again = client.post(CHAT, json=body)
    assert again.status_code == 200 and again.json()["duplicate"] is True


# -- item 10: integers beyond 64 bits ---------------------------------------------------


def test_integers_beyond_64_bits_and_negative_limits_get_422(
    client: TestClient, session: Session, staff: dict[str, User]
) -> None:
    admin = bearer(session, staff["admin"])
    marketer = bearer(session, staff["marketer"])
    chat = "/api/v1/chat/sessions/visitor/messages"
    assert client.get(chat, params={"after": HUGE}).status_code == 422
    assert client.get(chat, params={"limit": -1}).status_code == 422
    # the largest id the id columns hold (32-bit on PostgreSQL) is still a valid cursor
    assert client.get(chat, params={"after": MAX_ID}).status_code == 200
    assert client.get(chat, params={"after": MAX_ID + 1}).status_code == 422
    paths = [
        ("get", f"/api/v1/inbox/conversations?offset={HUGE}", admin),
        ("get", "/api/v1/inbox/conversations?limit=-1", admin),
        ("get", f"/api/v1/inbox/conversations/{HUGE}", admin),
        ("post", f"/api/v1/inbox/conversations/{HUGE}/claim", admin),
        ("get", "/api/v1/inbox/notifications?limit=-1", admin),
        ("get", f"/api/v1/customers/{HUGE}", admin),
        ("get", f"/api/v1/campaigns/{HUGE}", marketer),
        ("get", f"/api/v1/admin/users/{HUGE}", admin),
        ("get", f"/api/v1/admin/audit?before_id={HUGE}", admin),
        ("get", f"/api/v1/analytics/quality?team_id={HUGE}", admin),
        ("get", f"/api/v1/analytics/quality?agent_id={-HUGE}", admin),
        ("delete", f"/api/v1/teams/1/members/{HUGE}", admin),
        ("get", f"/api/v1/customers/{HUGE}/contact-blocks", admin),
    ]
    for method, path, headers in paths:
        res = client.request(method, path, headers=headers)
        assert res.status_code == 422, (path, res.status_code, res.text)
    res = client.post("/api/v1/inbox/notifications/read", json={"ids": [HUGE]}, headers=admin)
    assert res.status_code == 422
    res = client.post(
        "/api/v1/campaigns", json=campaign_fields(max_messages=HUGE), headers=marketer
    )
    assert res.status_code == 422


@pytest.mark.parametrize("value", [str(HUGE), "-1", "²", "abc"])
def test_a_last_event_id_that_is_no_message_id_gets_422(client: TestClient, value: str) -> None:
    res = client.get(
        "/api/v1/chat/sessions/visitor/events", headers={b"Last-Event-ID": value.encode()}
    )
    assert res.status_code == 422, res.text


# -- item 6: CSV cells --------------------------------------------------------------------


def test_a_csv_row_with_a_nul_is_rejected_and_the_others_imported(
    live_session_factory: sessionmaker[Session],
) -> None:
    rows = [
        "external_id,email,first_name",
        "C-1,one@example.org,Ann",
        "C-2,two@example.org,B\x00b",
        "C-3,three@example.org,Cat",
    ]
    report = import_csv(live_session_factory, "customers", io.BytesIO("\n".join(rows).encode()))
    assert report.rejected == [(3, "contains a NUL character (\\0), which cannot be stored")]
    with session_scope(live_session_factory) as session:
        names = session.scalars(select(Customer.external_id).order_by(Customer.external_id))
        assert list(names) == ["C-1", "C-3"]


# -- item 16: Telegram dead letters ------------------------------------------------------

SECRET = "s3cret-webhook_token"
HEADER = "X-Telegram-Bot-Api-Secret-Token"


@pytest.fixture
def fake() -> Iterator[FakeTelegram]:
    with FakeTelegramServer() as server:
        yield server


@pytest.fixture
def telegram_client(
    settings: Settings,
    fake: FakeTelegram,
    bot: BotEngine,
    db_engine: Engine,
    live_session_factory: sessionmaker[Session],
) -> Iterator[TestClient]:
    app = web_app(
        settings.model_copy(
            update={
                "telegram_token": SecretStr(TOKEN),
                "telegram_api_url": fake.api_url,
                "telegram_mode": TelegramMode.webhook,
                "telegram_webhook_secret": SecretStr(SECRET),
            }
        ),
        bot=bot,
        db_engine=db_engine,
        session_factory=live_session_factory,
        run_scheduler=False,
    )
    with TestClient(app) as client:
        yield client


def webhook(client: TestClient, update: dict[str, Any]) -> Any:
    body = raw_json(update)
    return client.post(
        "/telegram/webhook", content=body["content"], headers=body["headers"] | {HEADER: SECRET}
    )


def test_an_unprocessable_update_is_a_dead_letter_acknowledged_with_200(
    telegram_client: TestClient,
    fake: FakeTelegram,
    live_session_factory: sessionmaker[Session],
) -> None:
    broken = {"update_id": 9001, "message": {"message_id": "not a number", "chat": 5}}
    res = webhook(telegram_client, broken)
    assert res.status_code == 200, res.text
    again = webhook(telegram_client, broken)  # had Telegram retried anyway
    assert again.status_code == 200
    with session_scope(live_session_factory) as session:
        letters = session.scalars(select(TelegramDeadLetter)).all()
        assert [letter.update_id for letter in letters] == [9001, 9001]
        assert json.loads(letters[0].payload) == broken
        assert letters[0].error
        admin = make_user(session, Role.admin)
        agent = make_user(session, Role.agent)
        headers = bearer(session, admin)
        agent_headers = bearer(session, agent)
    listed = telegram_client.get("/api/v1/admin/telegram/dead-letters", headers=headers)
    assert listed.status_code == 200
    assert [d["update_id"] for d in listed.json()["dead_letters"]] == [9001, 9001]
    forbidden = telegram_client.get("/api/v1/admin/telegram/dead-letters", headers=agent_headers)
    assert forbidden.status_code == 403
    # The next good update is answered as usual.
    assert webhook(telegram_client, fake.text_update(777, "hello there")).status_code == 200
    fake.wait_for(lambda: len(fake.sent_to(777)) >= 1)


@pytest.mark.parametrize("kind", sorted(BAD_TEXTS))
def test_telegram_text_no_database_stores_is_cleaned_and_answered(
    telegram_client: TestClient,
    fake: FakeTelegram,
    live_session_factory: sessionmaker[Session],
    kind: str,
) -> None:
    chat_id = 880 if kind == "nul" else 881
    update = fake.text_update(
        chat_id, f"where is my order {BAD_TEXTS[kind]}", first_name=f"Ann{BAD_TEXTS[kind]}"
    )
    assert webhook(telegram_client, update).status_code == 200
    fake.wait_for(lambda: len(fake.sent_to(chat_id)) >= 1)
    with session_scope(live_session_factory) as session:
        texts = session.scalars(select(Message.text).where(Message.text.like("where%"))).all()
        assert texts == [storable(f"where is my order {BAD_TEXTS[kind]}")]
        assert count(session, TelegramDeadLetter) == 0


def test_a_passing_outage_still_asks_telegram_to_retry(
    telegram_client: TestClient,
    fake: FakeTelegram,
    live_session_factory: sessionmaker[Session],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    channel = telegram_client.app.state.careloop.telegram  # type: ignore[attr-defined]

    async def database_away(update: Any) -> None:
        raise OperationalError("SELECT 1", {}, Exception("connection refused"))

    monkeypatch.setattr(channel, "dispatch", database_away)
    res = webhook(telegram_client, fake.text_update(991, "hello there"))
    assert res.status_code == 503 and res.headers["Retry-After"]
    with session_scope(live_session_factory) as session:
        assert count(session, TelegramDeadLetter) == 0

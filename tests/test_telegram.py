"""Telegram end to end through python-telegram-bot's real HTTP stack and a fake Bot API server.

The app (``app.compose.web_app``) runs its real lifespan: the channel connects with ``getMe``, polls
``getUpdates`` or takes webhook posts, the engine answers, and the one sender delivers the
replies from the outbox to the fake server, which records them and enforces flood limits.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from app.cli import app as cli
from app.compose import web_app
from bot.engine import Engine as BotEngine
from bot.telegram.limiter import RateLimiter
from careloop.config import Settings, TelegramMode, get_settings
from crm.conversations.routing import Office
from crm.customers.links import link_token, parse_link_token
from crm.db import session_scope
from crm.models import (
    Channel,
    ChannelIdentity,
    Conversation,
    ConversationStatus,
    Customer,
    DeliveryStatus,
    Direction,
    Message,
)
from devtools.fake_telegram import TOKEN, FakeTelegram, FakeTelegramServer
from tests.factories import make_customer

SECRET = "s3cret-webhook_token"
HEADER = "X-Telegram-Bot-Api-Secret-Token"


@pytest.fixture
def fake() -> Iterator[FakeTelegram]:
    with FakeTelegramServer() as server:
        yield server


def telegram_settings(settings: Settings, fake: FakeTelegram, mode: TelegramMode) -> Settings:
    return settings.model_copy(
        update={
            "telegram_token": SecretStr(TOKEN),
            "telegram_api_url": fake.api_url,
            "telegram_mode": mode,
            "telegram_webhook_secret": SecretStr(SECRET),
        }
    )


@pytest.fixture
def app_client(
    request: pytest.FixtureRequest,
    settings: Settings,
    fake: FakeTelegram,
    bot: BotEngine,
    db_engine: Engine,
    live_session_factory: sessionmaker[Session],
) -> Iterator[TestClient]:
    mode = getattr(request, "param", TelegramMode.webhook)
    app = web_app(
        telegram_settings(settings, fake, mode),
        bot=bot,
        db_engine=db_engine,
        session_factory=live_session_factory,
        run_scheduler=False,
    )
    with TestClient(app) as client:
        yield client


def post_update(client: TestClient, update: dict[str, Any], secret: str | None = SECRET) -> Any:
    headers = {HEADER: secret} if secret is not None else {}
    return client.post("/telegram/webhook", json=update, headers=headers)


def messages_of(factory: sessionmaker[Session], chat_id: int) -> list[Message]:
    with session_scope(factory) as session:
        return list(
            session.scalars(
                select(Message)
                .join(Conversation, Conversation.id == Message.conversation_id)
                .join(ChannelIdentity, ChannelIdentity.id == Conversation.channel_identity_id)
                .where(ChannelIdentity.channel == Channel.telegram)
                .where(ChannelIdentity.external_id == str(chat_id))
                .order_by(Message.id)
            )
        )


def identity_of(factory: sessionmaker[Session], chat_id: int) -> ChannelIdentity:
    with session_scope(factory) as session:
        return session.scalars(
            select(ChannelIdentity).where(
                ChannelIdentity.channel == Channel.telegram,
                ChannelIdentity.external_id == str(chat_id),
            )
        ).one()


def customer_of(factory: sessionmaker[Session], chat_id: int) -> Customer:
    with session_scope(factory) as session:
        identity = session.scalars(
            select(ChannelIdentity).where(ChannelIdentity.external_id == str(chat_id))
        ).one()
        return session.get_one(Customer, identity.customer_id)


@pytest.mark.parametrize("app_client", [TelegramMode.polling], indirect=True)
def test_polling_message_is_stored_understood_and_answered(
    app_client: TestClient, fake: FakeTelegram, live_session_factory: sessionmaker[Session]
) -> None:
    fake.push(fake.text_update(501, "where is my order?"))
    fake.wait_for(lambda: len(fake.sent_to(501)) >= 1)
    messages = messages_of(live_session_factory, 501)
    inbound = [m for m in messages if m.direction is Direction.inbound]
    outbound = [m for m in messages if m.direction is Direction.outbound]
    assert [m.text for m in inbound] == ["where is my order?"]
    assert inbound[0].intent == "order_status"
    assert inbound[0].sentiment is not None
    fake.wait_for(
        lambda: all(
            m.delivery_status is DeliveryStatus.sent
            for m in messages_of(live_session_factory, 501)
            if m.direction is Direction.outbound
        )
    )
    outbound = [
        m for m in messages_of(live_session_factory, 501) if m.direction is Direction.outbound
    ]
    assert fake.sent_to(501)[0].text == outbound[0].text
    assert outbound[0].channel_message_id == f"501:{fake.sent_to(501)[0].message_id}"
    assert fake.calls_of("getMe"), "the channel connects with getMe at start"


def test_webhook_answers_once_for_a_repeated_update(
    app_client: TestClient, fake: FakeTelegram, live_session_factory: sessionmaker[Session]
) -> None:
    update = fake.text_update(502, "hello there")
    assert post_update(app_client, update).status_code == 200
    assert post_update(app_client, update).status_code == 200  # Telegram retried the webhook
    fake.wait_for(lambda: len(fake.sent_to(502)) >= 1)
    with pytest.raises(AssertionError):  # no second answer arrives
        fake.wait_for(lambda: len(fake.sent_to(502)) >= 2, timeout=1.0)
    inbound = [
        m for m in messages_of(live_session_factory, 502) if m.direction is Direction.inbound
    ]
    assert len(inbound) == 1


@pytest.mark.parametrize("secret", [None, "wrong", ""])
def test_webhook_refuses_a_wrong_or_missing_secret(
    app_client: TestClient,
    fake: FakeTelegram,
    live_session_factory: sessionmaker[Session],
    secret: str | None,
) -> None:
    response = post_update(app_client, fake.text_update(503, "hi"), secret=secret)
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "forbidden"
    assert messages_of(live_session_factory, 503) == []


def test_webhook_rejects_what_is_not_an_update(app_client: TestClient) -> None:
    bad = app_client.post("/telegram/webhook", content=b"{not json", headers={HEADER: SECRET})
    assert bad.status_code == 400
    assert post_update(app_client, {"hello": 1}).status_code == 400


def test_buttons_are_sent_answered_removed_and_acted_on(
    app_client: TestClient, fake: FakeTelegram, live_session_factory: sessionmaker[Session]
) -> None:
    post_update(app_client, fake.text_update(504, "/start"))
    fake.wait_for(lambda: len(fake.sent_to(504)) >= 1)
    greeting = fake.sent_to(504)[0]
    assert greeting.reply_markup is not None
    labels = [row[0]["text"] for row in greeting.reply_markup["inline_keyboard"]]
    assert "Where is my order?" in labels
    sends = [params for method, params in fake.calls if method == "sendMessage"]
    assert all('"is_disabled": true' in str(p.get("link_preview_options")) for p in sends)

    press = fake.button_update(504, "say:Where is my order?", message_id=greeting.message_id)
    assert post_update(app_client, press).status_code == 200
    fake.wait_for(lambda: len(fake.sent_to(504)) >= 2)
    assert fake.calls_of("answerCallbackQuery")[0]["callback_query_id"] == "cq" + str(
        press["update_id"]
    )
    removed = fake.calls_of("editMessageReplyMarkup")
    assert removed and int(removed[0]["message_id"]) == greeting.message_id
    inbound = [
        m for m in messages_of(live_session_factory, 504) if m.direction is Direction.inbound
    ]
    assert inbound[-1].text == "Where is my order?"
    assert inbound[-1].intent == "order_status"

    assert post_update(app_client, press).status_code == 200  # a double tap
    with pytest.raises(AssertionError):
        fake.wait_for(lambda: len(fake.sent_to(504)) >= 3, timeout=1.0)


def test_agent_command_escalates(
    app_client: TestClient, fake: FakeTelegram, live_session_factory: sessionmaker[Session]
) -> None:
    post_update(app_client, fake.text_update(505, "/agent"))
    fake.wait_for(lambda: len(fake.sent_to(505)) >= 2)
    with session_scope(live_session_factory) as session:
        conversation = session.scalars(
            select(Conversation).where(Conversation.channel == Channel.telegram)
        ).one()
        assert conversation.status is ConversationStatus.waiting
        assert conversation.escalation_reason == "human_request"
    post_update(app_client, fake.text_update(505, "/agent"))
    fake.wait_for(lambda: len(fake.sent_to(505)) >= 3)
    assert "already in the queue" in fake.sent_to(505)[2].text


def test_the_telegram_apps_language_answers_until_the_customers_words_name_one(
    app_client: TestClient, fake: FakeTelegram, live_session_factory: sessionmaker[Session]
) -> None:
    post_update(app_client, fake.text_update(509, "/start", language_code="es"))
    fake.wait_for(lambda: len(fake.sent_to(509)) >= 1)
    assert fake.sent_to(509)[0].text.startswith("¡Hola, Ann!")
    post_update(
        app_client,
        fake.text_update(
            509, "Hello, can you tell me how long delivery takes?", language_code="es"
        ),
    )
    fake.wait_for(lambda: len(fake.sent_to(509)) >= 2)
    assert "working days" in fake.sent_to(509)[1].text
    with session_scope(live_session_factory) as session:
        assert session.scalars(select(Conversation)).one().language == "en"


def test_stop_then_start_keeps_marketing_off_until_the_customer_consents(
    app_client: TestClient, fake: FakeTelegram, live_session_factory: sessionmaker[Session]
) -> None:
    post_update(app_client, fake.text_update(506, "/stop"))
    fake.wait_for(lambda: len(fake.sent_to(506)) >= 1)
    customer = customer_of(live_session_factory, 506)
    assert customer.marketing_consent is False and customer.opted_out_at is not None

    post_update(app_client, fake.text_update(506, "/start"))
    fake.wait_for(lambda: len(fake.sent_to(506)) >= 2)
    welcome = fake.sent_to(506)[1]
    assert "Offers stay off" in welcome.text
    assert customer_of(live_session_factory, 506).marketing_consent is False
    assert welcome.reply_markup is not None
    datas = [row[0]["callback_data"] for row in welcome.reply_markup["inline_keyboard"]]
    assert "consent:yes" in datas

    post_update(app_client, fake.button_update(506, "consent:yes", message_id=welcome.message_id))
    fake.wait_for(lambda: len(fake.sent_to(506)) >= 3)
    customer = customer_of(live_session_factory, 506)
    assert customer.marketing_consent is True and customer.opted_out_at is None


def test_deep_link_attaches_the_chat_to_an_existing_customer(
    app_client: TestClient,
    fake: FakeTelegram,
    settings: Settings,
    live_session_factory: sessionmaker[Session],
) -> None:
    with session_scope(live_session_factory) as session:
        known = make_customer(session, first_name="Greta")
        known_id = known.id
    post_update(app_client, fake.text_update(507, "hi"))  # first contact: a new record
    fake.wait_for(lambda: len(fake.sent_to(507)) >= 1)
    assert customer_of(live_session_factory, 507).id != known_id

    token = link_token(known_id, settings.secret_key.get_secret_value())
    post_update(app_client, fake.text_update(507, f"/start {token}"))
    fake.wait_for(lambda: len(fake.sent_to(507)) >= 2)
    assert customer_of(live_session_factory, 507).id == known_id
    assert "linked to your customer account" in fake.sent_to(507)[1].text
    assert {m.customer_id for m in messages_of(live_session_factory, 507)} == {known_id}


def test_forged_deep_link_links_nothing(
    app_client: TestClient,
    fake: FakeTelegram,
    settings: Settings,
    live_session_factory: sessionmaker[Session],
) -> None:
    with session_scope(live_session_factory) as session:
        known_id = make_customer(session).id
    forged = link_token(known_id, "another-secret")
    post_update(app_client, fake.text_update(508, f"/start {forged}"))
    fake.wait_for(lambda: len(fake.sent_to(508)) >= 2)
    assert "didn't work" in fake.sent_to(508)[0].text
    assert customer_of(live_session_factory, 508).id != known_id


def test_link_tokens_round_trip_and_reject_tampering() -> None:
    token = link_token(42, "k")
    assert len(token) <= 64 and parse_link_token(token, "k") == 42
    assert parse_link_token(token, "other") is None
    assert parse_link_token(token.replace("c42_", "c43_"), "k") is None
    assert parse_link_token("garbage", "k") is None


def test_retry_after_is_honoured_and_the_message_sent_once(
    app_client: TestClient, fake: FakeTelegram, live_session_factory: sessionmaker[Session]
) -> None:
    fake.fail_next.append((429, 1))
    post_update(app_client, fake.text_update(509, "thanks a lot"))
    fake.wait_for(lambda: len(fake.sent_to(509)) >= 1)
    assert fake.too_many == 1
    fake.wait_for(
        lambda: (
            [m.delivery_status for m in messages_of(live_session_factory, 509)][-1:]
            == [DeliveryStatus.sent]
        )
    )
    reply = messages_of(live_session_factory, 509)[-1]
    assert reply.delivery_attempts == 2
    assert len(fake.sent_to(509)) == 1


def test_transient_server_error_is_retried(
    app_client: TestClient, fake: FakeTelegram, live_session_factory: sessionmaker[Session]
) -> None:
    fake.fail_next.append((500, 0))
    post_update(app_client, fake.text_update(510, "thanks"))
    fake.wait_for(lambda: len(fake.sent_to(510)) == 1)
    fake.wait_for(
        lambda: messages_of(live_session_factory, 510)[-1].delivery_status is DeliveryStatus.sent
    )
    assert messages_of(live_session_factory, 510)[-1].delivery_attempts == 2


def test_blocked_bot_marks_the_customer_unreachable_without_retrying(
    app_client: TestClient, fake: FakeTelegram, live_session_factory: sessionmaker[Session]
) -> None:
    fake.blocked.add("511")
    post_update(app_client, fake.text_update(511, "/agent"))  # two replies queued
    fake.wait_for(
        lambda: all(
            m.delivery_status is DeliveryStatus.failed
            for m in messages_of(live_session_factory, 511)
            if m.direction is Direction.outbound
        )
    )
    identity = identity_of(live_session_factory, 511)
    assert identity.reachable is False and identity.unreachable_reason == "blocked_bot"
    attempts = [c for c in fake.calls_of("sendMessage") if str(c["chat_id"]) == "511"]
    assert len(attempts) == 1, "the second reply is not even tried once the chat is blocked"

    fake.blocked.discard("511")  # the customer unblocks and writes again
    post_update(app_client, fake.text_update(511, "hello?"))
    assert identity_of(live_session_factory, 511).reachable is True


def test_replies_to_one_chat_keep_order_and_pace(
    app_client: TestClient, fake: FakeTelegram
) -> None:
    post_update(app_client, fake.text_update(512, "I want to speak to a human"))
    fake.wait_for(lambda: len(fake.sent_to(512)) >= 2)
    first, second = fake.sent_to(512)[:2]
    assert "connecting you" in first.text and "colleague will reply" in second.text
    assert second.at - first.at >= 1.0
    assert fake.too_many == 0


def test_no_token_means_telegram_off_and_web_chat_on(
    client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    response = client.post(
        "/api/v1/chat/messages",
        json={"session_id": "tg-off-1", "message_id": "m1", "text": "hello"},
    )
    assert response.status_code == 200
    assert client.post("/telegram/webhook", json={"update_id": 1}).status_code == 404


def test_no_token_is_logged(
    settings: Settings,
    bot: BotEngine,
    db_engine: Engine,
    session_factory: sessionmaker[Session],
    caplog: pytest.LogCaptureFixture,
) -> None:
    app = web_app(
        settings, bot=bot, db_engine=db_engine, session_factory=session_factory, run_scheduler=False
    )
    with caplog.at_level(logging.INFO), TestClient(app):
        pass
    assert any("telegram.off" in r.getMessage() for r in caplog.records)


def test_unreachable_api_does_not_stop_the_web_chat(
    settings: Settings,
    bot: BotEngine,
    db_engine: Engine,
    session_factory: sessionmaker[Session],
    caplog: pytest.LogCaptureFixture,
) -> None:
    dead = settings.model_copy(
        update={"telegram_token": SecretStr(TOKEN), "telegram_api_url": "http://127.0.0.1:9"}
    )
    app = web_app(
        dead, bot=bot, db_engine=db_engine, session_factory=session_factory, run_scheduler=False
    )
    with caplog.at_level(logging.INFO), TestClient(app) as client:
        assert client.get("/healthz").status_code == 200
    assert any("telegram.start_failed" in r.getMessage() for r in caplog.records)


def test_webhook_mode_needs_a_secret() -> None:
    with pytest.raises(ValueError, match="WEBHOOK_SECRET"):
        Settings(telegram_token=SecretStr("1:x"), telegram_mode=TelegramMode.webhook)


def test_rate_limiter_never_lets_more_than_n_through_in_a_second() -> None:
    limiter = RateLimiter(per_second=10, chat_interval=0.3)
    stamps: list[float] = []

    async def burst() -> None:
        loop = asyncio.get_running_loop()

        async def one(chat: str) -> None:
            async with limiter.slot(chat):
                stamps.append(loop.time())
                await asyncio.sleep(0.01)  # the request

        await asyncio.gather(*(one(f"c{i % 7}") for i in range(25)))

    asyncio.run(burst())
    stamps.sort()
    assert len(stamps) == 25
    for i in range(len(stamps) - 10):
        assert stamps[i + 10] - stamps[i] >= 1.0


def test_cli_sets_and_deletes_the_webhook(
    fake: FakeTelegram, monkeypatch: pytest.MonkeyPatch
) -> None:
    from careloop.config import get_settings

    monkeypatch.setenv("CARELOOP_TELEGRAM_TOKEN", TOKEN)
    monkeypatch.setenv("CARELOOP_TELEGRAM_API_URL", fake.api_url)
    monkeypatch.setenv("CARELOOP_TELEGRAM_WEBHOOK_SECRET", SECRET)
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(cli, ["telegram", "set-webhook", "https://example.org/tg"])
        assert result.exit_code == 0, result.output
        assert fake.webhook["url"] == "https://example.org/tg"
        assert fake.webhook["secret_token"] == SECRET
        result = CliRunner().invoke(cli, ["telegram", "delete-webhook"])
        assert result.exit_code == 0 and fake.webhook == {}
    finally:
        get_settings.cache_clear()


def test_cli_link_prints_a_deep_link(
    fake: FakeTelegram,
    monkeypatch: pytest.MonkeyPatch,
    db_url: str,
    live_session_factory: sessionmaker[Session],
) -> None:
    from careloop.config import get_settings

    with session_scope(live_session_factory) as session:
        customer_id = make_customer(session).id
    monkeypatch.setenv("CARELOOP_DATABASE_URL", db_url)
    monkeypatch.setenv("CARELOOP_TELEGRAM_TOKEN", TOKEN)
    monkeypatch.setenv("CARELOOP_TELEGRAM_API_URL", fake.api_url)
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(cli, ["telegram", "link", str(customer_id)])
        assert result.exit_code == 0, result.output
        url = result.output.strip()
        assert url.startswith("https://t.me/careloop_test_bot?start=c")
        secret = get_settings().secret_key.get_secret_value()
        assert parse_link_token(url.split("start=")[1], secret) == customer_id
        missing = CliRunner().invoke(cli, ["telegram", "link", "999999", "--username", "x"])
        assert missing.exit_code == 1 and "not found" in missing.output
    finally:
        get_settings.cache_clear()


def test_agent_reply_reaches_the_customer_on_telegram(
    app_client: TestClient, fake: FakeTelegram, live_session_factory: sessionmaker[Session]
) -> None:
    from crm.conversations import inbox
    from crm.models import Role
    from tests.factories import make_user

    post_update(app_client, fake.text_update(513, "/agent"))
    fake.wait_for(lambda: len(fake.sent_to(513)) >= 2)
    with session_scope(live_session_factory) as session:
        agent = make_user(session, Role.agent)
        conversation = session.scalars(
            select(Conversation).where(Conversation.channel == Channel.telegram)
        ).one()
        inbox.reply(
            session,
            conversation_id=conversation.id,
            agent=agent,
            text="Hi, Alice here!",
            office=Office.of(get_settings()),
        )
        inbox.reply(
            session,
            conversation_id=conversation.id,
            agent=agent,
            text="(note)",
            office=Office.of(get_settings()),
            private=True,
        )
    fake.wait_for(lambda: any(s.text == "Hi, Alice here!" for s in fake.sent_to(513)))
    assert all(s.text != "(note)" for s in fake.sent_to(513))


def test_csat_survey_buttons_on_telegram(
    app_client: TestClient,
    fake: FakeTelegram,
    live_session_factory: sessionmaker[Session],
    settings: Settings,
) -> None:
    from crm.conversations import inbox
    from crm.models import Role, SurveyResponse, SurveyStatus
    from crm.surveys import service as surveys
    from tests.factories import make_user

    post_update(app_client, fake.text_update(514, "/agent"))
    fake.wait_for(lambda: len(fake.sent_to(514)) >= 2)
    with session_scope(live_session_factory) as session:
        agent = make_user(session, Role.agent)
        conversation = session.scalars(
            select(Conversation).where(Conversation.channel == Channel.telegram)
        ).one()
        inbox.claim(session, conversation_id=conversation.id, agent=agent)
        inbox.resolve(session, conversation_id=conversation.id, agent=agent)
    with session_scope(live_session_factory) as session:
        assert surveys.dispatch(session, settings).sent == 1
    with session_scope(live_session_factory) as session:  # a restart: nothing asked twice
        assert surveys.dispatch(session, settings).sent == 0

    fake.wait_for(lambda: any(s.text == settings.survey_csat_question for s in fake.sent_to(514)))
    question = next(s for s in fake.sent_to(514) if s.text == settings.survey_csat_question)
    assert question.reply_markup is not None
    rows = question.reply_markup["inline_keyboard"]
    assert [[b["text"] for b in row] for row in rows] == [["1", "2", "3", "4", "5"]]

    press = fake.button_update(514, rows[0][4]["callback_data"], message_id=question.message_id)
    assert post_update(app_client, press).status_code == 200
    fake.wait_for(lambda: fake.sent_to(514)[-1].text == settings.survey_comment_question)
    removed = fake.calls_of("editMessageReplyMarkup")
    assert any(int(call["message_id"]) == question.message_id for call in removed)
    # A second tap (a new callback query) is recorded once and answered politely.
    post_update(
        app_client,
        fake.button_update(514, rows[0][0]["callback_data"], message_id=question.message_id),
    )
    fake.wait_for(lambda: "already answered" in fake.sent_to(514)[-1].text)

    post_update(app_client, fake.text_update(514, "Quick and friendly, thank you!"))
    fake.wait_for(lambda: "We read every comment" in fake.sent_to(514)[-1].text)
    with session_scope(live_session_factory) as session:
        survey = session.scalars(select(SurveyResponse)).one()
        assert survey.status is SurveyStatus.answered and survey.score == 5
        assert survey.agent_id == agent.id and survey.comment == "Quick and friendly, thank you!"
        assert survey.comment_sentiment is not None and survey.comment_sentiment > 0
        assert survey.follow_up_conversation_id is None

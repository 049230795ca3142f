"""Every channel satisfies :class:`bot.channels.Channel`; the web chat's delivery marking;
a third channel needs nothing but the protocol to get the bot's replies."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from pydantic import SecretStr
from sqlalchemy.orm import Session, sessionmaker

from bot.channels import Capabilities, Channel, Channels
from bot.channels.web import WebChat
from bot.engine import Engine
from bot.inbound import InboundMessage
from bot.responses import ResponseBook
from bot.telegram.channel import TelegramChannel
from careloop.config import Settings, TelegramMode
from crm.conversations.service import add_message, open_conversation
from crm.models import Channel as ChannelKind
from crm.models import ChannelIdentity, DeliveryStatus, Direction, Message, Role, Sender
from nlp.pipeline import NLU
from tests.factories import make_customer, make_user


def unstarted_telegram(
    settings: Settings, bot: Engine, session_factory: sessionmaker[Session]
) -> TelegramChannel:
    return TelegramChannel(
        settings.model_copy(
            update={
                "telegram_token": SecretStr("123:abc"),
                "telegram_api_url": "http://127.0.0.1:9",  # never called: not started
                "telegram_mode": TelegramMode.polling,
            }
        ),
        bot,
        session_factory,
    )


def test_web_chat_and_telegram_are_channels(
    settings: Settings, bot: Engine, session_factory: sessionmaker[Session]
) -> None:
    telegram = unstarted_telegram(settings, bot, session_factory)
    web = WebChat()
    assert isinstance(web, Channel) and isinstance(telegram, Channel)
    assert (web.kind, telegram.kind) == (ChannelKind.web, ChannelKind.telegram)
    assert web.capabilities == Capabilities(buttons=True, push=False)
    assert telegram.capabilities == Capabilities(buttons=True, push=True)
    assert not isinstance(object(), Channel)


def test_web_chat_delivers_what_the_visitor_reads(session: Session) -> None:
    customer = make_customer(session)
    identity = ChannelIdentity(customer_id=customer.id, channel=ChannelKind.web, external_id="w-1")
    session.add(identity)
    session.flush()
    conversation = open_conversation(session, identity=identity, reply_window=dt.timedelta(days=7))
    agent = make_user(session, Role.agent, display_name="Alice")
    asked = add_message(
        session,
        conversation=conversation,
        direction=Direction.inbound,
        sender=Sender.customer,
        text="where is my parcel?",
    )
    answer = add_message(
        session,
        conversation=conversation,
        direction=Direction.outbound,
        sender=Sender.agent,
        text="On its way",
        author_user_id=agent.id,
    )
    add_message(
        session,
        conversation=conversation,
        direction=Direction.outbound,
        sender=Sender.agent,
        text="(note)",
        author_user_id=agent.id,
        is_private_note=True,
    )
    assert answer.delivery_status is not DeliveryStatus.delivered

    visible = WebChat().deliver(session, identity, after_id=0, limit=100)
    assert [m.id for m in visible.messages] == [asked.id, answer.id]  # no private note
    assert visible.authors == {agent.id: "Alice"}
    session.refresh(answer)
    assert answer.delivery_status is DeliveryStatus.delivered
    assert WebChat().deliver(session, identity, after_id=answer.id, limit=100).messages == []


class Postbox:
    """A minimal push channel: it keeps what it is sent and counts it delivered at once."""

    kind = ChannelKind.telegram  # (a new channel adds its own kind; a stored value)
    capabilities = Capabilities(buttons=False, push=True)

    def __init__(self) -> None:
        self.received: list[str] = []
        self.woken = 0

    def send(self, session: Session, messages: Sequence[Message]) -> None:
        self.received += [m.text for m in messages]
        self.mark_delivered(session, messages)

    def mark_delivered(self, session: Session, messages: Sequence[Message]) -> None:
        for message in messages:
            message.delivery_status = DeliveryStatus.delivered

    def wake(self) -> None:
        self.woken += 1


def test_a_registered_channel_receives_the_bots_replies(session: Session, nlu: NLU) -> None:
    postbox = Postbox()
    assert isinstance(postbox, Channel)
    channels = Channels([WebChat()])
    channels.register(postbox)
    engine = Engine(nlu, ResponseBook.load(), channels=channels)

    outcome = engine.handle(
        session, InboundMessage(ChannelKind.telegram, "pb-1", "what are your opening hours", "pb:1")
    )
    session.commit()

    assert outcome.replies and postbox.received == [r.text for r in outcome.replies]
    for reply in outcome.replies:
        session.refresh(reply)
        assert reply.delivery_status is DeliveryStatus.delivered
    channels.wake(ChannelKind.telegram)
    assert postbox.woken == 1


def test_without_a_running_channel_the_replies_wait_in_the_outbox(
    session: Session, nlu: NLU
) -> None:
    engine = Engine(nlu, ResponseBook.load())  # the web chat only
    outcome = engine.handle(
        session, InboundMessage(ChannelKind.telegram, "pb-2", "what are your opening hours", "pb:2")
    )
    session.commit()
    assert outcome.replies
    assert {r.delivery_status for r in outcome.replies} == {DeliveryStatus.pending}


def test_web_chat_replies_are_delivered_in_the_response(session: Session, nlu: NLU) -> None:
    engine = Engine(nlu, ResponseBook.load())
    outcome = engine.handle(
        session, InboundMessage(ChannelKind.web, "w-2", "what are your opening hours", "w-2:1")
    )
    session.commit()
    assert outcome.replies
    for reply in outcome.replies:
        session.refresh(reply)
        assert reply.delivery_status is DeliveryStatus.delivered


def test_telegram_counts_a_message_delivered_once_sent(
    settings: Settings, bot: Engine, session_factory: sessionmaker[Session], session: Session
) -> None:
    customer = make_customer(session)
    identity = ChannelIdentity(
        customer_id=customer.id, channel=ChannelKind.telegram, external_id="4242"
    )
    session.add(identity)
    session.flush()
    conversation = open_conversation(session, identity=identity, reply_window=dt.timedelta(days=7))
    answer = add_message(
        session,
        conversation=conversation,
        direction=Direction.outbound,
        sender=Sender.bot,
        text="Hello",
    )
    assert answer.delivery_status is DeliveryStatus.pending

    unstarted_telegram(settings, bot, session_factory).mark_delivered(session, [answer])
    session.refresh(answer)
    assert answer.delivery_status is DeliveryStatus.sent

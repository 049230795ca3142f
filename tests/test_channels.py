"""Every channel satisfies :class:`bot.channels.Channel`; the web chat's delivery marking."""

from __future__ import annotations

import datetime as dt

from pydantic import SecretStr
from sqlalchemy.orm import Session, sessionmaker

from bot.channels import Capabilities, Channel
from bot.channels.web import WebChat
from bot.engine import Engine
from bot.telegram.channel import TelegramChannel
from careloop.config import Settings, TelegramMode
from crm.conversations.service import add_message, open_conversation
from crm.models import Channel as ChannelKind
from crm.models import ChannelIdentity, DeliveryStatus, Direction, Role, Sender
from tests.factories import make_customer, make_user


def test_web_chat_and_telegram_are_channels(
    settings: Settings, bot: Engine, session_factory: sessionmaker[Session]
) -> None:
    telegram = TelegramChannel(
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

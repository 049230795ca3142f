"""What a channel hands the engine (an inbound message) and what it gets back (an outcome)."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from bot.policy.escalation import Decision
from crm.models import Channel, Conversation, Message


class Command(StrEnum):
    """Channel commands (Telegram's /start, /help, /agent, /stop and button actions)."""

    start = "start"
    help = "help"
    agent = "agent"
    stop = "stop"
    consent = "consent"  # the customer pressed "Send me offers"
    unsupported = "unsupported"  # a photo, sticker, voice note…: not understood as text


@dataclass(frozen=True)
class InboundMessage:
    """A customer's message as any channel hands it over."""

    channel: Channel
    user_id: str  # the channel's id for the customer (web session id, Telegram chat id)
    text: str
    message_id: str  # the channel's id for the message; repeats are ignored
    username: str | None = None
    first_name: str | None = None
    command: Command | None = None  # set for commands: no NLU, a fixed action
    argument: str | None = None  # e.g. the /start deep-link payload
    link_customer_id: int | None = None  # a verified deep link or signed web login
    button: str | None = None  # the data of a pressed button (``survey:12:5``), if any
    # the language of the customer's app or browser ("de-DE"), where the channel says it:
    # answers start in it until the customer's own words name a language
    locale: str | None = None


@dataclass
class Outcome:
    message: Message
    conversation: Conversation
    replies: list[Message]
    understanding: dict[str, Any] | None
    duplicate: bool = False
    decision: Decision | None = field(default=None)
    entities: list[dict[str, Any]] = field(default_factory=list)
    linked: bool = False  # the chat belongs to a customer the shop knows

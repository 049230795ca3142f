"""Pydantic request/response models of the public API."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

SESSION_ID_PATTERN = r"^[A-Za-z0-9._:\-]{1,128}$"
SessionId = Annotated[str, StringConstraints(strip_whitespace=True, pattern=SESSION_ID_PATTERN)]


Locale = Annotated[
    str, StringConstraints(max_length=35, pattern=r"^[A-Za-z]{2,8}([-_][A-Za-z0-9]{1,8})*$")
]


class ChatMessageIn(BaseModel):
    """A web-chat visitor's message."""

    model_config = ConfigDict(extra="forbid")

    session_id: SessionId = Field(
        description="Client-chosen visitor id (letters, digits, . _ : -; up to 128 chars). "
        "Use a random UUID: whoever knows it can read the conversation."
    )
    text: str = Field(description="The message, 1 to 4,000 characters.")
    button: Annotated[str, StringConstraints(max_length=64)] | None = Field(
        default=None, description="The `data` of the pressed button, when one was pressed."
    )
    message_id: SessionId | None = Field(
        default=None,
        description="Client-chosen id of this message. Sending the same id again stores "
        "nothing new and returns the first answer (safe retries). session_id and message_id "
        "together may be at most 127 characters.",
    )
    first_name: Annotated[str, StringConstraints(strip_whitespace=True, max_length=100)] | None = (
        None
    )
    customer_token: Annotated[str, StringConstraints(max_length=200)] | None = Field(
        default=None,
        description="For a customer logged in on the shop's own site: a token the shop signs "
        "(`<customer external id>.<expiry>.<HMAC>`, see the README) that links this chat to "
        "the CRM customer, so the bot may show their orders.",
    )
    locale: Locale | None = Field(
        default=None,
        description="The visitor's browser language (BCP 47, e.g. `de-DE`): the bot answers "
        "in it until the visitor's own words name a language.",
    )


class IntentOut(BaseModel):
    label: str
    confidence: float
    ranking: list[dict[str, Any]] = []


class SentimentOut(BaseModel):
    label: str
    score: float


class EntityOut(BaseModel):
    type: str = Field(description="order, email, phone, money or date")
    text: str = Field(description="As written in the message.")
    value: str | None = Field(
        description="Normalised: the order id, the email in lower case, the phone in E.164, "
        "the amount with its currency code, the date as YYYY-MM-DD (null when not one day)."
    )
    start: int
    end: int


class ButtonOut(BaseModel):
    text: str
    data: str


class MessageOut(BaseModel):
    id: int
    direction: str
    sender: str
    text: str
    created_at: dt.datetime
    quick_replies: list[str] = Field(
        default_factory=list, description="Suggested answers; sending one is a normal message."
    )
    buttons: list[ButtonOut] = Field(
        default_factory=list,
        description="Answer buttons (e.g. a survey's scale): send the label as `text` and "
        "the button's `data` as `button`.",
    )
    author: str | None = Field(
        default=None, description="The agent's display name on an agent's reply."
    )


class ConversationOut(BaseModel):
    id: int
    status: str
    escalation_reason: str | None = None


class ChatReplyOut(BaseModel):
    message: MessageOut
    duplicate: bool
    conversation: ConversationOut
    replies: list[MessageOut]
    intent: IntentOut | None
    sentiment: SentimentOut | None
    entities: list[EntityOut] = Field(
        default_factory=list, description="Entities found in the message."
    )
    linked: bool = Field(
        default=False, description="Whether the chat is linked to a known CRM customer."
    )


class WelcomeOut(BaseModel):
    shop_name: str
    greeting: str = Field(description="The response book's greeting, shown when a chat opens.")
    quick_replies: list[str] = Field(default_factory=list)


class MessageListOut(BaseModel):
    messages: list[MessageOut]
    last_id: int

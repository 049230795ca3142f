"""Factories for test data: small functions with sensible defaults, every field overridable."""

from __future__ import annotations

import datetime as dt
import itertools
from decimal import Decimal
from typing import Any

from sqlalchemy.orm import Session

from crm.db import utcnow
from crm.models import (
    Channel,
    ChannelIdentity,
    Conversation,
    ConversationStatus,
    Customer,
    Direction,
    Message,
    Order,
    OrderStatus,
    Role,
    Sender,
    SurveyKind,
    SurveyResponse,
    SurveyStatus,
    User,
)
from crm.users.service import hash_password

_seq = itertools.count(1)


def make_customer(session: Session, **overrides: Any) -> Customer:
    n = next(_seq)
    fields: dict[str, Any] = {
        "first_name": f"Test{n}",
        "last_name": "Customer",
        "email": f"test{n}@example.com",
        "marketing_consent": True,
    }
    fields.update(overrides)
    customer = Customer(**fields)
    session.add(customer)
    session.flush()
    return customer


def make_web_identity(session: Session, customer: Customer, external_id: str) -> ChannelIdentity:
    identity = ChannelIdentity(
        customer_id=customer.id, channel=Channel.web, external_id=external_id
    )
    session.add(identity)
    session.flush()
    return identity


def make_order(session: Session, customer: Customer, **overrides: Any) -> Order:
    n = next(_seq)
    fields: dict[str, Any] = {
        "external_id": f"ORD-{n}",
        "customer_id": customer.id,
        "ordered_at": utcnow() - dt.timedelta(days=2),
        "status": OrderStatus.shipped,
        "total_amount": Decimal("49.90"),
        "carrier": "DHL",
        "tracking_number": f"TRK{n:08d}",
        "estimated_delivery": (utcnow() + dt.timedelta(days=1)).date(),
    }
    fields.update(overrides)
    order = Order(**fields)
    session.add(order)
    session.flush()
    return order


def make_conversation(
    session: Session,
    customer: Customer,
    identity: ChannelIdentity | None = None,
    *,
    intent: str | None = "order_status",
    text: str = "where is my order?",
    **overrides: Any,
) -> Conversation:
    """A conversation (resolved by default) with one customer message."""
    now = utcnow()
    fields: dict[str, Any] = {
        "customer_id": customer.id,
        "channel": identity.channel if identity else Channel.web,
        "channel_identity_id": identity.id if identity else None,
        "status": ConversationStatus.resolved,
        "resolved_at": now,
        "resolved_by": Sender.bot,
        "last_message_at": now,
    }
    fields.update(overrides)
    conversation = Conversation(**fields)
    session.add(conversation)
    session.flush()
    session.add(
        Message(
            conversation_id=conversation.id,
            customer_id=customer.id,
            channel=conversation.channel,
            direction=Direction.inbound,
            sender=Sender.customer,
            text=text,
            intent=intent,
            created_at=now,
        )
    )
    session.flush()
    return conversation


def make_survey(
    session: Session,
    customer: Customer,
    kind: SurveyKind = SurveyKind.csat,
    score: int | None = None,
    **overrides: Any,
) -> SurveyResponse:
    """A survey row; with a ``score`` it is answered (at ``answered_at``, default now)."""
    when = overrides.pop("answered_at", utcnow())
    fields: dict[str, Any] = {
        "customer_id": customer.id,
        "kind": kind,
        "channel": Channel.web,
        "status": SurveyStatus.answered if score is not None else SurveyStatus.expired,
        "score": score,
        "sent_at": when - dt.timedelta(minutes=5),
        "answered_at": when if score is not None else None,
    }
    fields.update(overrides)
    survey = SurveyResponse(**fields)
    session.add(survey)
    session.flush()
    return survey


def make_user(session: Session, role: Role = Role.agent, **overrides: Any) -> User:
    """A staff user whose password is ``password-<email>``."""
    n = next(_seq)
    email = overrides.pop("email", f"{role.value}{n}@staff.example")
    fields: dict[str, Any] = {
        "email": email,
        "display_name": f"{role.value.title()} {n}",
        "role": role,
        "password_hash": _password_hash(f"password-{email}"),
    }
    fields.update(overrides)
    user = User(**fields)
    session.add(user)
    session.flush()
    return user


_HASHES: dict[str, str] = {}


def _password_hash(password: str) -> str:
    # argon2 is deliberately slow; hash each test password once per run.
    if password not in _HASHES:
        _HASHES[password] = hash_password(password)
    return _HASHES[password]


def make_telegram_identity(
    session: Session, customer: Customer, chat_id: int | str, **overrides: Any
) -> ChannelIdentity:
    identity = ChannelIdentity(
        customer_id=customer.id, channel=Channel.telegram, external_id=str(chat_id), **overrides
    )
    session.add(identity)
    session.flush()
    return identity


def campaign_fields(**overrides: Any) -> dict[str, Any]:
    """Valid fields for ``crm.campaigns.service.create_campaign``."""
    fields: dict[str, Any] = {
        "name": "Win back",
        "channel": "telegram",
        "audience": {"all": [{"field": "churn_risk", "op": "in", "value": ["high"]}]},
        "template": "Hi {{ name }}, we miss you! Use {{ offer_code }} for 10% off.",
        "offer_code": "MISSYOU",
        "schedule_kind": "once",
        "schedule": {},
        "control_percent": 10,
    }
    fields.update(overrides)
    return fields

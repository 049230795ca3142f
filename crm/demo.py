"""Deterministic demo data: customers with orders, some conversations, and staff logins."""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from careloop.config import Settings
from crm.conversations import service as conversations
from crm.conversations.routing import Office
from crm.db import utcnow
from crm.models import (
    Channel,
    ChannelIdentity,
    Conversation,
    ConversationStatus,
    Customer,
    DeliveryStatus,
    Direction,
    Order,
    OrderStatus,
    Role,
    Sender,
    SurveyKind,
    SurveyResponse,
    SurveyStatus,
)
from crm.surveys import service as surveys
from crm.surveys.wording import wording
from crm.users.service import create_user, find_user_by_email

DEMO_TAG = "demo"
DEMO_USERS = (
    ("agent@demo.careloop", "inbox-demo-pass", Role.agent, "Alex Agent"),
    ("marketer@demo.careloop", "charts-demo-pass", Role.marketer, "Mia Marketer"),
    ("admin@demo.careloop", "console-demo-pass", Role.admin, "Ada Admin"),
)
FIRST = [
    "Anna",
    "Ben",
    "Clara",
    "David",
    "Emma",
    "Felix",
    "Greta",
    "Hugo",
    "Ida",
    "Jonas",
    "Karla",
    "Leo",
    "Mila",
    "Noah",
    "Olga",
    "Paul",
    "Rosa",
    "Sam",
    "Tina",
    "Uwe",
    "Vera",
    "Will",
    "Yara",
    "Zoe",
]
LAST = [
    "Becker",
    "Schmidt",
    "Novak",
    "Rossi",
    "Garcia",
    "Dubois",
    "Jensen",
    "Kowalski",
    "Silva",
    "Müller",
    "Weber",
    "Costa",
]
DEMO_STREETS = (
    ("Invalidenstr.", "10115", "Berlin"),
    ("Leopoldstr.", "80802", "München"),
    ("Schanzenstr.", "20357", "Hamburg"),
    ("Ehrenstr.", "50672", "Köln"),
    ("Berger Str.", "60316", "Frankfurt am Main"),
)
CARRIERS = ("DHL", "UPS", "DPD", "Hermes")
TIMEZONES = ("Europe/Berlin", "Europe/London", "Europe/Madrid", "America/New_York", "UTC")


@dataclass(frozen=True)
class DemoChat:
    """A web chat the demo prepares: open ``/chat?session=<session_id>`` to see it."""

    session_id: str
    label: str


# The same session ids on every run, whatever the seed or the number of customers.
DEMO_CHATS = (
    DemoChat("demo-order-dialogue", "order dialogue: the bot found the parcel and its tracking"),
    DemoChat("demo-open-escalation", "complaint waiting in the inbox, taken by no agent yet"),
    DemoChat("demo-resolved-csat", "solved by an agent, then rated 5/5 with a comment"),
    DemoChat("demo-new-chat", "customer with orders, no chat yet: ask 'where is my order?'"),
)
DEMO_MARKER = "C10000"
"""The first demo customer's external id: demo data is present when this customer is, with
a demo address (chats create customers without external ids, so no visitor can make the
demo look present; an import could only with the demo's own rows)."""


@dataclass
class DemoSummary:
    customers: int = 0
    orders: int = 0
    conversations: int = 0
    users: list[tuple[str, str, str]] = field(default_factory=list)
    web_sessions: list[DemoChat] = field(default_factory=list)
    skipped: bool = False
    surveys: int = 0


def has_demo_data(session: Session) -> bool:
    """Whether the demo data was seeded (judged by the demo's first customer, not by
    whether any customer exists: a chat or an import makes customers too)."""
    return (
        session.scalar(
            select(func.count())
            .select_from(Customer)
            .where(Customer.external_id == DEMO_MARKER, Customer.email.like("%@example.com"))
        )
        or 0
    ) > 0


def demo_chats(session: Session) -> list[DemoChat]:
    """The demo's prepared web chats that exist in this database, in their order."""
    present = set(
        session.scalars(
            select(ChannelIdentity.external_id).where(
                ChannelIdentity.channel == Channel.web,
                ChannelIdentity.external_id.in_([chat.session_id for chat in DEMO_CHATS]),
            )
        )
    )
    return [chat for chat in DEMO_CHATS if chat.session_id in present]


def demo_logins(session: Session) -> list[tuple[str, str, str]]:
    """(role, email, password) of the demo staff accounts that still sign in with their
    demo password (active, password unchanged)."""
    from crm.users.passwords import verify_password

    logins = []
    for email, password, role, _name in DEMO_USERS:
        user = find_user_by_email(session, email)
        if user is None or not user.is_active:
            continue
        if verify_password(user.password_hash, password):
            logins.append((role.value, email, password))
    return logins


def seed_demo_data(
    session: Session,
    *,
    settings: Settings,
    customers: int = 300,
    seed: int = 7,
    now: dt.datetime | None = None,
) -> DemoSummary:
    """Create demo customers (with orders and a few conversations) and the demo staff users;
    ``settings`` give the business hours and the survey wording."""
    rng = random.Random(seed)
    now = now or utcnow()
    summary = DemoSummary()
    for email, password, role, name in DEMO_USERS:
        if find_user_by_email(session, email) is None:
            create_user(session, email=email, password=password, role=role, display_name=name)
        summary.users.append((role.value, email, password))
    _demo_teams(session)
    if has_demo_data(session):
        summary.skipped = True
        summary.web_sessions = demo_chats(session)
        return summary

    chat_customers: list[Customer] = []
    for i in range(customers):
        first, last = rng.choice(FIRST), rng.choice(LAST)
        created = now - dt.timedelta(days=rng.randint(30, 900))
        customer = Customer(
            external_id=f"C{10000 + i}",
            first_name=first,
            last_name=last,
            email=f"{first.lower()}.{last.lower()}{i}@example.com".replace("ü", "ue"),
            phone=f"+4915{rng.randint(10_000_000, 99_999_999)}",
            birthday=dt.date(rng.randint(1950, 2004), rng.randint(1, 12), rng.randint(1, 28)),
            timezone=rng.choice(TIMEZONES),
            marketing_consent=rng.random() < 0.7,
            tags=[DEMO_TAG],
            created_at=created,
        )
        session.add(customer)
        session.flush()
        summary.customers += 1
        # A mix of loyal, occasional, lapsed and new customers.
        profile = rng.random()
        n_orders = (
            0 if profile < 0.08 else rng.randint(1, 3) if profile < 0.6 else rng.randint(4, 15)
        )
        span_days = max(1, int((now - created).days))
        last_gap = rng.randint(0, 40) if profile > 0.3 else rng.randint(60, 400)
        for k in range(n_orders):
            ordered = now - dt.timedelta(
                days=min(span_days, last_gap + rng.randint(0, span_days) * k // max(1, n_orders)),
                hours=rng.randint(0, 23),
            )
            age = (now - ordered).days
            status = (
                OrderStatus.placed
                if age < 1
                else OrderStatus.shipped
                if age < 4
                else rng.choice([OrderStatus.delivered] * 9 + [OrderStatus.returned])
            )
            session.add(
                Order(
                    external_id=f"O{customer.id:05d}{k:02d}",
                    customer_id=customer.id,
                    ordered_at=ordered,
                    status=status,
                    total_amount=Decimal(rng.randint(900, 25000)) / 100,
                    items_count=rng.randint(1, 5),
                    carrier=rng.choice(CARRIERS),
                    tracking_number=f"TRK{rng.randint(10**9, 10**10 - 1)}",
                    estimated_delivery=(ordered + dt.timedelta(days=3)).date(),
                    **_shipping(customer),
                )
            )
            summary.orders += 1
        if i < len(DEMO_CHATS):
            chat_customers.append(customer)  # (their chats are written below)
        elif i % 12 == 0:
            _demo_conversation(session, rng, customer, now)
            summary.conversations += 1
    session.flush()
    summary.surveys = _demo_surveys(session, rng, now)
    for chat, customer in zip(DEMO_CHATS, chat_customers, strict=False):
        orders, conversations = _demo_chat(session, settings, chat, customer, now)
        summary.orders += orders
        summary.conversations += conversations
        summary.web_sessions.append(chat)
    return summary


DEMO_TEAMS = (
    ("Billing", ["refund_return", "payment_problem", "cancel_order", "discount_offer"]),
    ("Delivery", ["order_status", "delivery_problem", "change_address"]),
)


def _demo_teams(session: Session) -> None:
    """Two teams that escalations are routed to by intent (open around the clock, so the
    demo's SLA clocks run whenever someone tries it); the demo agent is in Delivery."""
    from crm.conversations import teams

    existing = {t.name for t in teams.list_teams(session)}
    for name, intents in DEMO_TEAMS:
        if name in existing:
            continue
        team = teams.save_team(session, {"name": name, "intents": intents})
        teams.save_policy(
            session,
            team_id=team.id,
            data={
                "first_response_minutes": 15,
                "resolution_minutes": 240,
                "business_hours_only": False,
            },
        )
        if name == "Delivery":
            agent = find_user_by_email(session, DEMO_USERS[0][0])
            if agent is not None:
                teams.set_member(session, team_id=team.id, user_id=agent.id)


TOPICS = ("order_status", "delivery_problem", "refund_return", "complaint", "payment_problem")


def _demo_surveys(session: Session, rng: random.Random, now: dt.datetime) -> int:
    """Four months of answered and unanswered surveys, so the satisfaction page has a story:
    delivery problems and complaints score lower, and CSAT improves over time."""
    agent = find_user_by_email(session, DEMO_USERS[0][0])
    customers = list(session.scalars(select(Customer.id).order_by(Customer.id)))
    count = 0
    sampled = rng.sample(customers, k=min(len(customers), 220))
    for customer_id in sampled:
        when = now - dt.timedelta(days=rng.randint(1, 120), hours=rng.randint(0, 23))
        kind = SurveyKind.nps if rng.random() < 0.3 else SurveyKind.csat
        topic = rng.choice(TOPICS) if kind is SurveyKind.csat else None
        answered = rng.random() < 0.7
        if kind is SurveyKind.csat:
            mood = 0.5 + (120 - (now - when).days) / 240  # better lately
            mood -= 0.25 if topic in ("complaint", "delivery_problem") else 0
            score = max(1, min(5, round(1 + 4 * rng.betavariate(4 * mood + 0.5, 1.5))))
        else:
            score = max(0, min(10, round(rng.gauss(7.6, 2.2))))
        session.add(
            SurveyResponse(
                customer_id=customer_id,
                agent_id=agent.id
                if agent and kind is SurveyKind.csat and rng.random() < 0.6
                else None,
                kind=kind,
                channel=Channel.web,
                status=SurveyStatus.answered if answered else SurveyStatus.expired,
                topic=topic,
                sent_at=when - dt.timedelta(minutes=3),
                expires_at=when + dt.timedelta(hours=48),
                answered_at=when if answered else None,
                score=score if answered else None,
            )
        )
        count += 1
    session.flush()
    for customer_id in sampled:
        surveys.refresh_customer(session, customer_id=customer_id)
    return count


SCRIPTS = (
    ("where is my order?", "order_status", "neutral", -0.05, ConversationStatus.resolved, None),
    (
        "my parcel arrived damaged, this is the second time!",
        "complaint",
        "negative",
        -0.85,
        ConversationStatus.waiting,
        "complaint",
    ),
    (
        "can I talk to a human please",
        "human_agent",
        "neutral",
        -0.1,
        ConversationStatus.waiting,
        "human_request",
    ),
    (
        "how many loyalty points do I have",
        "loyalty_points",
        "neutral",
        0.0,
        ConversationStatus.resolved,
        None,
    ),
)


def _demo_conversation(
    session: Session, rng: random.Random, customer: Customer, now: dt.datetime
) -> None:
    text, intent, label, score, status, reason = rng.choice(SCRIPTS)
    identity = ChannelIdentity(
        customer_id=customer.id, channel=Channel.web, external_id=f"demo-visitor-{customer.id}"
    )
    session.add(identity)
    session.flush()
    at = now - dt.timedelta(minutes=rng.randint(5, 600))
    conversation = Conversation(
        customer_id=customer.id,
        channel=Channel.web,
        channel_identity_id=identity.id,
        status=status,
        escalation_reason=reason,
        escalated_at=at if reason else None,
        priority=30 + round(40 * max(0.0, -score)) if reason else 0,
        queue_rank=conversations.queue_rank(30 + round(40 * max(0.0, -score)), at)
        if reason
        else None,
        resolved_at=at + dt.timedelta(minutes=2) if status is ConversationStatus.resolved else None,
        resolved_by=Sender.bot if status is ConversationStatus.resolved else None,
        last_message_at=at,
        created_at=at,
    )
    session.add(conversation)
    session.flush()
    nlu = _demo_nlu(intent, label, score)
    conversations.add_message(
        session,
        conversation=conversation,
        direction=Direction.inbound,
        sender=Sender.customer,
        text=text,
        channel_message_id=f"demo-{conversation.id}-1",
        nlu=nlu,
        at=at,
    )
    reply = conversations.add_message(
        session,
        conversation=conversation,
        direction=Direction.outbound,
        sender=Sender.bot,
        text="A colleague will reply here as soon as possible."
        if reason
        else "Here is what I found for you.",
        at=at + dt.timedelta(seconds=1),
    )
    reply.delivery_status = DeliveryStatus.delivered


def _demo_chat(
    session: Session, settings: Settings, chat: DemoChat, customer: Customer, now: dt.datetime
) -> tuple[int, int]:
    """The prepared web chat ``chat`` of ``customer``; (orders, conversations) added."""
    office = Office.of(settings)

    identity = ChannelIdentity(
        customer_id=customer.id, channel=Channel.web, external_id=chat.session_id
    )
    session.add(identity)
    session.flush()
    name = customer.first_name
    if chat.session_id == "demo-new-chat":
        _demo_order(session, customer, now - dt.timedelta(days=1), OrderStatus.shipped)
        return 1, 0
    if chat.session_id == "demo-order-dialogue":
        at = now - dt.timedelta(hours=3)
        order = _demo_order(session, customer, at - dt.timedelta(days=2), OrderStatus.shipped)
        conversation = _demo_conversation_of(session, identity, at, ConversationStatus.resolved)
        conversation.resolved_by = Sender.bot
        conversation.resolved_at = at + dt.timedelta(minutes=2)
        ref = order.external_id
        _say(
            session, conversation, at, f"where is my order {ref}?", ("order_status", "neutral", 0.0)
        )
        _reply(
            session,
            conversation,
            at,
            f"Order {ref} from {order.ordered_at.date().isoformat()} (EUR 59.90) is shipped. "
            f"Carrier: {order.carrier}, tracking number {order.tracking_number}. "
            f"Expected delivery: {order.estimated_delivery}.",
        )
        at += dt.timedelta(minutes=1)
        _say(session, conversation, at, "great, thanks!", ("thanks", "positive", 0.8))
        _reply(session, conversation, at, "You're welcome! Is there anything else I can help with?")
        return 1, 1
    if chat.session_id == "demo-open-escalation":
        at = now - dt.timedelta(minutes=25)
        conversation = _demo_conversation_of(session, identity, at, ConversationStatus.bot)
        _say(
            session,
            conversation,
            at,
            "my parcel arrived damaged, this is the second time!",
            ("complaint", "negative", -0.85),
        )
        conversations.escalate(
            session, conversation, priority=64, reason="complaint", office=office, at=at
        )
        _reply(
            session,
            conversation,
            at,
            "I'm sorry to hear that. A colleague will reply here as soon as possible. "
            "If you no longer need help, just say 'never mind'.",
        )
        return 0, 1
    # demo-resolved-csat: a payment problem an agent solved, then a CSAT answer
    agent = find_user_by_email(session, DEMO_USERS[0][0])
    at = now - dt.timedelta(days=2, hours=4)
    conversation = _demo_conversation_of(session, identity, at, ConversationStatus.bot)
    _say(
        session,
        conversation,
        at,
        "I was charged twice for my last order, can someone check?",
        ("payment_problem", "negative", -0.45),
    )
    conversations.escalate(
        session, conversation, priority=48, reason="payment_problem", office=office, at=at
    )
    _reply(session, conversation, at, "A colleague will reply here as soon as possible.")
    answered = at + dt.timedelta(minutes=9)
    conversation.status = ConversationStatus.assigned
    conversation.assigned_agent_id = agent.id if agent else None
    conversation.first_agent_reply_at = answered
    conversation.agent_message_count = 2
    reply = conversations.add_message(
        session,
        conversation=conversation,
        direction=Direction.outbound,
        sender=Sender.agent,
        author_user_id=agent.id if agent else None,
        text=f"Hi {name}, I'm sorry about that: the second charge was a duplicate, and I've "
        "refunded it just now. You'll see it on your statement in 3-5 business days.",
        at=answered,
        delivered=True,
    )
    _say(
        session, conversation, reply.created_at, "perfect, thank you!", ("thanks", "positive", 0.9)
    )
    done = answered + dt.timedelta(minutes=2)
    conversations.add_message(
        session,
        conversation=conversation,
        direction=Direction.outbound,
        sender=Sender.agent,
        author_user_id=agent.id if agent else None,
        text="You're welcome! Have a good day.",
        at=done,
        delivered=True,
    )
    conversation.status = ConversationStatus.resolved
    conversation.resolved_by = Sender.agent
    conversation.resolved_at = done
    asked = done + dt.timedelta(minutes=1)
    rated = asked + dt.timedelta(minutes=3)
    commented = rated + dt.timedelta(minutes=1)
    comment = "Quick and friendly, and the refund was already on its way."
    session.add(
        SurveyResponse(
            customer_id=customer.id,
            conversation_id=conversation.id,
            agent_id=agent.id if agent else None,
            kind=SurveyKind.csat,
            channel=Channel.web,
            status=SurveyStatus.answered,
            topic="payment_problem",
            due_at=asked,
            sent_at=asked,
            expires_at=asked + dt.timedelta(hours=settings.survey_expiry_hours),
            answered_at=rated,
            score=5,
            comment=comment,
            comment_sentiment=0.8,
        )
    )
    _reply(session, conversation, asked, wording(SurveyKind.csat, settings, None))
    _say(session, conversation, rated, "5", None)
    _reply(session, conversation, rated, settings.survey_comment_question)
    _say(session, conversation, commented, comment, ("thanks", "positive", 0.8))
    _reply(
        session,
        conversation,
        commented,
        f"Thank you, {name}! We read every comment, and yours helps us get better.",
    )
    surveys.refresh_customer(session, customer_id=customer.id)
    return 0, 1


def _shipping(customer: Customer) -> dict[str, str]:
    """A delivery address for the customer's orders (from its id: the random draws of the
    demo stay as they were), so a visitor can prove an order with its postcode."""
    street, postcode, town = DEMO_STREETS[customer.id % len(DEMO_STREETS)]
    return {
        "shipping_address": f"{street} {1 + customer.id % 97}, {postcode} {town}",
        "shipping_postcode": postcode,
    }


def _demo_order(
    session: Session, customer: Customer, ordered: dt.datetime, status: OrderStatus
) -> Order:
    order = Order(
        external_id=f"O{customer.id:05d}99",
        customer_id=customer.id,
        ordered_at=ordered,
        status=status,
        total_amount=Decimal("59.90"),
        items_count=2,
        carrier="DHL",
        tracking_number=f"TRK{4_200_000_000 + customer.id}",
        estimated_delivery=(ordered + dt.timedelta(days=3)).date(),
        **_shipping(customer),
    )
    session.add(order)
    session.flush()
    return order


def _demo_conversation_of(
    session: Session, identity: ChannelIdentity, at: dt.datetime, status: ConversationStatus
) -> Conversation:
    conversation = Conversation(
        customer_id=identity.customer_id,
        channel=Channel.web,
        channel_identity_id=identity.id,
        status=status,
        last_message_at=at,
        created_at=at,
    )
    session.add(conversation)
    session.flush()
    return conversation


def _demo_nlu(intent: str, label: str, score: float) -> dict[str, Any]:
    """What the NLU is shown to have made of a demo message."""
    return {
        "intent": {"label": intent, "confidence": 0.9, "ranking": []},
        "sentiment": {"label": label, "score": score, "probabilities": {}},
    }


def _say(
    session: Session,
    conversation: Conversation,
    at: dt.datetime,
    text: str,
    understood: tuple[str, str, float] | None,
) -> None:
    """The customer's message (with what the NLU made of it)."""
    nlu = _demo_nlu(*understood) if understood is not None else None
    conversations.add_message(
        session,
        conversation=conversation,
        direction=Direction.inbound,
        sender=Sender.customer,
        text=text,
        channel_message_id=f"demo-{conversation.id}-{at.timestamp():.0f}",
        nlu=nlu,
        at=at,
    )


def _reply(session: Session, conversation: Conversation, at: dt.datetime, text: str) -> None:
    """The bot's answer, a second after ``at``, delivered."""
    conversations.add_message(
        session,
        conversation=conversation,
        direction=Direction.outbound,
        sender=Sender.bot,
        text=text,
        at=at + dt.timedelta(seconds=1),
        delivered=True,
    )

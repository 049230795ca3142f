"""The conversation engine: inbound → understand → decide → outbound, free of any channel."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bot.policy.escalation import (
    Action,
    CustomerSignals,
    Decision,
    PolicyConfig,
    decide,
    priority,
)
from bot.responses import ResponseBook
from crm.conversations import service as conversations
from crm.customers import service as customers
from crm.db import utcnow
from crm.models import (
    Channel,
    Conversation,
    ConversationStatus,
    Customer,
    Direction,
    Message,
    Sender,
)
from crm.orders import service as orders
from nlp.base import Understanding
from nlp.pipeline import NLU

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class InboundMessage:
    """A customer's message as any channel hands it over."""

    channel: Channel
    user_id: str  # the channel's id for the customer (web session id, Telegram chat id)
    text: str
    message_id: str  # the channel's id for the message; repeats are ignored
    username: str | None = None
    first_name: str | None = None


@dataclass
class Outcome:
    message: Message
    conversation: Conversation
    replies: list[Message]
    understanding: dict[str, Any] | None
    duplicate: bool = False
    decision: Decision | None = field(default=None)


class Engine:
    """Holds the loaded models and policy; every call takes the caller's session."""

    def __init__(
        self, nlu: NLU, responses: ResponseBook, policy: PolicyConfig | None = None
    ) -> None:
        self.nlu = nlu
        self.responses = responses
        self.policy = policy or PolicyConfig()

    def handle(self, session: Session, inbound: InboundMessage) -> Outcome:
        """Store, understand and answer one inbound message (idempotent on its message id)."""
        existing = conversations.find_message(
            session, channel=inbound.channel, channel_message_id=inbound.message_id
        )
        if existing is not None:
            return self._duplicate(session, existing)
        understanding = self.nlu.understand(inbound.text)
        identity = customers.get_or_create_identity(
            session,
            channel=inbound.channel,
            external_id=inbound.user_id,
            username=inbound.username,
            first_name=inbound.first_name,
        )
        conversation = conversations.open_conversation(session, identity=identity)
        history = conversations.recent_inbound(session, conversation_id=conversation.id, limit=5)
        try:
            with session.begin_nested():
                message = conversations.add_message(
                    session,
                    conversation=conversation,
                    direction=Direction.inbound,
                    sender=Sender.customer,
                    text=inbound.text,
                    channel_message_id=inbound.message_id,
                    nlu=understanding.as_dict(),
                )
        except IntegrityError:
            # A concurrent delivery of the same message won the race.
            existing = conversations.find_message(
                session, channel=inbound.channel, channel_message_id=inbound.message_id
            )
            if existing is None:
                raise
            return self._duplicate(session, existing)

        decision, texts = self._decide(session, conversation, understanding, history)
        replies = [
            conversations.add_message(
                session,
                conversation=conversation,
                direction=Direction.outbound,
                sender=Sender.bot,
                text=text,
                in_reply_to_id=message.id,
            )
            for text in texts
        ]
        log.info(
            "bot.message.handled conversation=%s intent=%s sentiment=%.2f action=%s",
            conversation.id,
            understanding.intent.label,
            understanding.sentiment.score,
            decision.action,
        )
        return Outcome(message, conversation, replies, understanding.as_dict(), False, decision)

    def _duplicate(self, session: Session, existing: Message) -> Outcome:
        conversation = session.get_one(Conversation, existing.conversation_id)
        return Outcome(
            existing,
            conversation,
            conversations.replies_to(session, message_id=existing.id),
            existing.nlu,
            duplicate=True,
        )

    def _decide(
        self,
        session: Session,
        conversation: Conversation,
        understanding: Understanding,
        history: Sequence[Message],
    ) -> tuple[Decision, list[str]]:
        customer = session.get_one(Customer, conversation.customer_id)
        if conversation.status in (ConversationStatus.waiting, ConversationStatus.assigned):
            # A human has (or will have) this conversation: the bot stays quiet.
            return Decision(Action.silent), []
        decision = decide(
            understanding,
            previous_intents=[m.intent for m in history],
            previous_scores=[m.sentiment_score for m in history],
            config=self.policy,
        )
        context = self._context(session, customer)
        texts: list[str] = []
        if decision.response:
            text = self.responses.render(decision.response, context)
            if text:
                texts.append(text)
        if decision.action is Action.opt_out:
            customers.opt_out(session, customer_id=customer.id)
        elif decision.action is Action.escalate and decision.reason is not None:
            conversation.status = ConversationStatus.waiting
            conversation.escalated_at = utcnow()
            conversation.escalation_reason = decision.reason.value
            conversation.priority = priority(
                decision.reason,
                understanding.sentiment.score,
                CustomerSignals(
                    customer.rfm_segment,
                    customer.churn_risk.value if customer.churn_risk else None,
                ),
            )
            follow_up = self.responses.render("escalated", context)
            if follow_up:
                texts.append(follow_up)
        return decision, texts

    def _context(self, session: Session, customer: Customer) -> dict[str, Any]:
        order = orders.latest_order(session, customer_id=customer.id)
        return {
            "customer": {
                "first_name": customer.first_name,
                "name": customer.display_name,
            },
            "order": None
            if order is None
            else {
                "ref": order.external_id or f"#{order.id}",
                "status": order.status.value,
                "date": order.ordered_at.date().isoformat(),
                "total": f"{order.total_amount} {order.currency}",
                "carrier": order.carrier,
                "tracking_number": order.tracking_number,
                "estimated_delivery": order.estimated_delivery.isoformat()
                if order.estimated_delivery
                else None,
            },
            "wait": None,
        }

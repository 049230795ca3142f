"""The conversation engine: inbound → understand → decide → outbound, free of any channel."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bot.policy.escalation import (
    Action,
    CustomerSignals,
    Decision,
    EscalationReason,
    PolicyConfig,
    decide,
    priority,
)
from bot.responses import Button, Reply, ResponseBook
from careloop.config import Settings
from crm.conversations import inbox
from crm.conversations import service as conversations
from crm.customers import service as customers
from crm.db import utcnow
from crm.hours import BusinessHours
from crm.models import (
    SCALES,
    Channel,
    ChannelIdentity,
    Conversation,
    ConversationStatus,
    Customer,
    Direction,
    Message,
    Sender,
    SurveyResponse,
    SurveyStatus,
)
from crm.orders import service as orders
from crm.surveys import service as surveys
from nlp.base import Understanding
from nlp.pipeline import NLU

log = logging.getLogger(__name__)
CANCEL_INTENT = "cancel_request"  # "never mind": withdraw a request for a human


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
    link_customer_id: int | None = None  # a verified deep link names this CRM customer
    button: str | None = None  # the data of a pressed button (``survey:12:5``), if any


@dataclass
class Outcome:
    message: Message
    conversation: Conversation
    replies: list[Message]
    understanding: dict[str, Any] | None
    duplicate: bool = False
    decision: Decision | None = field(default=None)


# Intents that never answer "why did you give that score?": they ask for something.
ACTION_INTENTS = frozenset({"human_agent", "opt_out", "cancel_order", "change_address"})
# Intents a comment typically has, even when phrased as a question ("why so slow?").
COMMENT_INTENTS = frozenset({"complaint", "feedback_praise", "nlu_fallback", "out_of_scope"})


def _is_new_request(text: str, understanding: Understanding | None) -> bool:
    """A message after a survey score that starts a new request instead of commenting:
    an action intent, or a question that is not a complaint or feedback."""
    if understanding is None:
        return False
    intent = understanding.intent.label
    return intent in ACTION_INTENTS or (
        text.rstrip().endswith("?") and intent not in COMMENT_INTENTS
    )


def _send(
    session: Session, conversation: Conversation, inbound: Message, replies: Sequence[Reply]
) -> list[Message]:
    """The bot's replies to ``inbound``, into the outbox."""
    return [
        conversations.add_message(
            session,
            conversation=conversation,
            direction=Direction.outbound,
            sender=Sender.bot,
            text=reply.text,
            in_reply_to_id=inbound.id,
            payload=reply.payload(),
        )
        for reply in replies
    ]


def _signals(customer: Customer) -> CustomerSignals:
    return CustomerSignals(
        customer.rfm_segment, customer.churn_risk.value if customer.churn_risk else None
    )


def _enqueue(
    conversation: Conversation,
    customer: Customer,
    reason: EscalationReason,
    sentiment_score: float,
    at: dt.datetime,
) -> None:
    """Into the agents' queue, with the documented priority."""
    conversations.escalate(
        conversation,
        priority=priority(reason, sentiment_score, _signals(customer)),
        reason=reason.value,
        at=at,
    )


class Engine:
    """Holds the loaded models and policy; every call takes the caller's session."""

    def __init__(
        self,
        nlu: NLU,
        responses: ResponseBook,
        policy: PolicyConfig | None = None,
        *,
        hours: BusinessHours | None = None,
        clock: Callable[[], dt.datetime] = utcnow,
        settings: Settings | None = None,
    ) -> None:
        self.settings = settings or Settings()
        self.nlu = nlu
        self.responses = responses
        self.policy = policy or PolicyConfig()
        self.hours = hours
        self.clock = clock

    def intent_labels(self) -> list[str]:
        """The intents the loaded model knows (what agents may relabel a message to)."""
        return sorted(self.nlu.intent.head.labels)

    def handle(self, session: Session, inbound: InboundMessage) -> Outcome:
        """Store, understand and answer one inbound message (idempotent on its message id)."""
        # Understand first: the models run outside the database transaction, which on
        # SQLite holds the write lock from its first statement.
        survey_button = surveys.parse_button(inbound.button) if inbound.button else None
        understanding = (
            None if inbound.command or survey_button else self.nlu.understand(inbound.text)
        )
        existing = conversations.find_message(
            session, channel=inbound.channel, channel_message_id=inbound.message_id
        )
        if existing is not None:
            return self._duplicate(session, existing)
        identity = customers.get_or_create_identity(
            session,
            channel=inbound.channel,
            external_id=inbound.user_id,
            username=inbound.username,
            first_name=inbound.first_name,
        )
        customers.mark_reachable(session, identity=identity)
        linked = False
        if inbound.link_customer_id is not None:
            _, linked = customers.link_identity(
                session, identity=identity, customer_id=inbound.link_customer_id
            )
        if inbound.command is None:
            answered = self._survey(session, identity, inbound, survey_button, understanding)
            if answered is not None:
                return answered
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
                    nlu=understanding.as_dict() if understanding else None,
                    payload={"command": inbound.command.value} if inbound.command else None,
                )
        except IntegrityError:
            # A concurrent delivery of the same message won the race.
            existing = conversations.find_message(
                session, channel=inbound.channel, channel_message_id=inbound.message_id
            )
            if existing is None:
                raise
            return self._duplicate(session, existing)

        if understanding is None:
            assert inbound.command is not None
            decision, texts = self._command(session, conversation, inbound, linked=linked)
        else:
            decision, texts = self._decide(session, conversation, understanding, history)
        replies = _send(session, conversation, message, texts)
        log.info(
            "bot.message.handled conversation=%s intent=%s sentiment=%.2f action=%s",
            conversation.id,
            understanding.intent.label if understanding else f"/{inbound.command}",
            understanding.sentiment.score if understanding else 0.0,
            decision.action,
        )
        return Outcome(
            message,
            conversation,
            replies,
            understanding.as_dict() if understanding else None,
            False,
            decision,
        )

    def _duplicate(self, session: Session, existing: Message) -> Outcome:
        conversation = session.get_one(Conversation, existing.conversation_id)
        return Outcome(
            existing,
            conversation,
            conversations.replies_to(session, message_id=existing.id),
            existing.nlu,
            duplicate=True,
        )

    # -- surveys -----------------------------------------------------------------------

    def _survey(
        self,
        session: Session,
        identity: ChannelIdentity,
        inbound: InboundMessage,
        button: tuple[int, str] | None,
        understanding: Understanding | None,
    ) -> Outcome | None:
        """A survey answer, a "why?" comment or a skip; None when the message is not one.

        Buttons always count. Typed answers ("4", "9/10") and comments count only while the
        customer has no live conversation, so a new question is never taken for a score.
        """
        now = self.clock()
        customer_id = identity.customer_id
        survey: SurveyResponse | None = None
        value: str | None = None
        if button is not None:
            survey = session.get(SurveyResponse, button[0])
            if survey is None or survey.customer_id != customer_id:
                log.info("bot.survey.unknown_button data=%r", (inbound.button or "")[:64])
                return self._survey_outcome(
                    session, identity, None, inbound, None, ["survey_closed"]
                )
            value = button[1]
        elif conversations.find_open_conversation(session, identity=identity) is None:
            asked = surveys.open_survey(
                session, customer_id=customer_id, channel=identity.channel, now=now
            )
            score = surveys.parse_score(inbound.text)
            if asked is not None and score is not None and surveys.in_scale(asked.kind, score):
                survey, value = asked, str(score)
            else:
                if _is_new_request(inbound.text, understanding):
                    return None
                survey = surveys.awaiting_comment(
                    session, customer_id=customer_id, channel=identity.channel, now=now
                )
                if survey is None:
                    return None
        else:
            return None
        return self._survey_answer(session, identity, survey, inbound, value, understanding, now)

    def _survey_answer(
        self,
        session: Session,
        identity: ChannelIdentity,
        survey: SurveyResponse,
        inbound: InboundMessage,
        value: str | None,
        understanding: Understanding | None,
        now: dt.datetime,
    ) -> Outcome:
        extra: list[Reply] = []
        if value is None or value == surveys.SKIP:
            # The free-text "why?" (or its Skip button).
            if survey.status is not SurveyStatus.answered or (
                survey.comment_open_until is None or survey.comment_open_until <= now
            ):
                keys = [
                    "survey_duplicate"
                    if survey.status is SurveyStatus.answered
                    else "survey_closed"
                ]
            else:
                sentiment = understanding.sentiment if understanding else None
                status = surveys.record_comment(
                    survey,
                    None if value == surveys.SKIP else inbound.text,
                    sentiment_score=sentiment.score if sentiment else None,
                )
                keys = [
                    "survey_comment_skipped"
                    if status is surveys.AnswerStatus.comment_skipped
                    else "survey_comment_thanks"
                ]
                negative = sentiment is not None and sentiment.label == "negative"
                if surveys.needs_follow_up(survey, negative_comment=negative):
                    self._follow_up(
                        session, identity, survey, sentiment.score if sentiment else 0.0
                    )
                    keys.append("survey_follow_up")
        else:
            status = surveys.record_score(session, survey, int(value), self.settings, now=now)
            if status is surveys.AnswerStatus.recorded:
                keys = []
                skip = Button("Skip", f"{surveys.BUTTON_PREFIX}{survey.id}:{surveys.SKIP}")
                extra = [Reply(self.settings.survey_comment_question, (skip,))]
            else:
                keys = [
                    "survey_duplicate"
                    if status is surveys.AnswerStatus.duplicate
                    else "survey_closed"
                ]
        outcome = self._survey_outcome(
            session, identity, survey, inbound, understanding, keys, extra
        )
        log.info(
            "bot.survey.answer survey=%s kind=%s value=%s",
            survey.id,
            survey.kind,
            value or "comment",
        )
        return outcome

    def _survey_outcome(
        self,
        session: Session,
        identity: ChannelIdentity,
        survey: SurveyResponse | None,
        inbound: InboundMessage,
        understanding: Understanding | None,
        keys: list[str],
        extra: Sequence[Reply] = (),
    ) -> Outcome:
        """Store the answer in the survey's conversation (which stays closed) and reply."""
        conversation = (
            session.get_one(Conversation, survey.conversation_id)
            if survey is not None and survey.conversation_id is not None
            else conversations.open_conversation(session, identity=identity)
        )
        label = inbound.text
        if inbound.button is not None:
            pressed = surveys.parse_button(inbound.button)
            label = (
                "Skip"
                if pressed and pressed[1] == surveys.SKIP
                else (pressed[1] if pressed else label)
            )
        message = conversations.add_message(
            session,
            conversation=conversation,
            direction=Direction.inbound,
            sender=Sender.customer,
            text=label,
            channel_message_id=inbound.message_id,
            nlu=understanding.as_dict() if understanding else None,
            payload={"survey_id": survey.id} if survey is not None else None,
        )
        customer = session.get_one(Customer, conversation.customer_id)
        context = self._context(session, customer)
        replies = _send(session, conversation, message, [*self._replies(context, *keys), *extra])
        return Outcome(
            message,
            conversation,
            replies,
            understanding.as_dict() if understanding else None,
            decision=Decision(Action.answer, response=keys[-1] if keys else "survey_comment"),
        )

    def _follow_up(
        self,
        session: Session,
        identity: ChannelIdentity,
        survey: SurveyResponse,
        sentiment_score: float,
    ) -> Conversation:
        """Close the loop: a new conversation in the agents' queue, with the survey as context."""
        customer = session.get_one(Customer, survey.customer_id)
        conversation = conversations.open_conversation(session, identity=identity)
        _enqueue(
            conversation, customer, EscalationReason.survey_follow_up, sentiment_score, self.clock()
        )
        high = SCALES[survey.kind][1]
        conversations.add_message(
            session,
            conversation=conversation,
            direction=Direction.outbound,
            sender=Sender.system,
            text=(
                f"Survey follow-up: {survey.kind.value.upper()} {survey.score} of {high}"
                f"{' on ' + survey.topic if survey.topic else ''}. "
                f"Comment: \u201c{survey.comment or ''}\u201d"
            ),
            is_private_note=True,
            payload={"survey_id": survey.id, "source_conversation_id": survey.conversation_id},
        )
        survey.follow_up_conversation_id = conversation.id
        log.info("bot.survey.follow_up survey=%s conversation=%s", survey.id, conversation.id)
        return conversation

    def _decide(
        self,
        session: Session,
        conversation: Conversation,
        understanding: Understanding,
        history: Sequence[Message],
    ) -> tuple[Decision, list[Reply]]:
        customer = session.get_one(Customer, conversation.customer_id)
        if (
            conversation.status is ConversationStatus.waiting
            and understanding.intent.label == CANCEL_INTENT
        ):
            # "never mind" while still in the queue: back to the bot, out of the queue.
            conversation.status = ConversationStatus.bot
            conversation.priority = 0
            log.info("bot.escalation.cancelled conversation=%s", conversation.id)
            context = self._context(session, customer)
            return Decision(Action.answer, "escalation_cancelled"), self._replies(
                context, "escalation_cancelled"
            )
        if conversation.status in (ConversationStatus.waiting, ConversationStatus.assigned):
            # A human has (or will have) this conversation: the bot stays quiet.
            return Decision(Action.silent), []
        decision = decide(
            understanding,
            previous_intents=[m.intent for m in history],
            previous_scores=[m.sentiment_score for m in history],
            config=self.policy,
            signals=_signals(customer),
        )
        context = self._context(session, customer)
        replies = self._replies(context, decision.response)
        if decision.action is Action.opt_out:
            customers.opt_out(session, customer_id=customer.id)
        elif decision.action is Action.escalate and decision.reason is not None:
            replies += self._escalate(
                session,
                conversation,
                customer,
                decision.reason,
                understanding.sentiment.score,
                context,
            )
        return decision, replies

    def _command(
        self, session: Session, conversation: Conversation, inbound: InboundMessage, *, linked: bool
    ) -> tuple[Decision, list[Reply]]:
        """Commands bypass the NLU: each has one fixed, predictable action."""
        customer = session.get_one(Customer, conversation.customer_id)
        context = self._context(session, customer)
        human_has_it = conversation.status in (
            ConversationStatus.waiting,
            ConversationStatus.assigned,
        )
        match inbound.command:
            case Command.start:
                keys = ["linked" if linked else "start"]
                if inbound.argument and inbound.link_customer_id is None:
                    keys.insert(0, "link_invalid")
                return Decision(Action.answer, response=keys[-1]), self._replies(context, *keys)
            case Command.help:
                return Decision(Action.answer, response="help"), self._replies(context, "help")
            case Command.stop:
                customers.opt_out(session, customer_id=customer.id)
                return Decision(Action.opt_out, response="opt_out"), self._replies(
                    context, "opt_out"
                )
            case Command.consent:
                customers.give_consent(session, customer_id=customer.id)
                return Decision(Action.answer, response="consent_given"), self._replies(
                    context, "consent_given"
                )
            case Command.agent:
                if human_has_it:
                    return Decision(Action.silent), self._replies(context, "already_waiting")
                reason = EscalationReason.human_request
                replies = self._replies(context, "human_agent")
                replies += self._escalate(session, conversation, customer, reason, 0.0, context)
                return Decision(Action.escalate, "human_agent", reason), replies
            case _:
                if human_has_it:
                    return Decision(Action.silent), []
                return Decision(Action.answer, response="unsupported"), self._replies(
                    context, "unsupported"
                )

    def _escalate(
        self,
        session: Session,
        conversation: Conversation,
        customer: Customer,
        reason: EscalationReason,
        sentiment_score: float,
        context: dict[str, Any],
    ) -> list[Reply]:
        now = self.clock()
        _enqueue(conversation, customer, reason, sentiment_score, now)
        if self.hours is not None and not self.hours.is_open(now):
            return self._replies(
                {**context, "reopens": self.hours.describe_next(now)}, "escalated_closed"
            )
        wait = inbox.typical_wait(session, now=now)
        return self._replies(
            {**context, "wait": inbox.describe_wait(wait) if wait else None}, "escalated"
        )

    def _replies(self, context: dict[str, Any], *keys: str | None) -> list[Reply]:
        rendered = (self.responses.reply(key, context) for key in keys if key)
        return [reply for reply in rendered if reply is not None]

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
            "opted_out": customer.opted_out_at is not None,
        }

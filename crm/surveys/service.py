"""Satisfaction surveys: who is asked what and when, answers, comments, the CRM feed.

The life of a survey row (``survey_responses``)::

    pending ──dispatch──▶ sent ──answer──▶ answered (a "why?" comment welcome for a while)
       │                   └──expiry──▶ expired
       └──a rule says no──▶ skipped (skip_reason)

* CSAT (or CES after a chosen intent) rows are created for conversations resolved by an
  agent or by the bot; the unique ``conversation_id`` makes that idempotent.
* NPS rows are created on a schedule for customers active in the period.
* ``dispatch`` applies the rules at send time and writes the question into the outbox and
  the survey's state in the same transaction, so a crash or restart never asks twice.
* A partial unique index allows one ``sent`` survey per customer at a time.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from collections import Counter
from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy import exists, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from careloop.config import Settings
from careloop.errors import NotFound
from crm.conversations.service import add_message, closed_conversation
from crm.db import utcnow
from crm.models import (
    SCALES,
    Channel,
    ChannelIdentity,
    Conversation,
    ConversationStatus,
    Customer,
    Direction,
    Message,
    Order,
    Sender,
    SurveyKind,
    SurveyResponse,
    SurveyStatus,
)
from crm.surveys import wording

log = logging.getLogger(__name__)

BUTTON_PREFIX = "survey:"
SKIP = "skip"
# Intents that say nothing about what the conversation was about.
SMALL_TALK = frozenset({"greet", "goodbye", "thanks", "out_of_scope", "cancel_request"})
ROW_WIDTH = {SurveyKind.csat: 5, SurveyKind.ces: 7, SurveyKind.nps: 6}
LOW_SCORE = {SurveyKind.csat: 2, SurveyKind.nps: 6, SurveyKind.ces: 2}
COMMENT_MAX_CHARS = 2000
DISPATCH_BATCH = 1000
NPS_BATCH = 1000


class Skip(StrEnum):
    """Why a survey was never asked."""

    disabled = "disabled"  # the survey kind was switched off
    opted_out = "opted_out"  # NPS only: CSAT after service is a service message
    unreachable = "unreachable"  # no channel reaches the customer
    another_open = "another_open"  # one open survey per customer
    throttled = "throttled"  # asked something within ``survey_min_gap_days``
    stale = "stale"  # the moment passed (e.g. the scheduler was down for a day)
    reopened = "reopened"  # the conversation is open again


class AnswerStatus(StrEnum):
    recorded = "recorded"
    duplicate = "duplicate"  # answered before; the first answer stands
    expired = "expired"  # too late
    comment_recorded = "comment_recorded"
    comment_skipped = "comment_skipped"


def in_scale(kind: SurveyKind, score: int) -> bool:
    low, high = SCALES[kind]
    return low <= score <= high


def is_low(kind: SurveyKind, score: int) -> bool:
    """CSAT ≤ 2, NPS detractor (≤ 6), CES ≤ 2."""
    return score <= LOW_SCORE[kind]


def nps_category(score: int) -> str:
    return "promoter" if score >= 9 else "passive" if score >= 7 else "detractor"


# -- creating --------------------------------------------------------------------------


def _topic(session: Session, conversation: Conversation) -> str | None:
    """What the conversation was about: its escalation reason, else its main intent."""
    if conversation.escalation_reason:
        return conversation.escalation_reason
    intents = session.scalars(
        select(Message.intent).where(
            Message.conversation_id == conversation.id,
            Message.direction == Direction.inbound,
            Message.intent.is_not(None),
        )
    ).all()
    counts = Counter(i for i in intents if i and i not in SMALL_TALK)
    return counts.most_common(1)[0][0] if counts else None


def create_after_service(
    session: Session, settings: Settings, *, now: dt.datetime | None = None
) -> list[SurveyResponse]:
    """Pending CSAT (or CES) rows for recently resolved conversations that have none."""
    if not settings.survey_csat_enabled:
        return []
    now = now or utcnow()
    has_survey = exists().where(SurveyResponse.conversation_id == Conversation.id)
    customer_spoke = exists().where(
        Message.conversation_id == Conversation.id,
        Message.direction == Direction.inbound,
        Message.sender == Sender.customer,
    )
    query = select(Conversation).where(
        Conversation.status == ConversationStatus.resolved,
        Conversation.resolved_at >= now - dt.timedelta(hours=settings.survey_max_delay_hours),
        ~has_survey,
        customer_spoke,
    )
    if not settings.survey_csat_after_bot:
        query = query.where(Conversation.resolved_by == Sender.agent)
    created = []
    ces_intents = set(settings.survey_ces_intents)
    for conversation in session.scalars(query.order_by(Conversation.id).limit(DISPATCH_BATCH)):
        kind = SurveyKind.csat
        if ces_intents and session.scalar(
            select(
                exists().where(
                    Message.conversation_id == conversation.id,
                    Message.intent.in_(ces_intents),
                )
            )
        ):
            kind = SurveyKind.ces
        survey = SurveyResponse(
            customer_id=conversation.customer_id,
            conversation_id=conversation.id,
            agent_id=conversation.assigned_agent_id,
            kind=kind,
            channel=conversation.channel,
            status=SurveyStatus.pending,
            topic=_topic(session, conversation),
            due_at=now,
        )
        try:
            with session.begin_nested():
                session.add(survey)
        except IntegrityError:  # another process created it first
            continue
        created.append(survey)
    return created


def schedule_nps(
    session: Session, settings: Settings, *, now: dt.datetime | None = None
) -> list[SurveyResponse]:
    """Pending NPS rows for customers active in the period and not asked for NPS lately."""
    if not settings.survey_nps_enabled:
        return []
    now = now or utcnow()
    active_since = now - dt.timedelta(days=settings.survey_nps_active_days)
    asked_since = now - dt.timedelta(days=settings.survey_nps_interval_days)
    active = exists().where(
        Message.customer_id == Customer.id,
        Message.direction == Direction.inbound,
        Message.created_at >= active_since,
    ) | exists().where(Order.customer_id == Customer.id, Order.ordered_at >= active_since)
    recent_nps = exists().where(
        SurveyResponse.customer_id == Customer.id,
        SurveyResponse.kind == SurveyKind.nps,
        (SurveyResponse.status == SurveyStatus.pending)
        | (SurveyResponse.created_at >= asked_since),
    )
    reachable = exists().where(
        ChannelIdentity.customer_id == Customer.id, ChannelIdentity.reachable.is_(True)
    )
    customers = session.scalars(
        select(Customer)
        .where(Customer.opted_out_at.is_(None), active, ~recent_nps, reachable)
        .order_by(Customer.id)
        .limit(NPS_BATCH)
    ).all()
    created = []
    for customer in customers:
        identity = _reachable_identity(session, customer.id, None)
        if identity is None:
            continue
        survey = SurveyResponse(
            customer_id=customer.id,
            kind=SurveyKind.nps,
            channel=identity.channel,
            status=SurveyStatus.pending,
            due_at=now,
        )
        session.add(survey)
        created.append(survey)
    session.flush()
    return created


# -- asking ----------------------------------------------------------------------------


@dataclass(frozen=True)
class DispatchResult:
    sent: int
    skipped: dict[str, int]
    expired: int


def expire(session: Session, *, now: dt.datetime | None = None) -> int:
    """Asked surveys past their expiry become ``expired``; open comment windows close."""
    now = now or utcnow()
    result = session.execute(
        update(SurveyResponse)
        .where(SurveyResponse.status == SurveyStatus.sent, SurveyResponse.expires_at <= now)
        .values(status=SurveyStatus.expired)
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def language(session: Session, customer_id: int, conversation: Conversation | None) -> str | None:
    """The language to ask a customer in: the conversation's, else the one they last wrote
    in, else their CRM locale's."""
    if conversation is not None and conversation.language:
        return conversation.language
    latest = session.scalar(
        select(Conversation.language)
        .where(Conversation.customer_id == customer_id, Conversation.language.is_not(None))
        .order_by(Conversation.id.desc())
        .limit(1)
    )
    if latest:
        return latest
    return wording.locale_language(session.get_one(Customer, customer_id).locale)


def buttons(survey: SurveyResponse) -> list[dict[str, str]]:
    low, high = SCALES[survey.kind]
    return [
        {"text": str(n), "data": f"{BUTTON_PREFIX}{survey.id}:{n}"} for n in range(low, high + 1)
    ]


def _reachable_identity(
    session: Session, customer_id: int, channel: Channel | None
) -> ChannelIdentity | None:
    query = select(ChannelIdentity).where(
        ChannelIdentity.customer_id == customer_id, ChannelIdentity.reachable.is_(True)
    )
    if channel is not None:
        query = query.where(ChannelIdentity.channel == channel)
    return session.scalars(query.order_by(ChannelIdentity.updated_at.desc()).limit(1)).first()


def _rule(
    session: Session, survey: SurveyResponse, settings: Settings, now: dt.datetime
) -> Skip | None:
    enabled = {
        SurveyKind.csat: settings.survey_csat_enabled,
        SurveyKind.ces: settings.survey_csat_enabled,
        SurveyKind.nps: settings.survey_nps_enabled,
    }
    if not enabled[survey.kind]:
        return Skip.disabled
    if survey.due_at and survey.due_at < now - dt.timedelta(hours=settings.survey_max_delay_hours):
        return Skip.stale
    customer = session.get_one(Customer, survey.customer_id)
    if survey.kind is SurveyKind.nps and customer.opted_out_at is not None:
        return Skip.opted_out
    if survey.conversation_id is not None:
        conversation = session.get_one(Conversation, survey.conversation_id)
        if conversation.status is not ConversationStatus.resolved:
            return Skip.reopened
    others = select(SurveyResponse.id).where(
        SurveyResponse.customer_id == survey.customer_id, SurveyResponse.id != survey.id
    )
    if session.scalar(
        select(exists(others.where(SurveyResponse.status == SurveyStatus.sent).subquery()))
    ):
        return Skip.another_open
    if settings.survey_min_gap_days and session.scalar(
        select(
            exists(
                others.where(
                    SurveyResponse.sent_at >= now - dt.timedelta(days=settings.survey_min_gap_days)
                ).subquery()
            )
        )
    ):
        return Skip.throttled
    return None


def _ask(
    session: Session, survey: SurveyResponse, settings: Settings, now: dt.datetime
) -> Skip | None:
    """Write the question to the outbox and mark the survey sent (or say why not)."""
    reason = _rule(session, survey, settings, now)
    if reason is not None:
        return reason
    conversation = (
        session.get_one(Conversation, survey.conversation_id)
        if survey.conversation_id is not None
        else None
    )
    identity = (
        conversation.channel_identity
        if conversation is not None and conversation.channel_identity is not None
        else _reachable_identity(session, survey.customer_id, survey.channel)
    )
    if identity is None or not identity.reachable:
        return Skip.unreachable
    asked_in = language(session, survey.customer_id, conversation)
    if conversation is None:
        # NPS has no conversation of its own: the question opens a closed one to hold it.
        conversation = closed_conversation(
            session, identity=identity, resolved_by=Sender.bot, at=now
        )
        conversation.language = asked_in
        survey.conversation_id = conversation.id
    add_message(
        session,
        conversation=conversation,
        direction=Direction.outbound,
        sender=Sender.bot,
        text=wording.wording(survey.kind, settings, asked_in),
        payload={
            "buttons": buttons(survey),
            "row_width": ROW_WIDTH[survey.kind],
            "survey_id": survey.id,
        },
        at=now,
        outbox_key=f"survey:{survey.id}",
    )
    survey.status = SurveyStatus.sent
    survey.sent_at = now
    survey.expires_at = now + dt.timedelta(hours=settings.survey_expiry_hours)
    session.flush()
    return None


def dispatch(
    session: Session, settings: Settings, *, now: dt.datetime | None = None
) -> DispatchResult:
    """Expire old surveys, create the after-service ones, then ask every due survey."""
    now = now or utcnow()
    expired = expire(session, now=now)
    create_after_service(session, settings, now=now)
    due = session.scalars(
        select(SurveyResponse)
        .where(SurveyResponse.status == SurveyStatus.pending, SurveyResponse.due_at <= now)
        .order_by(SurveyResponse.due_at, SurveyResponse.id)
        .limit(DISPATCH_BATCH)
    ).all()
    sent = 0
    skipped: Counter[str] = Counter()
    for survey in due:
        try:
            with session.begin_nested():
                reason = _ask(session, survey, settings, now)
        except IntegrityError:  # a concurrent dispatch asked this customer something first
            session.refresh(survey)
            if survey.status is not SurveyStatus.pending:
                continue  # ... this very survey (its question has a unique outbox key)
            reason = Skip.another_open
        if reason is None:
            sent += 1
            continue
        survey.status = SurveyStatus.skipped
        survey.skip_reason = reason.value
        skipped[reason.value] += 1
    session.flush()
    if sent or skipped or expired:
        log.info("surveys.dispatch sent=%d skipped=%s expired=%d", sent, dict(skipped), expired)
    return DispatchResult(sent, dict(skipped), expired)


# -- answering -------------------------------------------------------------------------

_NUMBER_WORDS = {
    "zero": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5,
    "six": 6, "seven": 7, "eight": 8, "nine": 9, "ten": 10,
}  # fmt: skip
# A typed score at the start of the message, as customers write one: "4", "9/10", "4 out of
# 5", "5 stars", "I'd give it a 9", "rating: 8", "⭐⭐⭐⭐", "ten!"; then, after a separator,
# perhaps the reason ("9 - quick and friendly", "2/5 nobody answered my email").
_SCORE = re.compile(
    r"(?i)\s*(?P<said>(?:i(?:'d| would)? (?:give|rate) (?:it|you|this|that)?\s*(?:an? )?)|"
    r"(?:rating|score|note|bewertung)\s*[:=]?\s*)?"
    rf"(?:(?P<n>\d{{1,2}})|(?P<w>{'|'.join(_NUMBER_WORDS)})\b|(?P<stars>(?:[⭐★]\ufe0f?\s*){{1,10}}))"
    r"(?P<scale>\s*(?:/|out of|of|von|sur|su)\s*(?:5|7|10)\b)?"
    r"(?P<unit>\s*(?:stars?|sterne|points?|punkte)\b)?"
    r"(?:\s*$|\s*[.!,;:)\-–—]+(?![\d.,])\s*|(?P<space>\s+(?=[^\W\d_])))"
)


def parse_button(data: str) -> tuple[int, str] | None:
    """``survey:<id>:<score|skip>`` → (survey id, value), or None."""
    if not data.startswith(BUTTON_PREFIX):
        return None
    survey_id, _, value = data[len(BUTTON_PREFIX) :].partition(":")
    if not survey_id.isdigit() or not (value.isdigit() or value == SKIP):
        return None
    return int(survey_id), value


def parse_answer(text: str) -> tuple[int, str | None] | None:
    """A typed survey answer: the score and the reason said with it (None when none), or
    None when the message does not start with a score. "4", "9/10", "4 out of 5",
    "5 stars", "⭐⭐⭐⭐", "I'd give it a 9", "10! super fast" (→ 10, "super fast"); a number
    inside a sentence ("order 4 never came") or before a digit ("4.5") is none."""
    match = _SCORE.match(text)
    if match is None or (  # ("4 items were missing", "3 weeks late": no score)
        match["space"] and not (match["said"] or match["stars"] or match["scale"] or match["unit"])
    ):
        return None
    if match["n"] is not None:
        score = int(match["n"])
    elif match["w"] is not None:
        score = _NUMBER_WORDS[match["w"].lower()]
    else:
        score = sum(1 for c in match["stars"] if c in "⭐★")
    rest = text[match.end() :].strip()
    return score, (rest if len(rest) >= 2 and any(c.isalpha() for c in rest) else None)


def get(session: Session, survey_id: int) -> SurveyResponse:
    survey = session.get(SurveyResponse, survey_id)
    if survey is None:
        raise NotFound(f"survey {survey_id} does not exist")
    return survey


def open_survey(
    session: Session, *, customer_id: int, channel: Channel, now: dt.datetime | None = None
) -> SurveyResponse | None:
    """The customer's asked, unanswered and unexpired survey on this channel."""
    return session.scalars(
        select(SurveyResponse).where(
            SurveyResponse.customer_id == customer_id,
            SurveyResponse.channel == channel,
            SurveyResponse.status == SurveyStatus.sent,
            SurveyResponse.expires_at > (now or utcnow()),
        )
    ).first()


def awaiting_comment(
    session: Session, *, customer_id: int, channel: Channel, now: dt.datetime | None = None
) -> SurveyResponse | None:
    """An answered survey whose "why?" is still welcome."""
    return session.scalars(
        select(SurveyResponse)
        .where(
            SurveyResponse.customer_id == customer_id,
            SurveyResponse.channel == channel,
            SurveyResponse.status == SurveyStatus.answered,
            SurveyResponse.comment_open_until > (now or utcnow()),
        )
        .order_by(SurveyResponse.answered_at.desc())
        .limit(1)
    ).first()


def record_score(
    session: Session,
    survey: SurveyResponse,
    score: int,
    settings: Settings,
    *,
    now: dt.datetime | None = None,
) -> AnswerStatus:
    """Record an answer once; a repeated or late answer changes nothing."""
    now = now or utcnow()
    low, high = SCALES[survey.kind]
    if not low <= score <= high:
        raise ValueError(f"a {survey.kind.value.upper()} score is {low}-{high}, not {score}")
    if survey.status is SurveyStatus.answered:
        return AnswerStatus.duplicate
    if survey.status is not SurveyStatus.sent or (
        survey.expires_at is not None and survey.expires_at <= now
    ):
        if survey.status is SurveyStatus.sent:
            survey.status = SurveyStatus.expired
        return AnswerStatus.expired
    survey.status = SurveyStatus.answered
    survey.score = score
    survey.answered_at = now
    survey.comment_open_until = now + dt.timedelta(minutes=settings.survey_comment_minutes)
    session.flush()
    refresh_customer(session, customer_id=survey.customer_id)
    return AnswerStatus.recorded


def record_comment(
    survey: SurveyResponse, text: str | None, *, sentiment_score: float | None
) -> AnswerStatus:
    """The free-text "why?" (None: the customer skipped it). Closes the comment window."""
    survey.comment_open_until = None
    if text is None:
        return AnswerStatus.comment_skipped
    survey.comment = text.strip()[:COMMENT_MAX_CHARS]
    survey.comment_sentiment = sentiment_score
    return AnswerStatus.comment_recorded


def needs_follow_up(survey: SurveyResponse, *, negative_comment: bool) -> bool:
    """A low score with a negative comment: a person should get back to the customer."""
    return (
        survey.status is SurveyStatus.answered
        and survey.score is not None
        and is_low(survey.kind, survey.score)
        and negative_comment
        and survey.follow_up_conversation_id is None
    )


def refresh_customer(session: Session, *, customer_id: int) -> Customer:
    """Last and average CSAT, its trend, last NPS and its category, on the customer."""
    customer = session.get_one(Customer, customer_id)
    csat = list(
        session.scalars(
            select(SurveyResponse.score)
            .where(
                SurveyResponse.customer_id == customer_id,
                SurveyResponse.kind == SurveyKind.csat,
                SurveyResponse.status == SurveyStatus.answered,
            )
            .order_by(SurveyResponse.answered_at, SurveyResponse.id)
        )
    )
    scores = [s for s in csat if s is not None]
    customer.csat_count = len(scores)
    customer.csat_last = scores[-1] if scores else None
    customer.csat_avg = round(sum(scores) / len(scores), 3) if scores else None
    customer.csat_trend = (
        round(scores[-1] - sum(scores[:-1]) / len(scores[:-1]), 3) if len(scores) > 1 else None
    )
    nps = session.scalar(
        select(SurveyResponse.score)
        .where(
            SurveyResponse.customer_id == customer_id,
            SurveyResponse.kind == SurveyKind.nps,
            SurveyResponse.status == SurveyStatus.answered,
        )
        .order_by(SurveyResponse.answered_at.desc(), SurveyResponse.id.desc())
        .limit(1)
    )
    customer.nps_last = nps
    customer.nps_category = nps_category(nps) if nps is not None else None
    customer.satisfaction_at = session.scalar(
        select(func.max(SurveyResponse.answered_at)).where(
            SurveyResponse.customer_id == customer_id
        )
    )
    return customer

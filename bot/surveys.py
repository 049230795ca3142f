"""Survey answers in the chat: a pressed button, a typed score, the "why?" comment or a skip.

Buttons always count. Typed answers ("4", "9/10") and comments count only while the customer
has no live conversation, so a new question is never taken for a score.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy.orm import Session

from bot.channels import Channels
from bot.inbound import InboundMessage, Outcome
from bot.policy.escalation import Action, Decision, EscalationReason
from bot.replying import Replier
from bot.responses import Button, Reply
from careloop.config import Settings
from crm.conversations import service as conversations
from crm.models import (
    SCALES,
    ChannelIdentity,
    Conversation,
    Customer,
    Direction,
    Sender,
    SurveyResponse,
    SurveyStatus,
)
from crm.surveys import service as surveys
from crm.surveys.wording import wording
from nlp.base import Understanding

log = logging.getLogger(__name__)

# Intents that never answer "why did you give that score?": they ask for something.
ACTION_INTENTS = frozenset({"human_agent", "opt_out", "cancel_order", "change_address"})
# Intents a comment typically has, even when phrased as a question ("why so slow?").
COMMENT_INTENTS = frozenset({"complaint", "feedback_praise", "nlu_fallback", "out_of_scope"})


def is_new_request(text: str, understanding: Understanding | None) -> bool:
    """A message after a survey score that starts a new request instead of commenting:
    an action intent, or a question that is not a complaint or feedback."""
    if understanding is None:
        return False
    intent = understanding.intent.label
    return intent in ACTION_INTENTS or (
        text.rstrip().endswith("?") and intent not in COMMENT_INTENTS
    )


class SurveyAnswers:
    """Takes survey answers out of the chat before the conversation logic sees them."""

    def __init__(
        self,
        settings: Settings,
        replier: Replier,
        clock: Callable[[], dt.datetime],
        channels: Channels | None = None,
    ) -> None:
        self.settings = settings
        self.channels = channels or Channels()
        self.reply_window = dt.timedelta(days=settings.campaign_reply_window_days)
        self.replier = replier
        self.clock = clock

    def answer(
        self,
        session: Session,
        identity: ChannelIdentity,
        inbound: InboundMessage,
        button: tuple[int, str] | None,
        understanding: Understanding | None,
        entities: list[dict[str, Any]],
        *,
        open_conversation: Conversation | None,
    ) -> Outcome | None:
        """The outcome of a survey answer, a "why?" comment or a skip; None when the message
        is not one. ``open_conversation``: the customer's live conversation here, if any."""
        now = self.clock()
        customer_id = identity.customer_id
        survey: SurveyResponse | None = None
        value: str | None = None
        said_why: str | None = None
        if button is not None:
            survey = session.get(SurveyResponse, button[0])
            if survey is None or survey.customer_id != customer_id:
                log.info("bot.survey.unknown_button data=%r", (inbound.button or "")[:64])
                return self._outcome(
                    session, identity, None, inbound, None, entities, ["survey_closed"]
                )
            value = button[1]
        elif open_conversation is None:
            asked = surveys.open_survey(
                session, customer_id=customer_id, channel=identity.channel, now=now
            )
            parsed = surveys.parse_answer(inbound.text)
            score, reason = parsed if parsed is not None else (None, None)
            if asked is not None and score is not None and surveys.in_scale(asked.kind, score):
                survey, value = asked, str(score)
                said_why = reason  # ("9 - quick and friendly": the "why?" said with it)
            else:
                if is_new_request(inbound.text, understanding):
                    return None
                survey = surveys.awaiting_comment(
                    session, customer_id=customer_id, channel=identity.channel, now=now
                )
                if survey is None:
                    return None
        else:
            return None
        keys, extra = self._record(
            session, identity, survey, inbound, value, understanding, now, said_why
        )
        outcome = self._outcome(
            session, identity, survey, inbound, understanding, entities, keys, extra
        )
        log.info(
            "bot.survey.answer survey=%s kind=%s value=%s",
            survey.id,
            survey.kind,
            value or "comment",
        )
        return outcome

    def _record(
        self,
        session: Session,
        identity: ChannelIdentity,
        survey: SurveyResponse,
        inbound: InboundMessage,
        value: str | None,
        understanding: Understanding | None,
        now: dt.datetime,
        said_why: str | None = None,
    ) -> tuple[list[str], list[Reply]]:
        """Store the score or the comment (``said_why``: the reason typed with the score);
        the reply keys and any extra reply."""
        comment = inbound.text
        if value is not None and value != surveys.SKIP:
            status = surveys.record_score(session, survey, int(value), self.settings, now=now)
            if status is not surveys.AnswerStatus.recorded:
                duplicate = status is surveys.AnswerStatus.duplicate
                return ["survey_duplicate" if duplicate else "survey_closed"], []
            if said_why is None:
                language = self._language(session, survey)
                skip = Button(
                    wording("skip", self.settings, language),
                    f"{surveys.BUTTON_PREFIX}{survey.id}:{surveys.SKIP}",
                )
                question = wording("comment", self.settings, language)
                return [], [Reply(question, (skip,))]
            comment, value = said_why, None  # (no "why?" to ask: it was said)
        # The free-text "why?" (or its Skip button, or the reason typed with the score).
        if survey.status is not SurveyStatus.answered or (
            survey.comment_open_until is None or survey.comment_open_until <= now
        ):
            return [
                "survey_duplicate" if survey.status is SurveyStatus.answered else "survey_closed"
            ], []
        sentiment = understanding.sentiment if understanding else None
        status = surveys.record_comment(
            survey,
            None if value == surveys.SKIP else comment,
            sentiment_score=sentiment.score if sentiment else None,
        )
        keys = [
            "survey_comment_skipped"
            if status is surveys.AnswerStatus.comment_skipped
            else "survey_comment_thanks"
        ]
        negative = sentiment is not None and sentiment.label == "negative"
        if surveys.needs_follow_up(survey, negative_comment=negative):
            self._follow_up(session, identity, survey, sentiment.score if sentiment else 0.0)
            keys.append("survey_follow_up")
        return keys, []

    @staticmethod
    def _language(session: Session, survey: SurveyResponse) -> str | None:
        conversation = (
            session.get(Conversation, survey.conversation_id)
            if survey.conversation_id is not None
            else None
        )
        return surveys.language(session, survey.customer_id, conversation)

    def _outcome(
        self,
        session: Session,
        identity: ChannelIdentity,
        survey: SurveyResponse | None,
        inbound: InboundMessage,
        understanding: Understanding | None,
        entities: list[dict[str, Any]],
        keys: list[str],
        extra: Sequence[Reply] = (),
    ) -> Outcome:
        """Store the answer in the survey's conversation (which stays closed) and reply."""
        conversation = (
            session.get_one(Conversation, survey.conversation_id)
            if survey is not None and survey.conversation_id is not None
            else conversations.open_conversation(
                session, identity=identity, reply_window=self.reply_window
            )
        )
        label = inbound.text
        if inbound.button is not None:
            pressed = surveys.parse_button(inbound.button)
            language = self._language(session, survey) if survey is not None else None
            label = (
                wording("skip", self.settings, language)
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
            entities=entities,
            payload={"survey_id": survey.id} if survey is not None else None,
        )
        customer = session.get_one(Customer, conversation.customer_id)
        context = self.replier.context(session, customer, conversation)
        texts = [*self.replier.render(context, *keys), *extra]
        replies = self.replier.send(
            session, conversation, message, texts, channel=self.channels.get(inbound.channel)
        )
        return Outcome(
            message,
            conversation,
            replies,
            understanding.as_dict() if understanding else None,
            decision=Decision(Action.answer, response=keys[-1] if keys else "survey_comment"),
            entities=entities,
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
        conversation = conversations.open_conversation(
            session, identity=identity, reply_window=self.reply_window
        )
        self.replier.enqueue(
            session, conversation, customer, EscalationReason.survey_follow_up, sentiment_score
        )
        high = SCALES[survey.kind][1]
        self.replier.note(
            session,
            conversation,
            f"Survey follow-up: {survey.kind.value.upper()} {survey.score} of {high}"
            f"{' on ' + survey.topic if survey.topic else ''}. "
            f"Comment: \u201c{survey.comment or ''}\u201d",
            survey_id=survey.id,
            source_conversation_id=survey.conversation_id,
        )
        survey.follow_up_conversation_id = conversation.id
        log.info("bot.survey.follow_up survey=%s conversation=%s", survey.id, conversation.id)
        return conversation

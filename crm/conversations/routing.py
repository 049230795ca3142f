"""Routing: which team an escalation goes to, and pulling work to agents with capacity.

An escalation is routed to the team whose ``intents`` list holds the intent of the
customer's latest message (billing questions to Billing, delivery problems to Delivery);
no such team, no team. Its SLA targets start at the same moment (crm.conversations.sla).

Agents of the conversation's team are offered it first; when none of them is online with
free capacity, any online agent is. When an agent frees capacity (resolves a conversation)
the oldest highest-priority waiting conversation is pulled to them at once.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from careloop.config import Settings
from crm.conversations import sla
from crm.models import (
    Conversation,
    ConversationStatus,
    Direction,
    Message,
    Role,
    Team,
    User,
)


@dataclass(frozen=True)
class Office:
    """The business hours SLA clocks count in when a team has none of its own; the
    caller passes them from its settings (crm reads no global settings)."""

    hours: str
    timezone: str

    @classmethod
    def of(cls, settings: Settings) -> Office:
        return cls(hours=settings.business_hours, timezone=settings.business_timezone)


def team_for_intent(session: Session, intent: str | None) -> Team | None:
    if not intent:
        return None
    for team in session.scalars(select(Team).order_by(Team.id)):
        if intent in (team.intents or []):
            return team
    return None


def last_intent(session: Session, conversation: Conversation) -> str | None:
    if conversation.id is None:
        return None
    return session.scalars(
        select(func.coalesce(Message.corrected_intent, Message.intent))
        .where(
            Message.conversation_id == conversation.id,
            Message.direction == Direction.inbound,
            Message.intent.is_not(None),
        )
        .order_by(Message.id.desc())
        .limit(1)
    ).first()


def on_escalation(
    session: Session, conversation: Conversation, now: dt.datetime, office: Office
) -> None:
    """Route the conversation to its team and start its SLA clock."""
    if conversation.team_id is None:
        team = team_for_intent(session, last_intent(session, conversation))
        conversation.team_id = team.id if team else None
    sla.start(session, conversation, now=now, default_hours=office.hours, timezone=office.timezone)


def held_counts(session: Session, agent_ids: list[int]) -> dict[int, int]:
    return {
        agent_id: int(count)
        for agent_id, count in session.execute(
            select(Conversation.assigned_agent_id, func.count(Conversation.id))
            .where(
                Conversation.status == ConversationStatus.assigned,
                Conversation.assigned_agent_id.in_(agent_ids),
            )
            .group_by(Conversation.assigned_agent_id)
        )
        if agent_id is not None
    }


def next_for(session: Session, agent: User) -> int | None:
    """The conversation ``agent`` should take next: waiting and unassigned; their team's
    first, then those without a team, then other teams' (overflow); within each, highest
    priority, then longest waiting."""
    tier = case(
        (Conversation.team_id == (agent.team_id or -1), 0),
        (Conversation.team_id.is_(None), 1),
        else_=2,
    )
    return session.scalars(
        select(Conversation.id)
        .where(
            Conversation.status == ConversationStatus.waiting,
            Conversation.assigned_agent_id.is_(None),
        )
        .order_by(
            tier,
            Conversation.priority.desc(),
            Conversation.escalated_at.asc(),
            Conversation.id,
        )
        .limit(1)
    ).first()


def free_capacity(session: Session, agent: User) -> int:
    if agent.role is not Role.agent or not agent.is_active:
        return 0
    return agent.max_concurrent - held_counts(session, [agent.id]).get(agent.id, 0)

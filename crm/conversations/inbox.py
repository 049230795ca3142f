"""The agents' inbox: the queue, claiming and assigning, replies, notes, resolve / reopen.

Claiming is one conditional UPDATE (``WHERE status = 'waiting' AND assigned_agent_id IS
NULL``), so when two agents claim at once exactly one row changes: one wins, the other gets
a Conflict. Agent replies go out through the conversation's own channel: they are written to
the outbox, the web chat shows them, the Telegram sender delivers them.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, select, update
from sqlalchemy.orm import Session

from careloop.errors import Conflict, NotFound, ValidationFailed
from crm.conversations import routing, sla
from crm.conversations.service import add_message, effective_priority, escalate
from crm.db import utcnow
from crm.models import (
    WITH_A_PERSON,
    Conversation,
    ConversationStatus,
    Customer,
    Direction,
    Message,
    Notification,
    Role,
    Sender,
    User,
)

VIEWS = ("queue", "mine", "unassigned", "all", "resolved")
SORTS = ("priority", "sla")
MAX_REPLY_CHARS = 4000  # well inside Telegram's 4,096 per message


@dataclass(frozen=True)
class QueueRow:
    id: int
    customer_id: int
    customer_name: str
    channel: str
    status: str
    priority: int
    effective_priority: int
    reason: str | None
    sentiment: float | None
    value_tier: str | None
    churn_risk: str | None
    assigned_agent_id: int | None
    escalated_at: dt.datetime | None
    last_message_at: dt.datetime
    waiting_seconds: int | None
    team_id: int | None = None
    sla_state: str | None = None
    sla_due_at: dt.datetime | None = None


def queue(
    session: Session,
    *,
    view: str,
    agent: User,
    limit: int = 50,
    offset: int = 0,
    now: dt.datetime | None = None,
    sort: str = "priority",
) -> list[QueueRow]:
    """Conversations for one inbox view, by effective priority (priority + waiting minutes
    / 2, see :func:`crm.conversations.service.queue_rank`) or, with ``sort="sla"``, by the
    SLA target due first; resolved ones newest first."""
    if view not in VIEWS:
        raise ValidationFailed(f"unknown view {view!r}; use one of {', '.join(VIEWS)}")
    if sort not in SORTS:
        raise ValidationFailed(f"unknown sort {sort!r}; use one of {', '.join(SORTS)}")
    now = now or utcnow()
    where = {
        "queue": Conversation.status.in_(WITH_A_PERSON),
        "mine": and_(
            Conversation.status.in_(WITH_A_PERSON), Conversation.assigned_agent_id == agent.id
        ),
        "unassigned": and_(
            Conversation.status == ConversationStatus.waiting,
            Conversation.assigned_agent_id.is_(None),
        ),
        "all": Conversation.escalated_at.is_not(None),
        "resolved": and_(
            Conversation.status == ConversationStatus.resolved,
            Conversation.escalated_at.is_not(None),
        ),
    }[view]
    last_score = (
        select(Message.sentiment_score)
        .where(Message.conversation_id == Conversation.id, Message.direction == Direction.inbound)
        .order_by(Message.id.desc())
        .limit(1)
        .scalar_subquery()
    )
    if view == "resolved":
        order: tuple[Any, ...] = (Conversation.resolved_at.desc(),)
    elif sort == "sla":
        due = sla.next_due_column()
        order = (due.asc().nulls_last(), Conversation.queue_rank.desc().nulls_last())
    else:
        order = (Conversation.queue_rank.desc().nulls_last(), Conversation.id)
    rows = session.execute(
        select(Conversation, Customer, last_score)
        .join(Customer, Customer.id == Conversation.customer_id)
        .where(where)
        .order_by(*order)
        .limit(min(max(1, limit), 200))
        .offset(max(0, offset))
    ).all()
    out = []
    for conversation, customer, score in rows:
        waiting = None
        if conversation.escalated_at is not None and conversation.status in WITH_A_PERSON:
            waiting = int((now - conversation.escalated_at).total_seconds())
        out.append(
            QueueRow(
                id=conversation.id,
                customer_id=customer.id,
                customer_name=customer.display_name,
                channel=conversation.channel.value,
                status=conversation.status.value,
                priority=conversation.priority,
                effective_priority=effective_priority(conversation.priority, waiting),
                reason=conversation.escalation_reason,
                sentiment=score,
                value_tier=customer.rfm_segment,
                churn_risk=customer.churn_risk.value if customer.churn_risk else None,
                assigned_agent_id=conversation.assigned_agent_id,
                escalated_at=conversation.escalated_at,
                last_message_at=conversation.last_message_at,
                waiting_seconds=waiting,
                team_id=conversation.team_id,
                sla_state=conversation.sla_state,
                sla_due_at=sla.next_due(conversation),
            )
        )
    return out


def get_conversation(session: Session, conversation_id: int) -> Conversation:
    conversation = session.get(Conversation, conversation_id)
    if conversation is None:
        raise NotFound(f"conversation {conversation_id} not found")
    return conversation


def claim(session: Session, *, conversation_id: int, agent: User) -> Conversation:
    """Take a waiting, unassigned conversation; Conflict if someone else was faster.

    Call it at the start of a transaction (see the web route) so the UPDATE is its first
    statement."""
    _must_work_conversations(agent)
    # The UPDATE comes first: on SQLite a transaction that reads first and writes later can
    # fail at once when another writer got in between; one that starts with the write queues.
    taken = _take(session, conversation_id=conversation_id, agent=agent, now=utcnow())
    conversation = get_conversation(session, conversation_id)
    session.refresh(conversation)
    if taken:
        _event(session, conversation, f"Claimed by {agent.display_name}")
    else:
        if conversation.assigned_agent_id == agent.id:
            return conversation  # a repeated click by the same agent
        holder = (
            session.get(User, conversation.assigned_agent_id)
            if conversation.assigned_agent_id
            else None
        )
        who = f"by {holder.display_name}" if holder else f"({conversation.status.value})"
        raise Conflict(f"conversation {conversation_id} was already taken {who}")
    return conversation


def assign(
    session: Session, *, conversation_id: int, agent_id: int, by: User, office: routing.Office
) -> Conversation:
    """Give an open conversation to ``agent_id`` (an agent or admin); one never escalated
    starts its SLA clock in ``office`` hours."""
    _must_work_conversations(by)
    target = session.get(User, agent_id)
    if target is None or not target.is_active or target.role not in (Role.agent, Role.admin):
        raise ValidationFailed(f"user {agent_id} is not an active agent")
    conversation = get_conversation(session, conversation_id)
    if conversation.status is ConversationStatus.resolved:
        raise Conflict("reopen the conversation before assigning it")
    _step_in(session, conversation, office)
    conversation.status = ConversationStatus.assigned
    conversation.assigned_agent_id = target.id
    _event(session, conversation, f"Assigned to {target.display_name} by {by.display_name}")
    session.flush()
    return conversation


def _step_in(session: Session, conversation: Conversation, office: routing.Office) -> None:
    """An agent takes up a conversation the bot still had: it is escalated as
    ``agent_initiated`` (routing and its SLA clock in ``office`` hours); once only."""
    if conversation.escalated_at is None:
        escalate(
            session,
            conversation,
            priority=conversation.priority,
            reason="agent_initiated",
            office=office,
        )


def reply(
    session: Session,
    *,
    conversation_id: int,
    agent: User,
    text: str,
    office: routing.Office,
    private: bool = False,
) -> Message:
    """An agent's message to the customer (or a private note, never sent); stepping into
    a bot conversation starts its SLA clock in ``office`` hours."""
    _must_work_conversations(agent)
    text = text.strip()
    if not text:
        raise ValidationFailed("the message is empty")
    if len(text) > MAX_REPLY_CHARS:
        raise ValidationFailed(f"the message is longer than {MAX_REPLY_CHARS} characters")
    conversation = get_conversation(session, conversation_id)
    if conversation.status is ConversationStatus.resolved and not private:
        raise Conflict("the conversation is resolved; reopen it to reply")
    if not private and conversation.status in (ConversationStatus.waiting, ConversationStatus.bot):
        _step_in(session, conversation, office)
        conversation.status = ConversationStatus.assigned
        conversation.assigned_agent_id = conversation.assigned_agent_id or agent.id
    message = add_message(
        session,
        conversation=conversation,
        direction=Direction.outbound,
        sender=Sender.agent,
        text=text,
        author_user_id=agent.id,
        is_private_note=private,
    )
    if private:
        message.delivery_status = None
    else:
        conversation.agent_message_count += 1
        if conversation.first_agent_reply_at is None:
            conversation.first_agent_reply_at = message.created_at
            sla.record_first_response(conversation, message.created_at)
    session.flush()
    return message


def resolve(session: Session, *, conversation_id: int, agent: User) -> Conversation:
    """Done: back to the bot for the next message; the survey dispatch job asks for CSAT."""
    _must_work_conversations(agent)
    conversation = get_conversation(session, conversation_id)
    if conversation.status is ConversationStatus.resolved:
        return conversation
    now = utcnow()
    conversation.status = ConversationStatus.resolved
    conversation.resolved_at = now
    conversation.resolved_by = Sender.agent
    sla.record_resolution(conversation, now)
    _event(session, conversation, f"Resolved by {agent.display_name}")
    session.flush()
    pull_next(session, agent=agent, now=now)
    return conversation


def pull_next(session: Session, *, agent: User, now: dt.datetime | None = None) -> int | None:
    """Capacity freed: give ``agent`` the next waiting conversation (routing order) at once.
    Returns its id, or None (no capacity, nothing waiting, or someone else took it)."""
    now = now or utcnow()
    if routing.free_capacity(session, agent) <= 0:
        return None
    conversation_id = routing.next_for(session, agent)
    if conversation_id is None or not _take(
        session, conversation_id=conversation_id, agent=agent, now=now
    ):
        return None
    _event(session, get_conversation(session, conversation_id), f"Routed to {agent.display_name}")
    session.flush()
    return conversation_id


def reopen(session: Session, *, conversation_id: int, agent: User) -> Conversation:
    _must_work_conversations(agent)
    conversation = get_conversation(session, conversation_id)
    if conversation.status is not ConversationStatus.resolved:
        raise Conflict("the conversation is still open")
    conversation.status = ConversationStatus.assigned
    conversation.assigned_agent_id = agent.id
    conversation.resolved_at = None
    conversation.resolved_by = None
    _event(session, conversation, f"Reopened by {agent.display_name}")
    session.flush()
    return conversation


def relabel(
    session: Session, *, message_id: int, intent: str, agent: User, known: Collection[str]
) -> Message:
    """An agent corrects the intent of a customer message. The correction is kept next to
    the model's label (analytics compare them) and becomes training data for the next
    ``careloop nlu train``; ``known``: the intents the model has."""
    _must_work_conversations(agent)
    message = session.get(Message, message_id)
    if message is None:
        raise NotFound(f"message {message_id} not found")
    if message.direction is not Direction.inbound or message.sender is not Sender.customer:
        raise ValidationFailed("only customer messages have an intent to correct")
    intent = intent.strip()
    if intent not in known:
        raise ValidationFailed(f"unknown intent {intent!r}; use one of {', '.join(sorted(known))}")
    message.corrected_intent = None if intent == message.intent else intent
    message.corrected_by_id = agent.id if message.corrected_intent else None
    message.corrected_at = utcnow() if message.corrected_intent else None
    session.flush()
    return message


def corrections(session: Session) -> list[tuple[str, str]]:
    """(text, corrected intent) for every agent correction, oldest first."""
    rows = session.execute(
        select(Message.text, Message.corrected_intent)
        .where(Message.corrected_intent.is_not(None))
        .order_by(Message.id)
    )
    return [(text, intent) for text, intent in rows if intent is not None]


def notifications(
    session: Session, *, user: User, unread_only: bool = True, limit: int = 50
) -> list[Notification]:
    query = select(Notification).where(Notification.user_id == user.id)
    if unread_only:
        query = query.where(Notification.read_at.is_(None))
    return list(session.scalars(query.order_by(Notification.id.desc()).limit(limit)))


def mark_read(session: Session, *, user: User, ids: Collection[int] | None = None) -> int:
    """Mark the user's notifications read (all unread ones when ``ids`` is None)."""
    query = update(Notification).where(
        Notification.user_id == user.id, Notification.read_at.is_(None)
    )
    if ids is not None:
        query = query.where(Notification.id.in_(list(ids)))
    result = session.execute(
        query.values(read_at=utcnow()).execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0) or 0)


def metrics(conversation: Conversation) -> dict[str, Any]:
    """Time to first agent reply and to resolution (seconds), agent messages."""
    start = conversation.escalated_at
    first = conversation.first_agent_reply_at
    done = conversation.resolved_at
    return {
        "first_reply_seconds": int((first - start).total_seconds()) if start and first else None,
        "resolution_seconds": int((done - start).total_seconds()) if start and done else None,
        "agent_messages": conversation.agent_message_count,
    }


def _take(session: Session, *, conversation_id: int, agent: User, now: dt.datetime) -> bool:
    """Assign a waiting, unassigned conversation to ``agent`` in one conditional UPDATE;
    False when it was no longer free (someone else won)."""
    result = session.execute(
        update(Conversation)
        .where(
            Conversation.id == conversation_id,
            Conversation.status == ConversationStatus.waiting,
            Conversation.assigned_agent_id.is_(None),
        )
        .values(status=ConversationStatus.assigned, assigned_agent_id=agent.id, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    if getattr(result, "rowcount", 0) != 1:
        return False
    session.execute(
        update(User)
        .where(User.id == agent.id)
        .values(last_assigned_at=now)
        .execution_options(synchronize_session=False)
    )
    agent.last_assigned_at = now  # the round robin reads it from memory within a run
    return True


def _event(session: Session, conversation: Conversation, text: str) -> None:
    """A system event in the history: agents see it, the customer never does."""
    add_message(
        session,
        conversation=conversation,
        direction=Direction.outbound,
        sender=Sender.system,
        text=text,
        is_private_note=True,
    )


def _must_work_conversations(user: User) -> None:
    if user.role not in (Role.agent, Role.admin):
        raise ValidationFailed("only agents and admins work conversations")


def auto_assign(
    session: Session, *, online_within: dt.timedelta, now: dt.datetime | None = None
) -> list[tuple[int, int]]:
    """Give waiting, unassigned conversations (highest priority, then longest waiting) to
    online agents with free capacity, round robin (least recently assigned first).

    Online: the agent's inbox was open within ``online_within``. Capacity: the agent's
    ``max_concurrent`` minus conversations they hold. Returns (conversation, agent) pairs.
    """
    now = now or utcnow()
    agents = list(
        session.scalars(
            select(User).where(
                User.role == Role.agent,
                User.is_active.is_(True),
                User.last_seen_at >= now - online_within,
            )
        )
    )
    if not agents:
        return []
    held = routing.held_counts(session, [a.id for a in agents])
    free = {a.id: a.max_concurrent - held.get(a.id, 0) for a in agents}
    waiting = session.execute(
        select(Conversation.id, Conversation.team_id, Conversation.escalated_at)
        .where(
            Conversation.status == ConversationStatus.waiting,
            Conversation.assigned_agent_id.is_(None),
        )
        .order_by(Conversation.priority.desc(), Conversation.escalated_at.asc())
        .limit(max(0, sum(v for v in free.values() if v > 0)))
    ).all()
    oldest = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
    done: list[tuple[int, int]] = []
    escalated = {conversation_id: at for conversation_id, _, at in waiting}
    for conversation_id, team_id, _ in waiting:
        ready = [a for a in agents if free[a.id] > 0]
        if not ready:
            break
        # The conversation's team first; anyone else only when none of them can take it.
        ready = [a for a in ready if team_id is not None and a.team_id == team_id] or ready
        agent = min(ready, key=lambda a: (a.last_assigned_at or oldest, a.id))
        if _take(session, conversation_id=conversation_id, agent=agent, now=now):
            free[agent.id] -= 1  # (else an agent claimed it meanwhile)
            _event(
                session,
                get_conversation(session, conversation_id),
                f"Auto-assigned to {agent.display_name}",
            )
            done.append((conversation_id, agent.id))
    _notify_auto_assigned(session, agents, done, escalated, now)
    session.flush()
    return done


def _notify_auto_assigned(
    session: Session,
    agents: list[User],
    done: list[tuple[int, int]],
    escalated: dict[int, dt.datetime | None],
    now: dt.datetime,
) -> None:
    """Tell each agent what auto-assign gave them (one notice per round), how long the
    oldest had waited, and how full their capacity is now."""
    by_agent: dict[int, list[int]] = {}
    for conversation_id, agent_id in done:
        by_agent.setdefault(agent_id, []).append(conversation_id)
    if not by_agent:
        return
    held = routing.held_counts(session, list(by_agent))
    for agent in agents:
        ids = by_agent.get(agent.id)
        if not ids:
            continue
        times = [t for t in (escalated.get(i) for i in ids) if t is not None]
        oldest = ""
        if times:
            first = min(times)
            first = first if first.tzinfo else first.replace(tzinfo=dt.UTC)
            oldest = f"; the oldest has waited {_span(now - first)}"
        n = len(ids)
        session.add(
            Notification(
                user_id=agent.id,
                conversation_id=ids[0],
                kind="auto_assigned",
                text=(
                    f"Auto-assign gave you {n} conversation{'s' if n != 1 else ''}{oldest}. "
                    f"You now hold {held.get(agent.id, 0)} of {agent.max_concurrent}."
                )[:300],
                data={"conversation_ids": ids},
                created_at=now,
            )
        )


def _span(delta: dt.timedelta) -> str:
    minutes = max(0, int(delta.total_seconds() // 60))
    if minutes < 60:
        return f"{minutes} min"
    if minutes < 48 * 60:
        return f"{minutes // 60} h {minutes % 60} min"
    return f"{minutes // 1440} days"


def capacity(session: Session, agent: User) -> dict[str, int]:
    """How many conversations ``agent`` holds, and how many they may hold."""
    held = routing.held_counts(session, [agent.id]).get(agent.id, 0)
    return {"held": held, "limit": agent.max_concurrent}


def other_open(session: Session, customer_ids: Collection[int]) -> dict[int, list[int]]:
    """Customer → ids of their conversations open with the agents (waiting or assigned),
    so two of the same customer show as related."""
    found: dict[int, list[int]] = {}
    if not customer_ids:
        return found
    rows = session.execute(
        select(Conversation.customer_id, Conversation.id)
        .where(
            Conversation.customer_id.in_(list(customer_ids)),
            Conversation.status.in_(WITH_A_PERSON),
        )
        .order_by(Conversation.id)
    )
    for customer_id, conversation_id in rows:
        found.setdefault(int(customer_id), []).append(int(conversation_id))
    return found


def typical_wait(
    session: Session, *, now: dt.datetime | None = None, sample: int = 50
) -> dt.timedelta | None:
    """Median time from escalation to the first agent reply over recent conversations
    (the last ``sample`` answered within 7 days); None when there is no such history."""
    now = now or utcnow()
    rows = session.execute(
        select(Conversation.escalated_at, Conversation.first_agent_reply_at)
        .where(
            Conversation.first_agent_reply_at.is_not(None),
            Conversation.escalated_at.is_not(None),
            Conversation.first_agent_reply_at >= now - dt.timedelta(days=7),
        )
        .order_by(Conversation.first_agent_reply_at.desc())
        .limit(sample)
    ).all()
    waits = sorted((reply - escalated) for escalated, reply in rows if reply and escalated)
    if len(waits) < 3:
        return None
    return waits[len(waits) // 2]


def describe_wait(wait: dt.timedelta) -> str:
    minutes = max(1, round(wait.total_seconds() / 60))
    if minutes < 60:
        return f"{minutes} minute{'s' if minutes != 1 else ''}"
    hours = round(minutes / 60)
    return f"{hours} hour{'s' if hours != 1 else ''}"

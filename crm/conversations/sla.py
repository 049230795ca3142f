"""SLA targets: first response and resolution, in business time, per team.

When a conversation reaches the agents' queue it gets its targets from its team's policy
(or the default policy): ``first_response_due_at`` and ``resolution_due_at``, counted in the
team's business hours (weekends, closed days and holidays skipped, wall-clock hours kept
across DST changes) unless the policy counts around the clock. Urgent conversations
(priority at or above the policy's ``urgent_priority``) get the targets multiplied by
``urgent_factor``. Each target also has a ``warn`` time: "at risk" once ``at_risk_percent``
of it has gone by.

The SLA job (:func:`check`) moves open conversations to ``at_risk`` and ``breached`` and
notifies the assigned agent, or every active agent while nobody has it. The first agent
reply decides ``first_response_hit``, resolving decides ``resolution_hit``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import case, func, or_, select
from sqlalchemy.orm import Session

from careloop.errors import ValidationFailed
from crm.db import as_utc, utcnow
from crm.hours import BusinessHours, HoursError
from crm.models import (
    WITH_A_PERSON,
    Conversation,
    Notification,
    Role,
    SlaPolicy,
    SlaState,
    Team,
    User,
)

_MAX_DAYS = 370  # a target never needs more than a year of calendar to place


@dataclass(frozen=True)
class Calendar:
    """Business time: ``hours`` (None = around the clock) minus ``holidays`` (local dates)."""

    hours: BusinessHours | None
    holidays: frozenset[dt.date] = frozenset()

    @classmethod
    def build(cls, spec: str, timezone: str, holidays: list[str] | None = None) -> Calendar:
        try:
            days = frozenset(dt.date.fromisoformat(h) for h in holidays or [])
        except ValueError as exc:
            raise ValidationFailed(f"holidays: expected ISO dates (YYYY-MM-DD): {exc}") from None
        if not spec.strip():
            try:
                zone = ZoneInfo(timezone)
            except (ZoneInfoNotFoundError, ValueError):
                raise ValidationFailed(f"unknown time zone {timezone!r}") from None
            return cls(BusinessHours(zone, {d: (dt.time(0), dt.time.max) for d in range(7)}), days)
        try:
            return cls(BusinessHours.parse(spec, timezone), days)
        except HoursError as exc:
            raise ValidationFailed(f"business hours: {exc}") from None

    def _windows(self, start: dt.datetime) -> Iterator[tuple[dt.datetime, dt.datetime]]:
        """Open intervals (UTC) from ``start``'s local day on, made as they are needed (a
        target is usually placed within the first few days)."""
        if self.hours is None:
            yield start, start + dt.timedelta(days=_MAX_DAYS)
            return
        zone = self.hours.timezone
        local = start.astimezone(zone)
        for offset in range(_MAX_DAYS):
            day = local.date() + dt.timedelta(days=offset)
            window = self.hours.windows.get(day.weekday())
            if window is None or day in self.holidays:
                continue
            opens = dt.datetime.combine(day, window[0], tzinfo=zone).astimezone(dt.UTC)
            if window[1] == dt.time.max:  # open to midnight
                closes = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(0), tzinfo=zone)
            else:
                closes = dt.datetime.combine(day, window[1], tzinfo=zone)
            yield opens, closes.astimezone(dt.UTC)

    def add(self, start: dt.datetime, minutes: float) -> dt.datetime:
        """The moment ``minutes`` of business time after ``start``."""
        start = as_utc(start)
        left = dt.timedelta(minutes=minutes)
        for opens, closes in self._windows(start):
            if closes <= start:
                continue
            begin = max(opens, start)
            if begin + left <= closes:
                return begin + left
            left -= closes - begin
        raise ValidationFailed("business hours leave no open time within a year")

    def between(self, start: dt.datetime, end: dt.datetime) -> dt.timedelta:
        """Business time from ``start`` to ``end``."""
        start, end = as_utc(start), as_utc(end)
        total = dt.timedelta()
        if end <= start:
            return total
        for opens, closes in self._windows(start):
            if opens >= end:
                break
            begin, finish = max(opens, start), min(closes, end)
            if finish > begin:
                total += finish - begin
        return total


def calendar_for(policy: SlaPolicy, team: Team | None, default_hours: str, tz: str) -> Calendar:
    """The policy's clock: around the clock, or the team's hours (the default hours for
    conversations without a team)."""
    if not policy.business_hours_only:
        return Calendar(None)
    if team is not None:
        return Calendar.build(team.business_hours, team.timezone, team.holidays)
    return Calendar.build(default_hours, tz)


def policy_for(session: Session, team_id: int | None) -> SlaPolicy | None:
    """The team's policy, else the default one (no team)."""
    if team_id is not None:
        policy = session.scalars(select(SlaPolicy).where(SlaPolicy.team_id == team_id)).first()
        if policy is not None:
            return policy
    return session.scalars(
        select(SlaPolicy).where(SlaPolicy.team_id.is_(None)).order_by(SlaPolicy.id)
    ).first()


def start(
    session: Session,
    conversation: Conversation,
    *,
    now: dt.datetime,
    default_hours: str,
    timezone: str,
) -> None:
    """Set the conversation's targets as it reaches the queue (no policy: no targets)."""
    policy = policy_for(session, conversation.team_id)
    if policy is None:
        return
    team = session.get(Team, conversation.team_id) if conversation.team_id else None
    clock = calendar_for(policy, team, default_hours, timezone)
    factor = policy.urgent_factor if conversation.priority >= policy.urgent_priority else 1.0
    share = policy.at_risk_percent / 100
    first = policy.first_response_minutes * factor
    resolution = policy.resolution_minutes * factor
    if conversation.first_agent_reply_at is None:
        conversation.first_response_due_at = clock.add(now, first)
        conversation.first_response_warn_at = clock.add(now, first * share)
    conversation.resolution_due_at = clock.add(now, resolution)
    conversation.resolution_warn_at = clock.add(now, resolution * share)
    conversation.sla_state = SlaState.on_track.value
    conversation.first_response_hit = None
    conversation.resolution_hit = None


def record_first_response(conversation: Conversation, at: dt.datetime) -> None:
    if conversation.first_response_due_at is not None and conversation.first_response_hit is None:
        conversation.first_response_hit = as_utc(at) <= as_utc(conversation.first_response_due_at)
        if conversation.sla_state == SlaState.at_risk.value and conversation.first_response_hit:
            # The first response was in time; what is left is the resolution target.
            warn = conversation.resolution_warn_at
            late = warn is not None and as_utc(at) >= as_utc(warn)
            conversation.sla_state = SlaState.at_risk.value if late else SlaState.on_track.value


def record_resolution(conversation: Conversation, at: dt.datetime) -> None:
    if conversation.resolution_due_at is not None and conversation.resolution_hit is None:
        conversation.resolution_hit = as_utc(at) <= as_utc(conversation.resolution_due_at)


def next_due(conversation: Conversation) -> dt.datetime | None:
    """The target that matters now: first response until answered, then resolution."""
    if conversation.first_agent_reply_at is None and conversation.first_response_due_at:
        return conversation.first_response_due_at
    return conversation.resolution_due_at


def next_due_column() -> Any:
    """:func:`next_due` as an SQL expression (the inbox sorts by it)."""
    return case(
        (
            Conversation.first_agent_reply_at.is_(None),
            func.coalesce(Conversation.first_response_due_at, Conversation.resolution_due_at),
        ),
        else_=Conversation.resolution_due_at,
    )


def _passed(when: dt.datetime | None, now: dt.datetime) -> bool:
    return when is not None and now > as_utc(when)


def _state(conversation: Conversation, now: dt.datetime) -> str:
    pairs = []
    if conversation.first_agent_reply_at is None:
        pairs.append((conversation.first_response_warn_at, conversation.first_response_due_at))
    pairs.append((conversation.resolution_warn_at, conversation.resolution_due_at))
    state = SlaState.on_track.value
    for warn, due in pairs:
        if _passed(due, now):
            return SlaState.breached.value
        if warn is not None and now >= as_utc(warn):
            state = SlaState.at_risk.value
    return state


def check(session: Session, *, now: dt.datetime | None = None) -> dict[str, int]:
    """The SLA job: move open conversations whose warn or due time has passed to
    ``at_risk`` / ``breached``, notify, and mark a passed first-response target missed."""
    now = now or utcnow()
    rows = session.scalars(
        select(Conversation).where(
            Conversation.status.in_(WITH_A_PERSON),
            Conversation.sla_state.in_([SlaState.on_track.value, SlaState.at_risk.value]),
            or_(
                Conversation.resolution_warn_at <= now,
                (Conversation.first_response_warn_at <= now)
                & Conversation.first_agent_reply_at.is_(None),
            ),
        )
    ).all()
    changed = {SlaState.at_risk.value: 0, SlaState.breached.value: 0}
    for conversation in rows:
        state = _state(conversation, now)
        if state == conversation.sla_state or state == SlaState.on_track.value:
            continue
        conversation.sla_state = state
        unanswered = conversation.first_agent_reply_at is None
        if (
            state == SlaState.breached.value
            and unanswered
            and _passed(conversation.first_response_due_at, now)
        ):
            conversation.first_response_hit = False
        changed[state] += 1
        notify(session, conversation, state, now)
    session.flush()
    return changed


def notify(session: Session, conversation: Conversation, state: str, now: dt.datetime) -> None:
    """Tell the assigned agent, or every active agent while the conversation waits."""
    if conversation.assigned_agent_id is not None:
        recipients = [conversation.assigned_agent_id]
    else:
        team = conversation.team_id
        query = select(User.id).where(User.role == Role.agent, User.is_active.is_(True))
        members = session.scalars(query.where(User.team_id == team)).all() if team else []
        recipients = list(members) or list(session.scalars(query))
    due = next_due(conversation)
    what = "SLA breached" if state == SlaState.breached.value else "SLA at risk"
    when = f", due {as_utc(due):%Y-%m-%d %H:%M} UTC" if due else ""
    for user_id in recipients:
        session.add(
            Notification(
                user_id=user_id,
                conversation_id=conversation.id,
                kind=f"sla_{state}",
                text=f"{what}: conversation #{conversation.id}{when}",
                data={"state": state, "due": due.isoformat() if due else None},
                created_at=now,
            )
        )

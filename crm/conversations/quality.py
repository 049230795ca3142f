"""Bot quality joined to outcomes, and the conversation export behind every number.

One row per customer conversation (conversations we started to carry an NPS question or a
campaign message count only once the customer answers) with: channel, the customer's
segment / CLV / churn level when it started, intents in order, the sentiment trajectory,
escalation reason, team, agent, first-response and resolution times, SLA hit/miss, CSAT
and the campaign it answers. :func:`rows` streams them (constant memory, chunked reads);
the export writes them as CSV or JSON lines, and :func:`report` aggregates the same rows:

- containment rate: resolved conversations the bot closed without a human, over all
  resolved ones;
- handoff rate by (first) intent and handoffs by escalation reason;
- not-sure rate: customer messages the model was not sure about (``nlu_fallback``);
- the intent pairs agents corrected most (model → agent);
- CSAT % (4-5 of 5) for bot-only vs human-handled conversations;
- first-response and resolution time distributions (buckets) and SLA hit rates.

Filters: period (conversation start, UTC days), team, agent, segment at the start, plus
drill-down filters (intent, reason, escalated, bot-only, SLA missed, CSAT, buckets) that
every chart link carries.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, fields
from typing import Any

from sqlalchemy import exists, select
from sqlalchemy.orm import Session

from careloop.errors import ValidationFailed
from crm.db import as_utc
from crm.models import (
    Conversation,
    ConversationStatus,
    Direction,
    Message,
    Sender,
    SurveyKind,
    SurveyResponse,
    SurveyStatus,
    Team,
    User,
)

FALLBACK_INTENT = "nlu_fallback"  # what the NLU stores when it is not sure (nlp.base)
CHUNK = 500
# Upper bounds (seconds) of the time buckets; the last bucket is open-ended.
TIME_BUCKETS: tuple[tuple[str, float], ...] = (
    ("<5m", 300),
    ("5-15m", 900),
    ("15-60m", 3600),
    ("1-4h", 4 * 3600),
    ("4-24h", 24 * 3600),
    (">24h", float("inf")),
)


def time_bucket(seconds: float | None) -> str | None:
    if seconds is None:
        return None
    for name, upper in TIME_BUCKETS:
        if seconds < upper:
            return name
    return TIME_BUCKETS[-1][0]


@dataclass(frozen=True)
class Filters:
    start: dt.date
    end: dt.date  # included
    team_id: int | None = None
    agent_id: int | None = None
    segment: str | None = None
    # Drill-down (the conversations behind one number of the report):
    intent: str | None = None  # first intent
    reason: str | None = None  # escalation reason
    escalated: bool | None = None
    contained: bool | None = None  # resolved by the bot without a human
    not_sure: bool | None = None  # has a message the model was not sure about
    corrected: str | None = None  # "model>agent" intent pair
    sla_missed: bool | None = None
    csat: str | None = None  # "bot" / "human": answered CSAT of that kind of conversation
    first_response: str | None = None  # time bucket
    resolution: str | None = None  # time bucket

    def __post_init__(self) -> None:
        if self.end < self.start:
            raise ValidationFailed("end is before start")
        if (self.end - self.start).days > 3660:
            raise ValidationFailed("the period may span at most ten years")
        buckets = {name for name, _ in TIME_BUCKETS}
        for name in ("first_response", "resolution"):
            value = getattr(self, name)
            if value is not None and value not in buckets:
                raise ValidationFailed(f"{name}: one of {', '.join(sorted(buckets))}")
        if self.csat not in (None, "bot", "human"):
            raise ValidationFailed("csat: bot or human")
        if self.corrected is not None and ">" not in self.corrected:
            raise ValidationFailed("corrected: write it as model_intent>agent_intent")

    def query(self) -> dict[str, Any]:
        """The filters as query parameters (chart links)."""
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if value is not None:
                out[f.name] = value.isoformat() if isinstance(value, dt.date) else value
        return out


@dataclass
class Row:
    id: int
    channel: str
    started_at: str
    status: str
    customer_id: int
    segment: str | None
    clv: float | None
    churn_risk: str | None
    intents: list[str]
    corrected: list[str]  # "model>agent" pairs
    sentiments: list[float]
    customer_messages: int
    not_sure: int
    escalated: bool
    escalation_reason: str | None
    team: str | None
    agent: str | None
    resolved_by: str | None
    first_response_seconds: int | None
    resolution_seconds: int | None
    first_response_hit: bool | None
    resolution_hit: bool | None
    sla_state: str | None
    csat: int | None
    campaign_id: int | None

    @property
    def first_intent(self) -> str | None:
        return self.intents[0] if self.intents else None

    @property
    def contained(self) -> bool:
        return self.status == "resolved" and not self.escalated

    @property
    def sla_missed(self) -> bool:
        return self.first_response_hit is False or self.resolution_hit is False

    def as_dict(self) -> dict[str, Any]:
        data = {f.name: getattr(self, f.name) for f in fields(self)}
        data["first_intent"] = self.first_intent
        return data


def _base(filters: Filters) -> Any:
    start = dt.datetime.combine(filters.start, dt.time(), tzinfo=dt.UTC)
    end = dt.datetime.combine(filters.end + dt.timedelta(days=1), dt.time(), tzinfo=dt.UTC)
    from_customer = exists().where(
        Message.conversation_id == Conversation.id,
        Message.direction == Direction.inbound,
        Message.sender == Sender.customer,
    )
    query = select(Conversation).where(
        Conversation.created_at >= start, Conversation.created_at < end, from_customer
    )
    if filters.team_id is not None:
        query = query.where(Conversation.team_id == filters.team_id)
    if filters.agent_id is not None:
        query = query.where(Conversation.assigned_agent_id == filters.agent_id)
    if filters.segment is not None:
        query = query.where(Conversation.segment_at_start == filters.segment)
    if filters.reason is not None:
        query = query.where(Conversation.escalation_reason == filters.reason)
    if filters.escalated is not None:
        escalated = Conversation.escalated_at.is_not(None)
        query = query.where(escalated if filters.escalated else ~escalated)
    return query.order_by(Conversation.id)


def _seconds(start: dt.datetime | None, end: dt.datetime | None) -> int | None:
    if start is None or end is None:
        return None
    return max(0, int((as_utc(end) - as_utc(start)).total_seconds()))


def _matches(row: Row, f: Filters) -> bool:
    """The drill-down filters that need the messages or the survey."""
    if f.intent is not None and row.first_intent != f.intent:
        return False
    if f.contained is not None and row.contained != f.contained:
        return False
    if f.not_sure is not None and (row.not_sure > 0) != f.not_sure:
        return False
    if f.corrected is not None and f.corrected not in row.corrected:
        return False
    if f.sla_missed is not None and row.sla_missed != f.sla_missed:
        return False
    if f.csat is not None and (row.csat is None or (f.csat == "human") != row.escalated):
        return False
    if f.first_response is not None and time_bucket(row.first_response_seconds) != (
        f.first_response
    ):
        return False
    return f.resolution is None or time_bucket(row.resolution_seconds) == f.resolution


def rows(session: Session, filters: Filters) -> Iterator[Row]:
    """The conversations of ``filters``, oldest first, read in chunks."""
    teams: dict[int, str] = {i: n for i, n in session.execute(select(Team.id, Team.name))}
    agents: dict[int, str] = {i: n for i, n in session.execute(select(User.id, User.display_name))}
    after = 0
    while True:
        chunk = list(
            session.scalars(_base(filters).where(Conversation.id > after).limit(CHUNK)).all()
        )
        if not chunk:
            return
        after = chunk[-1].id
        ids = [c.id for c in chunk]
        messages: dict[int, list[tuple[str | None, str | None, float | None]]] = {}
        for conversation_id, intent, corrected, score in session.execute(
            select(
                Message.conversation_id,
                Message.intent,
                Message.corrected_intent,
                Message.sentiment_score,
            )
            .where(
                Message.conversation_id.in_(ids),
                Message.direction == Direction.inbound,
                Message.sender == Sender.customer,
            )
            .order_by(Message.conversation_id, Message.id)
        ):
            messages.setdefault(conversation_id, []).append((intent, corrected, score))
        csat: dict[int | None, int | None] = {
            conversation_id: score
            for conversation_id, score in session.execute(
                select(SurveyResponse.conversation_id, SurveyResponse.score).where(
                    SurveyResponse.conversation_id.in_(ids),
                    SurveyResponse.kind == SurveyKind.csat,
                    SurveyResponse.status == SurveyStatus.answered,
                )
            )
        }
        for c in chunk:
            said = messages.get(c.id, [])
            intents: list[str] = []
            for intent, corrected, _ in said:
                label = corrected or intent
                if label and label not in intents:
                    intents.append(label)
            row = Row(
                id=c.id,
                channel=c.channel.value,
                started_at=as_utc(c.created_at).isoformat(),
                status=c.status.value,
                customer_id=c.customer_id,
                segment=c.segment_at_start,
                clv=float(c.clv_at_start) if c.clv_at_start is not None else None,
                churn_risk=c.churn_risk_at_start,
                intents=intents,
                corrected=[f"{i}>{k}" for i, k, _ in said if k and i != k],
                sentiments=[round(s, 3) for _, _, s in said if s is not None],
                customer_messages=len(said),
                not_sure=sum(1 for i, k, _ in said if i == FALLBACK_INTENT and not k),
                escalated=c.escalated_at is not None,
                escalation_reason=c.escalation_reason,
                team=teams.get(c.team_id) if c.team_id else None,
                agent=agents.get(c.assigned_agent_id) if c.assigned_agent_id else None,
                resolved_by=c.resolved_by.value if c.resolved_by else None,
                first_response_seconds=_seconds(c.escalated_at, c.first_agent_reply_at),
                resolution_seconds=_seconds(c.escalated_at or c.created_at, c.resolved_at)
                if c.status is ConversationStatus.resolved
                else None,
                first_response_hit=c.first_response_hit,
                resolution_hit=c.resolution_hit,
                sla_state=c.sla_state,
                csat=csat.get(c.id),
                campaign_id=c.campaign_id,
            )
            if _matches(row, filters):
                yield row


def _rate(part: int, whole: int) -> float | None:
    return round(100 * part / whole, 1) if whole else None


def report(session: Session, filters: Filters) -> dict[str, Any]:
    """Bot quality and outcomes for the filtered conversations (see the module doc)."""
    total = resolved = contained = escalated = 0
    messages = not_sure = 0
    by_intent: Counter[str] = Counter()
    handoff_by_intent: Counter[str] = Counter()
    by_reason: Counter[str] = Counter()
    pairs: Counter[str] = Counter()
    csat: dict[str, list[int]] = {"bot": [], "human": []}
    first_response: Counter[str] = Counter()
    resolution: Counter[str] = Counter()
    sla = {"first_response": [0, 0], "resolution": [0, 0]}  # hit, decided
    for row in rows(session, filters):
        total += 1
        messages += row.customer_messages
        not_sure += row.not_sure
        if row.status == "resolved":
            resolved += 1
            contained += row.contained
        intent = row.first_intent or "(none)"
        by_intent[intent] += 1
        if row.escalated:
            escalated += 1
            handoff_by_intent[intent] += 1
            by_reason[row.escalation_reason or "(none)"] += 1
        pairs.update(row.corrected)
        if row.csat is not None:
            csat["human" if row.escalated else "bot"].append(row.csat)
        if (bucket := time_bucket(row.first_response_seconds)) is not None:
            first_response[bucket] += 1
        if (bucket := time_bucket(row.resolution_seconds)) is not None:
            resolution[bucket] += 1
        for name, hit in (
            ("first_response", row.first_response_hit),
            ("resolution", row.resolution_hit),
        ):
            if hit is not None:
                sla[name][0] += int(hit)
                sla[name][1] += 1
    return {
        "filters": filters.query(),
        "conversations": total,
        "resolved": resolved,
        "containment_rate": _rate(contained, resolved),
        "handoff_rate": _rate(escalated, total),
        "not_sure_rate": _rate(not_sure, messages),
        "handoff_by_intent": [
            {
                "intent": intent,
                "conversations": n,
                "handoffs": handoff_by_intent[intent],
                "rate": _rate(handoff_by_intent[intent], n),
            }
            for intent, n in by_intent.most_common()
        ],
        "handoff_by_reason": [{"reason": r, "handoffs": n} for r, n in by_reason.most_common()],
        "corrections": [
            {"pair": pair, "model": pair.split(">")[0], "agent": pair.split(">")[1], "count": n}
            for pair, n in pairs.most_common(10)
        ],
        "csat": {
            kind: {
                "answers": len(scores),
                "csat_pct": _rate(sum(1 for s in scores if s >= 4), len(scores)),
                "average": round(sum(scores) / len(scores), 2) if scores else None,
            }
            for kind, scores in csat.items()
        },
        "first_response_time": [
            {"bucket": name, "conversations": first_response[name]} for name, _ in TIME_BUCKETS
        ],
        "resolution_time": [
            {"bucket": name, "conversations": resolution[name]} for name, _ in TIME_BUCKETS
        ],
        "sla": {
            name: {"hit": hit, "decided": decided, "hit_rate": _rate(hit, decided)}
            for name, (hit, decided) in sla.items()
        },
    }


EXPORT_COLUMNS = [f.name for f in fields(Row)] + ["first_intent"]


def export_csv(session: Session, filters: Filters) -> Iterator[str]:
    """CSV text in pieces (a header, then one line per conversation); lists as JSON."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=EXPORT_COLUMNS)
    writer.writeheader()
    for row in rows(session, filters):
        data = row.as_dict()
        for key in ("intents", "corrected", "sentiments"):
            data[key] = json.dumps(data[key])
        writer.writerow(data)
        if buffer.tell() > 64_000:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


def export_jsonl(session: Session, filters: Filters) -> Iterator[str]:
    """One JSON object per line and conversation."""
    for row in rows(session, filters):
        yield json.dumps(row.as_dict()) + "\n"

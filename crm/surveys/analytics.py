"""Satisfaction analytics: CSAT, NPS and CES over a period, by agent and topic, response
rates, distributions, and how satisfaction relates to churn.

Definitions (also in the README):

* **CSAT %**: the share of CSAT answers scoring 4 or 5, in percent.
* **NPS**: % promoters (9-10) minus % detractors (0-6), from -100 to 100.
* **Response rate**: answered / asked, over the surveys asked (sent) in the period.
* **Churn by CSAT band**: customers grouped by their latest CSAT answer in the period
  (1-2, 3, 4-5). A customer *churned* when no order followed within ``churn_days`` of that
  answer; only answers at least ``churn_days`` old can show it ("observed").
"""

from __future__ import annotations

import datetime as dt
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from careloop.errors import ValidationFailed
from crm.db import utcnow
from crm.models import (
    SCALES,
    Customer,
    Order,
    SurveyKind,
    SurveyResponse,
    SurveyStatus,
    User,
)

BUCKETS = ("day", "week", "month")
CSAT_BANDS = (("1-2", 1, 2), ("3", 3, 3), ("4-5", 4, 5))
MAX_DAYS = 3660


@dataclass(frozen=True)
class Answer:
    kind: SurveyKind
    score: int
    answered_at: dt.datetime
    customer_id: int
    agent_id: int | None
    topic: str | None


def _pct(part: int, whole: int) -> float | None:
    return round(100.0 * part / whole, 1) if whole else None


def csat_pct(scores: Sequence[int]) -> float | None:
    return _pct(sum(1 for s in scores if s >= 4), len(scores))


def nps(scores: Sequence[int]) -> float | None:
    if not scores:
        return None
    promoters = sum(1 for s in scores if s >= 9)
    detractors = sum(1 for s in scores if s <= 6)
    return round(100.0 * (promoters - detractors) / len(scores), 1)


def _average(scores: Sequence[int]) -> float | None:
    return round(sum(scores) / len(scores), 2) if scores else None


def bucket_start(when: dt.datetime, bucket: str) -> dt.date:
    day = when.date()
    if bucket == "week":
        return day - dt.timedelta(days=day.weekday())
    if bucket == "month":
        return day.replace(day=1)
    return day


def _distribution(kind: SurveyKind, scores: Iterable[int]) -> dict[str, int]:
    counts = Counter(scores)
    low, high = SCALES[kind]
    return {str(n): counts.get(n, 0) for n in range(low, high + 1)}


def _summary(kind: SurveyKind, scores: list[int]) -> dict[str, Any]:
    out: dict[str, Any] = {
        "responses": len(scores),
        "average": _average(scores),
        "distribution": _distribution(kind, scores),
    }
    if kind is SurveyKind.csat:
        out["csat_pct"] = csat_pct(scores)
    elif kind is SurveyKind.nps:
        out["nps"] = nps(scores)
        out["promoters"] = sum(1 for s in scores if s >= 9)
        out["passives"] = sum(1 for s in scores if 7 <= s <= 8)
        out["detractors"] = sum(1 for s in scores if s <= 6)
    return out


def _grouped_csat(answers: list[Answer], key: str) -> dict[Any, list[int]]:
    groups: dict[Any, list[int]] = defaultdict(list)
    for a in answers:
        if a.kind is SurveyKind.csat:
            groups[getattr(a, key)].append(a.score)
    return groups


def satisfaction_report(
    session: Session,
    *,
    start: dt.date,
    end: dt.date,
    bucket: str = "week",
    churn_days: int = 90,
    now: dt.datetime | None = None,
) -> dict[str, Any]:
    """Everything the satisfaction page shows, for answers from ``start`` to ``end``
    (both days included, UTC)."""
    if bucket not in BUCKETS:
        raise ValidationFailed(f"bucket must be one of {', '.join(BUCKETS)}, not {bucket!r}")
    if end < start:
        raise ValidationFailed("end must not be before start")
    if (end - start).days > MAX_DAYS:
        raise ValidationFailed(f"a report covers at most {MAX_DAYS} days")
    now = now or utcnow()
    lo = dt.datetime.combine(start, dt.time(), tzinfo=dt.UTC)
    hi = dt.datetime.combine(end + dt.timedelta(days=1), dt.time(), tzinfo=dt.UTC)

    answers = [
        Answer(r.kind, r.score, r.answered_at, r.customer_id, r.agent_id, r.topic)
        for r in session.execute(
            select(
                SurveyResponse.kind,
                SurveyResponse.score,
                SurveyResponse.answered_at,
                SurveyResponse.customer_id,
                SurveyResponse.agent_id,
                SurveyResponse.topic,
            )
            .where(
                SurveyResponse.status == SurveyStatus.answered,
                SurveyResponse.score.is_not(None),
                SurveyResponse.answered_at >= lo,
                SurveyResponse.answered_at < hi,
            )
            .order_by(SurveyResponse.answered_at, SurveyResponse.id)
        )
    ]
    by_kind: dict[SurveyKind, list[int]] = {k: [] for k in SurveyKind}
    for a in answers:
        by_kind[a.kind].append(a.score)

    # Response rate over the surveys asked in the period.
    asked = session.execute(
        select(SurveyResponse.kind, SurveyResponse.status, func.count())
        .where(SurveyResponse.sent_at >= lo, SurveyResponse.sent_at < hi)
        .group_by(SurveyResponse.kind, SurveyResponse.status)
    ).all()
    rates: dict[str, dict[str, Any]] = {}
    for kind in SurveyKind:
        total = sum(n for k, _, n in asked if k is kind)
        done = sum(n for k, status, n in asked if k is kind and status is SurveyStatus.answered)
        rates[kind.value] = {"asked": total, "answered": done, "rate_pct": _pct(done, total)}

    # Over time.
    timeline: dict[dt.date, dict[SurveyKind, list[int]]] = defaultdict(
        lambda: {k: [] for k in SurveyKind}
    )
    for a in answers:
        timeline[bucket_start(a.answered_at, bucket)][a.kind].append(a.score)
    over_time = [
        {
            "bucket": day.isoformat(),
            "csat_responses": len(scores[SurveyKind.csat]),
            "csat_pct": csat_pct(scores[SurveyKind.csat]),
            "nps_responses": len(scores[SurveyKind.nps]),
            "nps": nps(scores[SurveyKind.nps]),
            "ces_average": _average(scores[SurveyKind.ces]),
        }
        for day, scores in sorted(timeline.items())
    ]

    # By agent and by topic (CSAT).
    by_agent_scores = _grouped_csat(answers, "agent_id")
    names = dict(
        session.execute(
            select(User.id, User.display_name).where(
                User.id.in_([i for i in by_agent_scores if i is not None])
            )
        ).all()
    )
    by_agent = sorted(
        (
            {
                "agent_id": agent_id,
                "agent": names.get(agent_id, "(deleted user)") if agent_id else "bot only",
                "responses": len(scores),
                "csat_pct": csat_pct(scores),
                "average": _average(scores),
            }
            for agent_id, scores in by_agent_scores.items()
        ),
        key=lambda row: (-int(row["responses"] or 0), str(row["agent"])),
    )
    by_topic = sorted(
        (
            {
                "topic": topic or "(none)",
                "responses": len(scores),
                "csat_pct": csat_pct(scores),
                "average": _average(scores),
            }
            for topic, scores in _grouped_csat(answers, "topic").items()
        ),
        key=lambda row: (-int(row["responses"] or 0), str(row["topic"])),
    )

    follow_ups = session.scalar(
        select(func.count()).where(
            SurveyResponse.follow_up_conversation_id.is_not(None),
            SurveyResponse.answered_at >= lo,
            SurveyResponse.answered_at < hi,
        )
    )
    return {
        "period": {"start": start.isoformat(), "end": end.isoformat(), "bucket": bucket},
        "csat": _summary(SurveyKind.csat, by_kind[SurveyKind.csat]),
        "nps": _summary(SurveyKind.nps, by_kind[SurveyKind.nps]),
        "ces": _summary(SurveyKind.ces, by_kind[SurveyKind.ces]),
        "response_rate": rates,
        "over_time": over_time,
        "by_agent": by_agent,
        "by_topic": by_topic,
        "churn_by_csat": churn_by_csat(session, answers, churn_days=churn_days, now=now),
        "churn_days": churn_days,
        "follow_ups": int(follow_ups or 0),
    }


def churn_by_csat(
    session: Session, answers: list[Answer], *, churn_days: int, now: dt.datetime
) -> list[dict[str, Any]]:
    """Churn rate (and mean churn probability, where scored) per band of latest CSAT."""
    latest: dict[int, Answer] = {}
    for a in answers:  # ordered by time: the last one wins
        if a.kind is SurveyKind.csat:
            latest[a.customer_id] = a
    window = dt.timedelta(days=churn_days)
    observable = {cid: a for cid, a in latest.items() if a.answered_at + window <= now}
    ordered_after: set[int] = set()
    ids = list(observable)
    for chunk in range(0, len(ids), 500):
        part = ids[chunk : chunk + 500]
        rows = session.execute(
            select(Order.customer_id, Order.ordered_at).where(Order.customer_id.in_(part))
        ).all()
        for customer_id, ordered_at in rows:
            answered = observable[customer_id].answered_at
            if answered < ordered_at <= answered + window:
                ordered_after.add(customer_id)
    probabilities: dict[int, float] = {}
    all_ids = list(latest)
    for chunk in range(0, len(all_ids), 500):
        part = all_ids[chunk : chunk + 500]
        for customer_id, probability in session.execute(
            select(Customer.id, Customer.churn_probability).where(
                Customer.id.in_(part), Customer.churn_probability.is_not(None)
            )
        ).all():
            if probability is not None:
                probabilities[customer_id] = probability
    out = []
    for band, low, high in CSAT_BANDS:
        members = [cid for cid, a in latest.items() if low <= a.score <= high]
        observed = [cid for cid in members if cid in observable]
        churned = [cid for cid in observed if cid not in ordered_after]
        scored = [probabilities[cid] for cid in members if cid in probabilities]
        out.append(
            {
                "band": band,
                "customers": len(members),
                "observed": len(observed),
                "churned": len(churned),
                "churn_rate_pct": _pct(len(churned), len(observed)),
                "avg_churn_probability": round(sum(scored) / len(scored), 3) if scored else None,
            }
        )
    return out

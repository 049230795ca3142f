"""Planning a campaign occurrence: audience → control group → guards → the outbox.

One occurrence (a one-off run, one firing of a recurring schedule, or a trigger sweep) is
planned in one transaction: every member gets exactly one ``campaign_deliveries`` row for
the occurrence (unique on campaign, customer and occurrence key), ``held_out`` for the
control group, ``skipped`` with a reason when a guard already says no, else ``pending`` for
the dispatcher. Planning the same occurrence again adds nobody twice.

Triggered campaigns plan per customer occurrence: ``event:<id>`` for a churn level that
became high, ``birthday:<year>``, ``last_order:<date>`` for N days after the last order and
``csat:<survey id>`` for a low CSAT answer; each is sent once per customer.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from operator import itemgetter
from typing import Any, cast

import numpy as np
from sqlalchemy import (
    BigInteger,
    Column,
    String,
    Table,
    and_,
    func,
    insert,
    literal,
    select,
    tuple_,
)
from sqlalchemy.orm import Session

from careloop.config import Settings
from careloop.errors import ValidationFailed
from crm.campaigns import audience, governance
from crm.campaigns.messages import draw, in_control, offer_code_for
from crm.db import staged_rows, utcnow
from crm.models import (
    Campaign,
    CampaignDelivery,
    CampaignRun,
    CampaignStatus,
    ChannelIdentity,
    ChurnRisk,
    Customer,
    CustomerEvent,
    DeliveryGroup,
    Order,
    OrderStatus,
    OutboxStatus,
    ScheduleKind,
    SurveyKind,
    SurveyResponse,
    SurveyStatus,
)

TRIGGERS = ("churn_high", "birthday", "days_after_last_order", "low_csat")


@dataclass
class PlanResult:
    run_id: int
    occurrence_key: str
    audience: int = 0
    treatment: int = 0
    control: int = 0
    skipped: dict[str, int] = field(default_factory=dict)
    already_planned: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "occurrence_key": self.occurrence_key,
            "audience": self.audience,
            "treatment": self.treatment,
            "control": self.control,
            "skipped": dict(self.skipped),
            "already_planned": self.already_planned,
        }


def _ids(session: Session, query: Any) -> np.ndarray:
    """Customer ids of ``query`` (one integer column), read straight from the DB-API cursor:
    integers need no result processing, and a million rows arrive in a fraction of the
    time SQLAlchemy's row objects take."""
    result = session.connection().execute(query)
    rows = result.cursor.fetchall() if result.cursor is not None else []
    result.close()
    return np.fromiter(map(itemgetter(0), rows), dtype=np.int64, count=len(rows))


def _customers_where(session: Session, ids: np.ndarray, condition: Any) -> np.ndarray:
    """The ``ids`` for which ``condition`` (on Customer) holds."""
    if len(ids) == 0:
        return ids
    matched = _ids(session, select(Customer.id).where(condition))
    return ids[np.isin(ids, matched)]


def plan_guards(
    session: Session, campaign: Campaign, ids: np.ndarray, settings: Settings, now: dt.datetime
) -> dict[str, np.ndarray]:
    """Customers a guard rules out already at planning time, by reason (first reason wins).
    The dispatcher checks every guard again just before sending."""
    reasons: dict[str, np.ndarray] = {}
    left = ids
    opted_out = _customers_where(session, left, Customer.opted_out_at.is_not(None))
    left = np.setdiff1d(left, opted_out, assume_unique=True)
    no_consent = _customers_where(session, left, Customer.marketing_consent.is_(False))
    left = np.setdiff1d(left, no_consent, assume_unique=True)
    reachable = _ids(
        session,
        select(ChannelIdentity.customer_id)
        .where(ChannelIdentity.channel == campaign.channel, ChannelIdentity.reachable.is_(True))
        .distinct(),
    )
    unreachable = left[~np.isin(left, reachable)]
    left = left[np.isin(left, reachable)]
    since = now - dt.timedelta(days=settings.campaign_frequency_days)
    capped = _ids(
        session,
        select(CampaignDelivery.customer_id)
        .where(CampaignDelivery.sent_at >= since)
        .group_by(CampaignDelivery.customer_id)
        .having(func.count() >= settings.campaign_frequency_cap),
    )
    steps: list[tuple[str, np.ndarray]] = [
        ("opted_out", opted_out),
        ("no_consent", no_consent),
        ("unreachable", unreachable),
    ]
    for name, members in governance.flagged(session, campaign.channel.value, settings, now).items():
        hit = left[np.isin(left, np.fromiter(members, dtype=np.int64, count=len(members)))]
        left = np.setdiff1d(left, hit, assume_unique=True)
        steps.append((name, hit))
    steps.append(("frequency_cap", left[np.isin(left, capped)]))
    for name, values in steps:
        if len(values):
            reasons[name] = values
    return reasons


def _get_run(session: Session, campaign: Campaign, key: str, now: dt.datetime) -> CampaignRun:
    run = session.scalars(
        select(CampaignRun).where(
            CampaignRun.campaign_id == campaign.id, CampaignRun.occurrence_key == key
        )
    ).one_or_none()
    if run is None:
        run = CampaignRun(campaign_id=campaign.id, occurrence_key=key, started_at=now)
        session.add(run)
        session.flush()
    return run


def plan_run(
    session: Session,
    campaign: Campaign,
    settings: Settings,
    *,
    occurrence_key: str,
    now: dt.datetime | None = None,
    customers: list[tuple[int, str]] | None = None,
) -> PlanResult:
    """Plan one occurrence. ``customers`` (triggered campaigns): candidate (customer,
    occurrence key) pairs; the audience rules still apply to them. A customer with several
    new occurrences gets the first now and the next one at the next sweep."""
    now = now or utcnow()
    run = _get_run(session, campaign, occurrence_key, now)
    result = PlanResult(run.id, occurrence_key)
    if customers is None and run.finished_at is not None:
        result.already_planned = True
        result.audience, result.treatment = run.audience_size, run.treatment_count
        result.control = run.control_count
        return result
    query = audience.audience_query(session, campaign.audience, now=now)
    if customers is None:
        ids = np.unique(_ids(session, query))
        keys: dict[int, str] | None = None
        planned = _ids(
            session,
            select(CampaignDelivery.customer_id).where(
                CampaignDelivery.campaign_id == campaign.id,
                CampaignDelivery.occurrence_key == occurrence_key,
            ),
        )
        ids = np.setdiff1d(ids, planned, assume_unique=True)
    else:
        keys = _unplanned(session, campaign, customers)
        candidates = np.array(sorted(keys), dtype=np.int64)
        matching = _ids(session, query.where(Customer.id.in_(candidates.tolist())))
        ids = candidates[np.isin(candidates, matching)]
    control = in_control(campaign.id, campaign.control_percent, ids)
    treatment_ids = ids[~control]
    status = np.full(len(ids), OutboxStatus.pending.value, dtype=object)
    reason = np.full(len(ids), None, dtype=object)
    status[control] = OutboxStatus.held_out.value
    for name, values in plan_guards(session, campaign, treatment_ids, settings, now).items():
        hit = np.isin(ids, values) & ~control
        status[hit] = OutboxStatus.skipped.value
        reason[hit] = name
        result.skipped[name] = int(hit.sum())
    if campaign.max_messages is not None:
        sendable = np.flatnonzero(status == OutboxStatus.pending.value)
        if len(sendable) > campaign.max_messages:
            # Who gets the capped places is random but fixed (another draw than the control's).
            order = np.argsort(draw(campaign.id + 0x5EED, ids[sendable]), kind="stable")
            over = sendable[order[campaign.max_messages :]]
            status[over] = OutboxStatus.skipped.value
            reason[over] = "campaign_cap"
            result.skipped["campaign_cap"] = len(over)
    _write_outbox(
        session,
        campaign,
        run.id,
        ids,
        control,
        status,
        reason,
        keys or occurrence_key,
        settings,
        now,
    )
    result.audience = len(ids)
    result.control = int(control.sum())
    result.treatment = len(ids) - result.control
    run.audience_size += result.audience
    run.treatment_count += result.treatment
    run.control_count += result.control
    run.skipped_count += sum(result.skipped.values())
    if customers is None:
        run.finished_at = now
    return result


def _write_outbox(
    session: Session,
    campaign: Campaign,
    run_id: int,
    ids: np.ndarray,
    control: np.ndarray,
    status: np.ndarray,
    reason: np.ndarray,
    occurrence: str | dict[int, str],
    settings: Settings,
    now: dt.datetime,
) -> None:
    """The occurrence's outbox rows: the per-customer values staged in a temporary table
    (``staged_rows``), then one ``INSERT ... SELECT`` adds the rest. Offer codes go only to
    the rows that may be sent: held-out and skipped customers never see one."""
    customer_ids = ids.tolist()
    sendable = np.flatnonzero(status == OutboxStatus.pending.value).tolist()
    codes: list[str | None] = [None] * len(customer_ids)
    if campaign.unique_codes:
        secret = settings.secret_key.get_secret_value()
        for i in sendable:
            codes[i] = offer_code_for(campaign, customer_ids[i], secret)
    elif campaign.offer_code:
        for i in sendable:
            codes[i] = campaign.offer_code
    table = cast(Table, CampaignDelivery.__table__)
    groups = np.where(control, DeliveryGroup.control.value, DeliveryGroup.treatment.value)
    columns: dict[str, list[Any]] = {
        "customer_id": customer_ids,
        "group": groups.tolist(),
        "status": status.tolist(),
        "skip_reason": reason.tolist(),
        "offer_code": codes,
    }
    constants: dict[str, Any] = {
        "campaign_id": campaign.id,
        "run_id": run_id,
        "created_at": now,
        "updated_at": now,
    }
    if isinstance(occurrence, dict):  # triggered: each customer's own occurrence
        columns["occurrence_key"] = [occurrence[c] for c in customer_ids]
    else:
        constants["occurrence_key"] = occurrence
    staged = [Column(name, BigInteger if name == "customer_id" else String(64)) for name in columns]
    rows = zip(*columns.values(), strict=True)
    connection = session.connection()
    with staged_rows(connection, "careloop_planned_deliveries", staged, rows) as temp:
        values = [*temp.c, *(literal(v, table.c[k].type).label(k) for k, v in constants.items())]
        connection.execute(
            insert(table).from_select(
                [*columns, *constants], select(*values).order_by(temp.c.customer_id)
            )
        )


def _unplanned(
    session: Session, campaign: Campaign, pairs: list[tuple[int, str]]
) -> dict[int, str]:
    """The first candidate occurrence per customer that is not already in the outbox."""
    if not pairs:
        return {}
    done: set[tuple[int, str]] = set()
    for start in range(0, len(pairs), 500):
        chunk = pairs[start : start + 500]
        done.update(
            (int(c), str(k))
            for c, k in session.execute(
                select(CampaignDelivery.customer_id, CampaignDelivery.occurrence_key).where(
                    CampaignDelivery.campaign_id == campaign.id,
                    tuple_(CampaignDelivery.customer_id, CampaignDelivery.occurrence_key).in_(
                        chunk
                    ),
                )
            )
        )
    first: dict[int, str] = {}
    for c, k in pairs:
        if (c, k) not in done:
            first.setdefault(c, k)
    return first


# -- triggers -----------------------------------------------------------------------------


def trigger_candidates(
    session: Session, campaign: Campaign, settings: Settings, now: dt.datetime
) -> list[tuple[int, str]]:
    """(customer, occurrence key) for everything that fired the campaign's trigger since it
    was activated (looking back at most ``campaign_trigger_lookback_days``)."""
    spec = campaign.schedule or {}
    kind = spec.get("trigger")
    since = now - dt.timedelta(days=settings.campaign_trigger_lookback_days)
    if campaign.activated_at is not None:
        since = max(since, campaign.activated_at)
    found: list[tuple[int, str]] = []
    if kind == "churn_high":
        events = session.execute(
            select(CustomerEvent.id, CustomerEvent.customer_id, CustomerEvent.data)
            .where(
                CustomerEvent.kind == "churn_risk_changed",
                CustomerEvent.created_at >= since,
                CustomerEvent.created_at <= now,
            )
            .order_by(CustomerEvent.id)
        )
        for event_id, customer_id, data in events:
            if (data or {}).get("to") == "high":
                found.append((int(customer_id), f"event:{event_id}"))
    elif kind == "birthday":
        rules = {"field": "birthday", "op": "eq", "value": "today"}
        query = audience.audience_query(session, rules, now=now)
        for customer_id in session.scalars(query):
            found.append((int(customer_id), f"birthday:{now.year}"))
    elif kind == "days_after_last_order":
        days = int(spec.get("days", 30))
        day_start = dt.datetime.combine(
            (now - dt.timedelta(days=days)).date(), dt.time(), tzinfo=dt.UTC
        )
        last = (
            select(Order.customer_id, func.max(Order.ordered_at).label("last_at"))
            .where(Order.status != OrderStatus.cancelled, Order.ordered_at <= now)
            .group_by(Order.customer_id)
            .subquery()
        )
        rows = session.execute(
            select(last.c.customer_id).where(
                and_(last.c.last_at >= day_start, last.c.last_at < day_start + dt.timedelta(1))
            )
        )
        for (customer_id,) in rows:
            found.append((int(customer_id), f"last_order:{day_start.date().isoformat()}"))
    elif kind == "low_csat":
        threshold = int(spec.get("max_score", settings.campaign_low_csat))
        rows = session.execute(
            select(SurveyResponse.id, SurveyResponse.customer_id)
            .where(
                SurveyResponse.kind == SurveyKind.csat,
                SurveyResponse.status == SurveyStatus.answered,
                SurveyResponse.score <= threshold,
                SurveyResponse.answered_at >= since,
                SurveyResponse.answered_at <= now,
            )
            .order_by(SurveyResponse.id)
        )
        for survey_id, customer_id in rows:
            found.append((int(customer_id), f"csat:{survey_id}"))
    return found


def existing_candidates(
    session: Session, campaign: Campaign, settings: Settings, now: dt.datetime
) -> list[tuple[int, str]]:
    """(customer, occurrence key) for customers who *already* match the trigger when it is
    activated ("also include customers who already match"): churn risk high now, a birthday
    today, a last order at least N days ago (within the look-back), a low CSAT answer within
    the look-back. The keys are those the sweep would use, so nobody gets the same
    occurrence twice; a churn risk that is high already gets ``existing:churn_high``."""
    spec = campaign.schedule or {}
    kind = spec.get("trigger")
    lookback = dt.timedelta(days=settings.campaign_trigger_lookback_days)
    found: list[tuple[int, str]] = []
    if kind == "churn_high":
        for customer_id in session.scalars(
            select(Customer.id).where(Customer.churn_risk == ChurnRisk.high).order_by(Customer.id)
        ):
            found.append((int(customer_id), "existing:churn_high"))
    elif kind == "birthday":
        rules = {"field": "birthday", "op": "eq", "value": "today"}
        for customer_id in session.scalars(audience.audience_query(session, rules, now=now)):
            found.append((int(customer_id), f"birthday:{now.year}"))
    elif kind == "days_after_last_order":
        days = int(spec.get("days", 30))
        latest = now - dt.timedelta(days=days)
        last = (
            select(Order.customer_id, func.max(Order.ordered_at).label("last_at"))
            .where(Order.status != OrderStatus.cancelled, Order.ordered_at <= now)
            .group_by(Order.customer_id)
            .subquery()
        )
        rows = session.execute(
            select(last.c.customer_id, last.c.last_at)
            .where(last.c.last_at <= latest, last.c.last_at > latest - lookback)
            .order_by(last.c.customer_id)
        )
        for customer_id, last_at in rows:
            found.append((int(customer_id), f"last_order:{last_at.date().isoformat()}"))
    elif kind == "low_csat":
        threshold = int(spec.get("max_score", settings.campaign_low_csat))
        rows = session.execute(
            select(SurveyResponse.id, SurveyResponse.customer_id)
            .where(
                SurveyResponse.kind == SurveyKind.csat,
                SurveyResponse.status == SurveyStatus.answered,
                SurveyResponse.score <= threshold,
                SurveyResponse.answered_at >= now - lookback,
                SurveyResponse.answered_at <= now,
            )
            .order_by(SurveyResponse.id)
        )
        for survey_id, customer_id in rows:
            found.append((int(customer_id), f"csat:{survey_id}"))
    return found


def run_triggers(
    session: Session, settings: Settings, *, now: dt.datetime | None = None
) -> list[PlanResult]:
    """Plan what every active triggered campaign's trigger fired (the scheduler's sweep)."""
    now = now or utcnow()
    results = []
    campaigns = session.scalars(
        select(Campaign)
        .where(
            Campaign.schedule_kind == ScheduleKind.triggered,
            Campaign.status == CampaignStatus.active,
        )
        .order_by(Campaign.id)
    ).all()
    for campaign in campaigns:
        candidates = trigger_candidates(session, campaign, settings, now)
        if not candidates:
            continue
        key = f"trigger:{now.date().isoformat()}"
        result = plan_run(
            session, campaign, settings, occurrence_key=key, now=now, customers=candidates
        )
        if result.audience:
            results.append(result)
    return results


def validate_schedule(kind: ScheduleKind, schedule: dict[str, Any]) -> dict[str, Any]:
    """The schedule, checked: ``{"at": ISO time}`` for once, ``{"cron": "m h dom mon dow",
    "timezone": "Area/City"}`` for recurring, ``{"trigger": name, ...}`` for triggered."""
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    from apscheduler.triggers.cron import CronTrigger

    schedule = dict(schedule or {})
    if kind is ScheduleKind.once:
        at = schedule.get("at")
        if at in (None, ""):
            return {}  # run when activated
        try:
            when = dt.datetime.fromisoformat(str(at))
        except ValueError:
            raise ValidationFailed(
                "schedule.at: expected an ISO time, e.g. 2026-12-01T09:00+01:00"
            ) from None
        zone = schedule.get("timezone")
        if zone in (None, ""):
            if when.tzinfo is None:
                raise ValidationFailed(
                    "schedule.at: give a time zone offset (e.g. +01:00 or Z) or schedule.timezone"
                )
            return {"at": when.isoformat()}
        try:
            tzinfo = ZoneInfo(str(zone))
        except (ZoneInfoNotFoundError, ValueError):
            raise ValidationFailed(f"schedule.timezone: unknown time zone {zone!r}") from None
        # A wall-clock time in the shop's time zone (what a date and time field gives).
        if when.tzinfo is None:
            when = when.replace(tzinfo=tzinfo)
        return {"at": when.isoformat(), "timezone": str(zone)}
    if kind is ScheduleKind.recurring:
        tz = str(schedule.get("timezone") or "UTC")
        try:
            ZoneInfo(tz)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValidationFailed(f"schedule.timezone: unknown time zone {tz!r}") from None
        cron = str(schedule.get("cron") or "")
        try:
            CronTrigger.from_crontab(cron, timezone=tz)
        except ValueError as exc:
            raise ValidationFailed(f"schedule.cron: {exc or 'expected m h dom mon dow'}") from None
        return {"cron": cron, "timezone": tz}
    trigger = schedule.get("trigger")
    if trigger not in TRIGGERS:
        raise ValidationFailed(f"schedule.trigger: one of {', '.join(TRIGGERS)}")
    out: dict[str, Any] = {"trigger": trigger}
    if trigger == "days_after_last_order":
        days = schedule.get("days")
        if not isinstance(days, int) or isinstance(days, bool) or not 1 <= days <= 3650:
            raise ValidationFailed("schedule.days: a whole number of days, 1 to 3650")
        out["days"] = days
    if trigger == "low_csat" and "max_score" in schedule:
        score = schedule["max_score"]
        if not isinstance(score, int) or not 1 <= score <= 4:
            raise ValidationFailed("schedule.max_score: 1 to 4")
        out["max_score"] = score
    return out

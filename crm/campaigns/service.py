"""Campaign lifecycle: create, edit, activate, pause, finish, run, with an audit trail.

States: ``draft → scheduled`` (one-off or recurring) or ``draft → active`` (triggered);
``scheduled/active → paused → scheduled/active``; anything → ``finished``. A one-off
campaign finishes by itself once its run is planned (its messages still go out). Only
drafts and paused campaigns can be edited, so a running campaign's report always
describes one set of rules. Every change is written to ``campaign_audit``.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from careloop.config import Settings
from careloop.errors import Conflict, NotFound, ValidationFailed
from crm.campaigns import audience, dispatch, messages, runs
from crm.db import utcnow
from crm.models import (
    Campaign,
    CampaignAudit,
    CampaignStatus,
    Channel,
    Customer,
    ScheduleKind,
    User,
)

EDITABLE = (CampaignStatus.draft, CampaignStatus.paused)
FIELDS = (
    "name",
    "goal",
    "channel",
    "audience",
    "template",
    "offer_code",
    "unique_codes",
    "offer_value",
    "message_cost",
    "attribution",
    "attribution_days",
    "max_messages",
    "schedule_kind",
    "schedule",
    "control_percent",
)
ATTRIBUTIONS = ("any_order", "offer_code")


def get_campaign(session: Session, campaign_id: int) -> Campaign:
    campaign = session.get(Campaign, campaign_id)
    if campaign is None:
        raise NotFound(f"campaign {campaign_id} not found")
    return campaign


def list_campaigns(session: Session) -> list[Campaign]:
    return list(session.scalars(select(Campaign).order_by(Campaign.id.desc())))


def _json(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if hasattr(value, "value"):
        return value.value
    return value


def clean(values: dict[str, Any], current: Campaign | None = None) -> dict[str, Any]:
    """Checked and normalised campaign fields (a partial update when ``current`` is set)."""
    unknown = set(values) - set(FIELDS)
    if unknown:
        raise ValidationFailed(f"unknown field(s): {', '.join(sorted(unknown))}")
    merged = {f: getattr(current, f) for f in FIELDS} if current is not None else {}
    merged.update(values)
    out: dict[str, Any] = {}
    name = str(merged.get("name") or "").strip()
    if not name or len(name) > 200:
        raise ValidationFailed("name: 1 to 200 characters")
    out["name"] = name
    out["goal"] = (str(merged["goal"]).strip() or None) if merged.get("goal") else None
    try:
        out["channel"] = Channel(_json(merged.get("channel")))
    except ValueError:
        raise ValidationFailed(f"channel: one of {', '.join(c.value for c in Channel)}") from None
    out["audience"] = audience.validate(merged.get("audience"))
    out["template"] = messages.validate_template(merged.get("template") or "")
    code = merged.get("offer_code")
    code = str(code).strip() if code else None
    if code and (len(code) > 40 or not code.replace("-", "").replace("_", "").isalnum()):
        raise ValidationFailed("offer_code: up to 40 letters, digits, - and _")
    out["offer_code"] = code
    out["unique_codes"] = bool(merged.get("unique_codes", False))
    for key, limit in (("offer_value", Decimal("1000000")), ("message_cost", Decimal("1000"))):
        try:
            amount = Decimal(str(merged.get(key) if merged.get(key) is not None else 0))
        except InvalidOperation:
            raise ValidationFailed(f"{key}: expected an amount, e.g. 5.00") from None
        if not amount.is_finite() or amount < 0 or amount > limit:
            raise ValidationFailed(f"{key}: between 0 and {limit}")
        out[key] = amount
    attribution = _json(merged.get("attribution") or "any_order")
    if attribution not in ATTRIBUTIONS:
        raise ValidationFailed(f"attribution: one of {', '.join(ATTRIBUTIONS)}")
    if attribution == "offer_code" and not (code or out["unique_codes"]):
        raise ValidationFailed("attribution by offer code needs an offer code")
    out["attribution"] = attribution
    out["attribution_days"] = _int(merged.get("attribution_days", 14), "attribution_days", 1, 365)
    cap = merged.get("max_messages")
    out["max_messages"] = None if cap in (None, "") else _int(cap, "max_messages", 1, 100_000_000)
    out["control_percent"] = _int(merged.get("control_percent", 10), "control_percent", 0, 90)
    try:
        kind = ScheduleKind(_json(merged.get("schedule_kind") or "once"))
    except ValueError:
        raise ValidationFailed("schedule_kind: once, recurring or triggered") from None
    out["schedule_kind"] = kind
    out["schedule"] = runs.validate_schedule(kind, merged.get("schedule") or {})
    return out


def _int(value: Any, name: str, low: int, high: int) -> int:
    if isinstance(value, bool):
        raise ValidationFailed(f"{name}: a whole number, {low} to {high}")
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise ValidationFailed(f"{name}: a whole number, {low} to {high}") from None
    if number != value and str(number) != str(value).strip():
        raise ValidationFailed(f"{name}: a whole number, {low} to {high}")
    if not low <= number <= high:
        raise ValidationFailed(f"{name}: a whole number, {low} to {high}")
    return number


def audit(
    session: Session,
    campaign: Campaign,
    user: User | None,
    action: str,
    changes: dict[str, Any] | None = None,
) -> None:
    session.add(
        CampaignAudit(
            campaign_id=campaign.id,
            user_id=user.id if user else None,
            action=action,
            changes=changes or {},
            at=utcnow(),
        )
    )


def create_campaign(session: Session, values: dict[str, Any], user: User | None) -> Campaign:
    fields = clean(values)
    campaign = Campaign(
        **fields, status=CampaignStatus.draft, created_by_id=user.id if user else None
    )
    session.add(campaign)
    session.flush()
    audit(session, campaign, user, "created", {k: [None, _json(v)] for k, v in fields.items()})
    return campaign


def update_campaign(
    session: Session, campaign: Campaign, values: dict[str, Any], user: User | None
) -> Campaign:
    if campaign.status not in EDITABLE:
        raise Conflict(f"a {campaign.status.value} campaign can't be edited; pause it first")
    fields = clean(values, campaign)
    changes = {
        k: [_json(getattr(campaign, k)), _json(v)]
        for k, v in fields.items()
        if _json(getattr(campaign, k)) != _json(v)
    }
    for key, value in fields.items():
        setattr(campaign, key, value)
    if changes:
        campaign.updated_at = utcnow()
        audit(session, campaign, user, "updated", changes)
    return campaign


def _set_status(
    session: Session, campaign: Campaign, status: CampaignStatus, user: User | None, action: str
) -> None:
    old = campaign.status
    campaign.status = status
    campaign.updated_at = utcnow()
    audit(session, campaign, user, action, {"status": [old.value, status.value]})


def activate(
    session: Session,
    campaign: Campaign,
    user: User | None,
    settings: Settings,
    *,
    include_existing: bool = False,
    now: dt.datetime | None = None,
) -> runs.PlanResult | None:
    """Start (or resume) the campaign. A one-off campaign without a time is planned now.
    ``include_existing`` (triggered campaigns): also plan the customers who already match
    the trigger, not only those whose trigger fires from now on."""
    if campaign.status not in EDITABLE:
        raise Conflict(f"a {campaign.status.value} campaign can't be activated")
    clean({}, campaign)  # rules, template and schedule must still be valid
    now = now or utcnow()
    triggered = campaign.schedule_kind is ScheduleKind.triggered
    target = CampaignStatus.active if triggered else CampaignStatus.scheduled
    if campaign.activated_at is None:
        campaign.activated_at = now
    _set_status(session, campaign, target, user, "activated")
    if campaign.schedule_kind is ScheduleKind.once and not campaign.schedule.get("at"):
        return run_once(session, campaign, settings, now=now)
    if triggered and include_existing:
        candidates = runs.existing_candidates(session, campaign, settings, now)
        result = runs.plan_run(
            session, campaign, settings, occurrence_key="existing", now=now, customers=candidates
        )
        audit(
            session,
            campaign,
            user,
            "included_existing",
            {"already_matching": [None, len({c for c, _ in candidates})], **_counts(result)},
        )
        return result
    return None


def pause(session: Session, campaign: Campaign, user: User | None) -> None:
    if campaign.status not in (CampaignStatus.scheduled, CampaignStatus.active):
        raise Conflict(f"a {campaign.status.value} campaign can't be paused")
    _set_status(session, campaign, CampaignStatus.paused, user, "paused")


def finish(session: Session, campaign: Campaign, user: User | None) -> int:
    """Stop for good; messages not yet handed to the channel are skipped. Returns how many."""
    if campaign.status is CampaignStatus.finished:
        raise Conflict("the campaign is already finished")
    campaign.finished_at = utcnow()
    _set_status(session, campaign, CampaignStatus.finished, user, "finished")
    return dispatch.cancel_pending(session, campaign.id)


def occurrence_key(campaign: Campaign, fire_time: dt.datetime | None) -> str:
    if campaign.schedule_kind is ScheduleKind.once:
        return "once"
    assert fire_time is not None
    return f"at:{fire_time.astimezone(dt.UTC).strftime('%Y-%m-%dT%H:%MZ')}"


def run_once(
    session: Session,
    campaign: Campaign,
    settings: Settings,
    *,
    fire_time: dt.datetime | None = None,
    now: dt.datetime | None = None,
) -> runs.PlanResult:
    """Plan the occurrence for ``fire_time`` (the scheduler's job, or "run now")."""
    now = now or utcnow()
    if campaign.status not in (CampaignStatus.scheduled, CampaignStatus.active):
        raise Conflict(f"a {campaign.status.value} campaign doesn't run")
    if campaign.schedule_kind is ScheduleKind.triggered:
        raise Conflict("a triggered campaign runs on its events, not on a schedule")
    key = occurrence_key(campaign, fire_time or now)
    result = runs.plan_run(session, campaign, settings, occurrence_key=key, now=now)
    if not result.already_planned:
        audit(session, campaign, None, "run", {"occurrence": [None, key], **_counts(result)})
    if campaign.schedule_kind is ScheduleKind.once:
        campaign.finished_at = now
        _set_status(session, campaign, CampaignStatus.finished, None, "finished")
    return result


def _counts(result: runs.PlanResult) -> dict[str, Any]:
    return {
        "audience": [None, result.audience],
        "treatment": [None, result.treatment],
        "control": [None, result.control],
    }


def preview_message(
    session: Session, campaign_values: dict[str, Any], customer_id: int | None, secret: str
) -> dict[str, Any]:
    """The message as one real customer would get it (the first audience member when no
    customer is given)."""
    template = messages.validate_template(campaign_values.get("template") or "")
    rules = audience.validate(campaign_values.get("audience"))
    if customer_id is None:
        customer_id = session.scalar(
            audience.audience_query(session, rules).order_by(Customer.id).limit(1)
        )
        if customer_id is None:
            raise ValidationFailed("the audience is empty: no customer to preview with")
    customer = session.get(Customer, customer_id)
    if customer is None:
        raise NotFound(f"customer {customer_id} not found")
    probe = Campaign(
        id=campaign_values.get("id") or 0,
        name=str(campaign_values.get("name") or "Preview"),
        offer_code=campaign_values.get("offer_code"),
        unique_codes=bool(campaign_values.get("unique_codes")),
    )
    code = messages.offer_code_for(probe, customer.id, secret)
    text = messages.render(template, messages.context(customer, probe, code))
    return {
        "customer_id": customer.id,
        "customer": customer.first_name or f"#{customer.id}",
        "text": text,
    }


def audit_trail(session: Session, campaign_id: int) -> list[dict[str, Any]]:
    rows = session.execute(
        select(CampaignAudit, User.display_name)
        .outerjoin(User, User.id == CampaignAudit.user_id)
        .where(CampaignAudit.campaign_id == campaign_id)
        .order_by(CampaignAudit.id)
    ).all()
    return [
        {
            "at": entry.at.isoformat(),
            "user": name or "system",
            "action": entry.action,
            "changes": entry.changes,
        }
        for entry, name in rows
    ]


def as_dict(campaign: Campaign) -> dict[str, Any]:
    return {
        "id": campaign.id,
        "status": campaign.status.value,
        **{f: _json(getattr(campaign, f)) for f in FIELDS},
        "activated_at": campaign.activated_at.isoformat() if campaign.activated_at else None,
        "finished_at": campaign.finished_at.isoformat() if campaign.finished_at else None,
        "created_at": campaign.created_at.isoformat() if campaign.created_at else None,
    }

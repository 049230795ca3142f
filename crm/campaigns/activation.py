"""What activating a campaign will do, shown before it is done.

The preview plans nothing: it runs the same audience query, control-group draw and guards
as planning (:mod:`crm.campaigns.runs`) and counts. For a one-off or recurring campaign it
is the audience of a run now; for a triggered campaign it is the customers who *already*
match the trigger, who are included only when the marketer asks for it (only events after
activation count otherwise). Warnings say what would make the report meaningless (a control
group too small to measure uplift) or the delivery slow (web-chat offers wait for the
customer to open the chat; Telegram without a token never sends).
"""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
from sqlalchemy.orm import Session

from careloop.config import Settings
from crm.campaigns import audience, runs
from crm.campaigns.messages import in_control
from crm.db import utcnow
from crm.models import Campaign, Channel, Customer, ScheduleKind

# Fewer members than this in the control (or treatment) group and the uplift interval says
# nothing: one conversion more or less moves the rate by 10 points or more.
MIN_GROUP = 10

SKIP_LABELS = {
    "opted_out": "opted out of marketing",
    "no_consent": "no marketing consent",
    "unreachable": "not reachable on the channel",
    "do_not_contact": "on the do-not-contact list",
    "open_escalation": "an open conversation with an agent",
    "recent_low_csat": "a recent low CSAT score",
    "recent_detractor": "a recent detractor NPS score",
    "frequency_cap": "frequency cap reached",
    "campaign_cap": "over the campaign's message limit",
}

TRIGGER_LABELS = {
    "churn_high": "churn risk is high now",
    "birthday": "birthday today",
    "days_after_last_order": "last order at least {days} days ago (within the look-back)",
    "low_csat": "a low CSAT answer within the look-back",
}


def channel_configured(channel: Channel, settings: Settings) -> bool:
    """Whether messages on ``channel`` can leave: the web chat always, Telegram with a token."""
    return channel is not Channel.telegram or settings.telegram_enabled


def _triggered_ids(
    session: Session, campaign: Campaign, settings: Settings, now: dt.datetime
) -> np.ndarray:
    """Customers who already match the trigger and the audience rules."""
    candidates = sorted({c for c, _ in runs.existing_candidates(session, campaign, settings, now)})
    if not candidates:
        return np.array([], dtype=np.int64)
    query = audience.audience_query(session, campaign.audience, now=now)
    ids = np.array(candidates, dtype=np.int64)
    matching = runs._ids(session, query.where(Customer.id.in_(candidates)))
    return ids[np.isin(ids, matching)]


def _when(campaign: Campaign, settings: Settings, now: dt.datetime) -> dict[str, Any]:
    spec = campaign.schedule or {}
    if campaign.schedule_kind is ScheduleKind.triggered:
        return {"kind": "triggered", "text": "when the trigger fires, from activation on"}
    if campaign.schedule_kind is ScheduleKind.recurring:
        from apscheduler.triggers.cron import CronTrigger

        zone = spec.get("timezone") or "UTC"
        fire = CronTrigger.from_crontab(spec["cron"], timezone=zone).get_next_fire_time(None, now)
        local = fire.strftime("%Y-%m-%d %H:%M") if fire else "never"
        return {
            "kind": "recurring",
            "next_run": fire.isoformat() if fire else None,
            "text": f"on the schedule {spec['cron']} ({zone}); next run {local} {zone}",
        }
    at = spec.get("at")
    if not at:
        return {"kind": "now", "text": "now, as soon as you confirm"}
    when = dt.datetime.fromisoformat(at)
    zone = spec.get("timezone") or settings.business_timezone
    local = when.astimezone(ZoneInfo(zone)).strftime("%Y-%m-%d %H:%M")
    past = when <= now
    return {
        "kind": "at",
        "at": when.isoformat(),
        "past": past,
        "text": f"at {local} ({zone})" + (", which has passed: it runs at once" if past else ""),
    }


def preview(
    session: Session,
    campaign: Campaign,
    settings: Settings,
    *,
    include_existing: bool = False,
    now: dt.datetime | None = None,
) -> dict[str, Any]:
    """Audience size, control group, who would be skipped and why, what would be sent,
    when, and warnings; nothing is written."""
    now = now or utcnow()
    triggered = campaign.schedule_kind is ScheduleKind.triggered
    matching_rules = audience.preview(session, campaign.audience, sample=0, now=now)["size"]
    already_matching = 0
    if triggered:
        existing = _triggered_ids(session, campaign, settings, now)
        already_matching = len(existing)
        ids = existing if include_existing else np.array([], dtype=np.int64)
    else:
        ids = np.unique(
            runs._ids(session, audience.audience_query(session, campaign.audience, now=now))
        )
    control = in_control(campaign.id, campaign.control_percent, ids)
    treatment = ids[~control]
    skipped = {
        name: len(values)
        for name, values in runs.plan_guards(session, campaign, treatment, settings, now).items()
    }
    sendable = len(treatment) - sum(skipped.values())
    if campaign.max_messages is not None and sendable > campaign.max_messages:
        skipped["campaign_cap"] = sendable - campaign.max_messages
        sendable = campaign.max_messages
    n_control = int(control.sum())
    result: dict[str, Any] = {
        "campaign_id": campaign.id,
        "schedule_kind": campaign.schedule_kind.value,
        "channel": campaign.channel.value,
        "matching_rules": int(matching_rules),
        "already_matching": already_matching,
        "include_existing": include_existing and triggered,
        "audience": len(ids),
        "control": n_control,
        "treatment": len(treatment),
        "skipped": skipped,
        "skipped_labels": {name: SKIP_LABELS.get(name, name) for name in skipped},
        "will_send": sendable,
        "when": _when(campaign, settings, now),
        "empty_reason": None,
        "warnings": [],
    }
    result["empty_reason"] = _empty_reason(campaign, result)
    result["warnings"] = _warnings(campaign, settings, result)
    return result


def _empty_reason(campaign: Campaign, p: dict[str, Any]) -> str | None:
    if p["schedule_kind"] == "triggered":
        trigger = str((campaign.schedule or {}).get("trigger"))
        label = TRIGGER_LABELS.get(trigger, trigger).format(
            days=(campaign.schedule or {}).get("days", 30)
        )
        if p["include_existing"] and p["audience"]:
            return None
        base = (
            "A triggered campaign counts only customers whose trigger fires after activation, "
            "so its audience starts at 0."
        )
        if p["already_matching"]:
            return (
                f"{base} {p['already_matching']} customer(s) match already ({label}): tick "
                '"also include customers who already match" to include them.'
            )
        if p["matching_rules"] == 0:
            return f"{base} No customer matches the audience rules either."
        return f"{base} No customer matches the trigger now ({label})."
    if p["matching_rules"] == 0:
        return "No customer matches the audience rules: widen them and preview again."
    if p["will_send"] == 0:
        if p["treatment"] == 0:
            return "Every member falls into the control group: lower the control group %."
        return "Every member of the treatment group would be skipped (see the reasons)."
    return None


def _warnings(campaign: Campaign, settings: Settings, p: dict[str, Any]) -> list[str]:
    out: list[str] = []
    one_off = p["schedule_kind"] == "once"
    if campaign.control_percent == 0:
        out.append("No control group: the report can't measure uplift.")
    elif one_off and p["audience"] and (p["control"] < MIN_GROUP or p["treatment"] < MIN_GROUP):
        out.append(
            f"The control group would hold {p['control']} of {p['audience']} customers: too "
            f"few to measure uplift (at least {MIN_GROUP} in each group). Widen the audience "
            "or change the control group %."
        )
    if campaign.channel is Channel.web:
        out.append(
            "Web-chat offers are delivered when the customer next opens the chat; until then "
            "the report shows them as waiting for the customer."
        )
    if not channel_configured(campaign.channel, settings):
        out.append(
            "Telegram is not configured (CARELOOP_TELEGRAM_TOKEN): the messages would wait "
            "in the outbox."
        )
    return out

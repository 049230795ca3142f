"""The campaign report: who was in it, what happened to the messages, and the uplift.

Every member entered the campaign when their outbox row was planned (``created_at``). A
member *converts* with an order (not cancelled) in the attribution window that follows,
``attribution_days`` long: any order (``attribution = "any_order"``) or only one carrying
the member's offer code (``"offer_code"``). Treatment and control are compared as
assigned (intention to treat): treated members who were skipped by a guard still count,
because the control group holds the same kinds of customers.

Uplift is the difference of the conversion rates with a Wald 95 % interval; relative uplift
is the rate ratio minus one with the Katz log interval. Incremental revenue is the
difference in revenue per member times the treatment size; costs are the delivered
messages times ``message_cost`` plus the redemptions of the offer code in the treatment
group times ``offer_value``; ROI is (incremental revenue - costs) / costs.
"""

from __future__ import annotations

import csv
import io
import math
from decimal import Decimal
from typing import Any

from sqlalchemy import and_, case, func, literal, select
from sqlalchemy.orm import Session

from crm.models import (
    Campaign,
    CampaignDelivery,
    Channel,
    Conversation,
    DeliveryGroup,
    DeliveryStatus,
    Message,
    Order,
    OrderStatus,
    OutboxStatus,
    ScheduleKind,
)
from crm.scoring.history import epoch_seconds

Z95 = 1.959963984540054


def _rate(x: int, n: int) -> float | None:
    return x / n if n else None


def uplift(x_t: int, n_t: int, x_c: int, n_c: int) -> dict[str, Any]:
    """Absolute and relative uplift of treatment over control, with 95 % intervals."""
    out: dict[str, Any] = {
        "absolute": None,
        "absolute_ci95": None,
        "relative": None,
        "relative_ci95": None,
    }
    if not n_t or not n_c:
        return out
    p_t, p_c = x_t / n_t, x_c / n_c
    diff = p_t - p_c
    se = math.sqrt(p_t * (1 - p_t) / n_t + p_c * (1 - p_c) / n_c)
    out["absolute"] = diff
    out["absolute_ci95"] = [diff - Z95 * se, diff + Z95 * se]
    if x_t and x_c:
        ratio = p_t / p_c
        se_log = math.sqrt(1 / x_t - 1 / n_t + 1 / x_c - 1 / n_c)
        out["relative"] = ratio - 1
        out["relative_ci95"] = [
            math.exp(math.log(ratio) - Z95 * se_log) - 1,
            math.exp(math.log(ratio) + Z95 * se_log) - 1,
        ]
    return out


# Fewer members than this in a group and the uplift interval says nothing.
MIN_GROUP = 10


def uplift_note(n_t: int, n_c: int, x_t: int, x_c: int) -> str | None:
    """Why the uplift can't be measured yet ("not enough data"), or None when it can."""
    if n_t + n_c == 0:
        return "not enough data: nobody has entered the campaign yet"
    if n_c < MIN_GROUP or n_t < MIN_GROUP:
        return (
            f"not enough data: {n_c} in the control group and {n_t} in the treatment group "
            f"(at least {MIN_GROUP} in each are needed)"
        )
    if x_t + x_c == 0:
        return "not enough data: no conversions yet in either group"
    return None


def empty_reason(campaign: Campaign) -> str:
    """Why nobody has entered the campaign, in words."""
    status = campaign.status.value
    if status == "draft":
        return "Not activated yet: activate it to plan its audience."
    if campaign.schedule_kind is ScheduleKind.triggered:
        since = (
            campaign.activated_at.strftime("%Y-%m-%d %H:%M UTC") if campaign.activated_at else ""
        )
        return (
            "A triggered campaign counts only customers whose trigger fires after activation "
            f'({since}); none has fired yet. Pause it and activate it again with "also '
            'include customers who already match" to include the others.'
        )
    if campaign.schedule_kind is ScheduleKind.recurring and status != "finished":
        return "Waiting for its first run on the schedule."
    if campaign.schedule_kind is ScheduleKind.once and status in ("scheduled", "paused"):
        at = (campaign.schedule or {}).get("at")
        return f"Planned for {at}." if at else "Not run yet."
    return "No customer matched the audience rules when it ran."


def campaign_report(session: Session, campaign: Campaign) -> dict[str, Any]:
    d = CampaignDelivery
    window = int(campaign.attribution_days) * 86_400
    entered = epoch_seconds(d.created_at)
    ordered = epoch_seconds(Order.ordered_at)
    code = func.coalesce(d.offer_code, literal(campaign.offer_code))
    qualifies = and_(
        Order.customer_id == d.customer_id,
        Order.status != OrderStatus.cancelled,
        ordered >= entered,
        ordered < entered + window,
    )
    if campaign.attribution == "offer_code":
        qualifies = and_(qualifies, Order.offer_code == code)
    per_member = (
        select(
            d.id.label("id"),
            d.group.label("grp"),
            func.count(Order.id).label("orders"),
            func.coalesce(func.sum(Order.total_amount), 0).label("revenue"),
            func.coalesce(func.sum(case((Order.offer_code == code, 1), else_=0)), 0).label(
                "redeemed"
            ),
        )
        .select_from(d)
        .outerjoin(Order, qualifies)
        .where(d.campaign_id == campaign.id)
        .group_by(d.id, d.group)
        .subquery()
    )
    groups: dict[str, dict[str, Any]] = {
        g.value: {"members": 0, "converted": 0, "revenue": Decimal(0), "redeemed": 0}
        for g in DeliveryGroup
    }
    for grp, members, converted, revenue, redeemed in session.execute(
        select(
            per_member.c.grp,
            func.count(),
            func.sum(case((per_member.c.orders > 0, 1), else_=0)),
            func.sum(per_member.c.revenue),
            func.sum(case((per_member.c.redeemed > 0, 1), else_=0)),
        ).group_by(per_member.c.grp)
    ):
        groups[str(grp)] = {
            "members": int(members),
            "converted": int(converted or 0),
            "revenue": Decimal(str(revenue or 0)).quantize(Decimal("0.01")),
            "redeemed": int(redeemed or 0),
        }

    statuses = dict.fromkeys([s.value for s in OutboxStatus], 0)
    skipped: dict[str, int] = {}
    for status, reason, n in session.execute(
        select(d.status, d.skip_reason, func.count())
        .where(d.campaign_id == campaign.id, d.group == DeliveryGroup.treatment)
        .group_by(d.status, d.skip_reason)
    ):
        statuses[str(status)] += int(n)
        if reason:
            skipped[str(reason)] = skipped.get(str(reason), 0) + int(n)
    channel: dict[str, int] = {}
    for channel_status, n in session.execute(
        select(Message.delivery_status, func.count())
        .join(d, d.message_id == Message.id)
        .where(d.campaign_id == campaign.id)
        .group_by(Message.delivery_status)
    ):
        channel[str(channel_status)] = int(n)
    delivered = channel.get(DeliveryStatus.sent.value, 0) + channel.get(
        DeliveryStatus.delivered.value, 0
    )

    # Reply-to-offer: conversations that answer this campaign, and how many of them went to
    # the agents (complaints and other escalations the campaign caused).
    replies = {"conversations": 0, "escalated": 0, "complaints": 0}
    for reason, n in session.execute(
        select(Conversation.escalation_reason, func.count())
        .where(Conversation.campaign_id == campaign.id)
        .group_by(Conversation.escalation_reason)
    ):
        replies["conversations"] += int(n)
        if reason is not None:
            replies["escalated"] += int(n)
            if reason in COMPLAINT_REASONS:
                replies["complaints"] += int(n)

    t, c = groups[DeliveryGroup.treatment.value], groups[DeliveryGroup.control.value]
    n_t, n_c = t["members"], c["members"]
    rpm_t = (t["revenue"] / n_t) if n_t else Decimal(0)
    rpm_c = (c["revenue"] / n_c) if n_c else Decimal(0)
    incremental_revenue = ((rpm_t - rpm_c) * n_t).quantize(Decimal("0.01")) if n_c else None
    costs = (
        delivered * Decimal(campaign.message_cost) + t["redeemed"] * Decimal(campaign.offer_value)
    ).quantize(Decimal("0.01"))
    roi = (
        float((incremental_revenue - costs) / costs)
        if incremental_revenue is not None and costs > 0
        else None
    )
    lift = uplift(t["converted"], n_t, c["converted"], n_c)
    pending = channel.get(DeliveryStatus.pending.value, 0) + channel.get(
        DeliveryStatus.sending.value, 0
    )
    return {
        "campaign": {"id": campaign.id, "name": campaign.name, "status": campaign.status.value},
        "attribution": {"mode": campaign.attribution, "days": campaign.attribution_days},
        "audience": n_t + n_c,
        "treatment": n_t,
        "control": n_c,
        "outbox": statuses,
        "skipped": dict(sorted(skipped.items())),
        "channel": channel,
        "delivered": delivered,
        # Web-chat offers are delivered when the customer next opens the chat.
        "waiting_for_customer": pending if campaign.channel is Channel.web else 0,
        "empty_reason": empty_reason(campaign) if n_t + n_c == 0 else None,
        "uplift_note": uplift_note(n_t, n_c, t["converted"], c["converted"]),
        "conversions": {
            "treatment": t["converted"],
            "control": c["converted"],
            "treatment_rate": _rate(t["converted"], n_t),
            "control_rate": _rate(c["converted"], n_c),
        },
        "uplift": lift,
        "incremental_conversions": lift["absolute"] * n_t if lift["absolute"] is not None else None,
        "revenue": {"treatment": str(t["revenue"]), "control": str(c["revenue"])},
        "incremental_revenue": str(incremental_revenue)
        if incremental_revenue is not None
        else None,
        "redemptions": t["redeemed"],
        "replies": replies,
        "costs": str(costs),
        "roi": roi,
        "funnel": [
            {"stage": "audience", "count": n_t + n_c},
            {"stage": "treatment", "count": n_t},
            {"stage": "handed to channel", "count": statuses[OutboxStatus.queued.value]},
            {"stage": "delivered", "count": delivered},
            {"stage": "converted", "count": t["converted"]},
        ],
    }


# Escalation reasons that mean the customer was unhappy (crm cannot see bot.policy's enum).
COMPLAINT_REASONS = frozenset(
    {"complaint", "negative_sentiment", "repeated_negative", "at_risk_customer"}
)


def report_csv(report: dict[str, Any]) -> str:
    """The report flattened to ``metric,value`` rows."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["metric", "value"])

    def walk(prefix: str, value: Any) -> None:
        if isinstance(value, dict):
            for key, inner in value.items():
                walk(f"{prefix}.{key}" if prefix else str(key), inner)
        elif isinstance(value, list) and value and isinstance(value[0], dict):
            for item in value:
                walk(f"{prefix}.{item.get('stage', '')}", item.get("count"))
        elif isinstance(value, list):
            writer.writerow([prefix, ";".join("" if v is None else f"{v}" for v in value)])
        else:
            writer.writerow([prefix, "" if value is None else value])

    walk("", report)
    return out.getvalue()

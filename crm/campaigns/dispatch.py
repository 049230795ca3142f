"""The dispatcher: due campaign outbox rows → guards → a message in the channel's outbox.

Each batch is one transaction: a row is either still ``pending`` or it is ``queued`` with
exactly one outbound message (``message_id``), or ``skipped`` with its reason, so a crash
at any point loses nothing and duplicates nothing. The channel's sender then delivers the
message; campaign messages are marked *at most once* there (a request that may have left
before a crash is never repeated; see :mod:`crm.conversations.outbox`). The message carries
the unique outbox key ``campaign-delivery:<id>``: two dispatchers at once (two scheduler
leaders for a moment) cannot both hand a row over; the second one's insert fails and its
whole batch is rolled back (the scheduler also runs one dispatch at a time, so this is the
last line of defence, and it costs nothing per row).

Guards, checked here at send time (planning already skipped who was ruled out then):
consent and opt-out, reachability on the campaign's channel, contact-pressure governance
(do-not-contact entries, an open escalation, a recent low CSAT or detractor NPS; see
:mod:`crm.campaigns.governance`), the global frequency cap
(``campaign_frequency_cap`` messages per ``campaign_frequency_days``, across campaigns)
and quiet hours in the customer's time zone, which defer the row (never drop it).
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import Session

from careloop.config import Settings
from crm.campaigns import governance, messages
from crm.conversations import service as conversations
from crm.db import utcnow
from crm.models import (
    Campaign,
    CampaignDelivery,
    CampaignStatus,
    Channel,
    ChannelIdentity,
    Customer,
    DeliveryGroup,
    DeliveryStatus,
    Direction,
    Message,
    OutboxStatus,
    Sender,
)

SENDING_STATUSES = (CampaignStatus.scheduled, CampaignStatus.active, CampaignStatus.finished)


@dataclass
class DispatchResult:
    queued: int = 0
    deferred: int = 0
    skipped: Counter[str] = field(default_factory=Counter)

    def as_dict(self) -> dict[str, Any]:
        return {"queued": self.queued, "deferred": self.deferred, "skipped": dict(self.skipped)}


def parse_quiet_hours(spec: str) -> tuple[dt.time, dt.time] | None:
    """``"21:00-09:00"`` → (start, end); an empty spec means no quiet hours."""
    if not spec:
        return None
    start, end = spec.split("-")
    return dt.time.fromisoformat(start), dt.time.fromisoformat(end)


def quiet_until(
    now: dt.datetime, timezone: str, quiet: tuple[dt.time, dt.time] | None
) -> dt.datetime | None:
    """When the quiet hours around ``now`` end in ``timezone`` (UTC), or None if it is not
    quiet there now. Unknown time zones count as UTC."""
    if quiet is None or quiet[0] == quiet[1]:
        return None
    try:
        zone = ZoneInfo(timezone or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        zone = ZoneInfo("UTC")
    local = now.astimezone(zone)
    start, end = quiet
    t = local.time().replace(tzinfo=None)
    wraps = start > end  # e.g. 21:00-09:00
    inside = (t >= start or t < end) if wraps else (start <= t < end)
    if not inside:
        return None
    end_day = local.date() + dt.timedelta(days=1) if wraps and t >= start else local.date()
    wake = dt.datetime.combine(end_day, end, tzinfo=zone)
    return wake.astimezone(dt.UTC)


def channel_budget(session: Session, channel: Channel, settings: Settings) -> int:
    """How many campaign messages may be handed to ``channel`` now: Telegram gets about
    ``campaign_backlog_seconds`` of its send rate, so support replies never queue behind a
    whole campaign; the web chat has no send limit."""
    if channel is not Channel.telegram:
        return settings.campaign_dispatch_batch
    backlog = (
        session.scalar(
            select(func.count(CampaignDelivery.id))
            .join(Message, Message.id == CampaignDelivery.message_id)
            .where(
                CampaignDelivery.status == OutboxStatus.queued,
                Message.channel == Channel.telegram,
                Message.delivery_status.in_((DeliveryStatus.pending, DeliveryStatus.sending)),
            )
        )
        or 0
    )
    limit = max(10, int(settings.telegram_rate_per_second * settings.campaign_backlog_seconds))
    return max(0, min(settings.campaign_dispatch_batch, limit - backlog))


def dispatch(
    session: Session, settings: Settings, *, now: dt.datetime | None = None
) -> DispatchResult:
    """Hand one batch of due treatment rows per channel to the channels' outboxes."""
    now = now or utcnow()
    result = DispatchResult()
    for channel in Channel:
        budget = channel_budget(session, channel, settings)
        if budget:
            _dispatch_channel(session, settings, channel, budget, now, result)
    return result


def _dispatch_channel(
    session: Session,
    settings: Settings,
    channel: Channel,
    budget: int,
    now: dt.datetime,
    result: DispatchResult,
) -> None:
    rows = session.execute(
        select(CampaignDelivery, Campaign)
        .join(Campaign, Campaign.id == CampaignDelivery.campaign_id)
        .where(
            CampaignDelivery.status == OutboxStatus.pending,
            CampaignDelivery.group == DeliveryGroup.treatment,
            or_(
                CampaignDelivery.next_attempt_at.is_(None), CampaignDelivery.next_attempt_at <= now
            ),
            Campaign.channel == channel,
            Campaign.status.in_(SENDING_STATUSES),
        )
        .order_by(CampaignDelivery.id)
        .limit(budget)
    ).all()
    if not rows:
        return
    customer_ids = {d.customer_id for d, _ in rows}
    customers = {
        c.id: c for c in session.scalars(select(Customer).where(Customer.id.in_(customer_ids)))
    }
    identities: dict[int, ChannelIdentity] = {}
    for identity in session.scalars(
        select(ChannelIdentity)
        .where(
            ChannelIdentity.customer_id.in_(customer_ids),
            ChannelIdentity.channel == channel,
            ChannelIdentity.reachable.is_(True),
        )
        .order_by(ChannelIdentity.id.desc())
    ):
        identities.setdefault(identity.customer_id, identity)  # the newest reachable one
    since = now - dt.timedelta(days=settings.campaign_frequency_days)
    recent: Counter[int] = Counter(
        {
            int(c): int(n)
            for c, n in session.execute(
                select(CampaignDelivery.customer_id, func.count())
                .where(
                    CampaignDelivery.customer_id.in_(customer_ids),
                    CampaignDelivery.sent_at >= since,
                )
                .group_by(CampaignDelivery.customer_id)
            )
        }
    )
    quiet = parse_quiet_hours(settings.campaign_quiet_hours)
    flagged = governance.flagged(session, channel.value, settings, now, among=customer_ids)
    for delivery, campaign in rows:
        customer = customers[delivery.customer_id]
        reason = None
        if customer.opted_out_at is not None:
            reason = "opted_out"
        elif not customer.marketing_consent:
            reason = "no_consent"
        elif delivery.customer_id not in identities:
            reason = "unreachable"
        elif governed := governance.first_reason(flagged, delivery.customer_id):
            reason = governed
        elif recent[delivery.customer_id] >= settings.campaign_frequency_cap:
            reason = "frequency_cap"
        if reason is not None:
            _skip(session, delivery, reason, now)
            result.skipped[reason] += 1
            continue
        wake = quiet_until(now, customer.timezone, quiet)
        if wake is not None:
            delivery.next_attempt_at = wake
            result.deferred += 1
            continue
        try:
            text = messages.render(
                campaign.template, messages.context(customer, campaign, delivery.offer_code)
            )
        except Exception:  # validated on save; a failure here is recorded, never retried
            _skip(session, delivery, "template_error", now)
            result.skipped["template_error"] += 1
            continue
        _hand_over(session, delivery, campaign, identities[delivery.customer_id], text, now)
        recent[delivery.customer_id] += 1
        result.queued += 1
    session.flush()


def _skip(session: Session, delivery: CampaignDelivery, reason: str, now: dt.datetime) -> None:
    delivery.status = OutboxStatus.skipped
    delivery.skip_reason = reason
    delivery.updated_at = now


def _hand_over(
    session: Session,
    delivery: CampaignDelivery,
    campaign: Campaign,
    identity: ChannelIdentity,
    text: str,
    now: dt.datetime,
) -> None:
    """The message, in a closed conversation of its own, waiting in the channel's outbox."""
    conversation = conversations.closed_conversation(
        session, identity=identity, resolved_by=Sender.system, at=now
    )
    message = conversations.add_message(
        session,
        conversation=conversation,
        direction=Direction.outbound,
        sender=Sender.bot,
        text=text,
        payload={"campaign_id": campaign.id, "delivery_id": delivery.id, "at_most_once": True},
        at=now,
        outbox_key=f"campaign-delivery:{delivery.id}",
    )
    delivery.status = OutboxStatus.queued
    delivery.message_id = message.id
    delivery.sent_at = now
    delivery.updated_at = now


def cancel_pending(session: Session, campaign_id: int, reason: str = "campaign_finished") -> int:
    """A finished campaign's rows that were never sent are skipped (kept for the report)."""
    result = session.execute(
        update(CampaignDelivery)
        .where(
            CampaignDelivery.campaign_id == campaign_id,
            CampaignDelivery.status == OutboxStatus.pending,
        )
        .values(status=OutboxStatus.skipped, skip_reason=reason)
        .execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0) or 0)

"""Contact-pressure governance: who must not get marketing right now, across bot, support
and marketing.

- ``do_not_contact``: a do-not-contact entry for the campaign's channel or for any channel
  (opted out, blocked the bot, or set by staff; see :mod:`crm.customers.contact`).
- ``open_escalation``: the customer has a conversation with the agents (waiting or
  assigned): no offer while a complaint is being handled
  (``CARELOOP_CAMPAIGN_BLOCK_OPEN_ESCALATION``).
- ``recent_low_csat``: a CSAT answer at or below ``CARELOOP_CAMPAIGN_LOW_CSAT`` within
  ``CARELOOP_CAMPAIGN_QUIET_DAYS_AFTER_LOW_CSAT`` days.
- ``recent_detractor``: an NPS answer of 0-6 within
  ``CARELOOP_CAMPAIGN_QUIET_DAYS_AFTER_DETRACTOR`` days.

Checked when a run is planned and again just before sending; each skip is recorded with
its reason and shows in the campaign report.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection
from typing import Any

from sqlalchemy import Select, or_, select
from sqlalchemy.orm import Session

from careloop.config import Settings
from crm.models import (
    WITH_A_PERSON,
    ContactBlock,
    Conversation,
    SurveyKind,
    SurveyResponse,
    SurveyStatus,
)

REASONS = ("do_not_contact", "open_escalation", "recent_low_csat", "recent_detractor")


def flagged(
    session: Session,
    channel: str,
    settings: Settings,
    now: dt.datetime,
    among: Collection[int] | None = None,
) -> dict[str, set[int]]:
    """Reason → every customer it rules out now (a customer may appear under several);
    only those ``among`` the given customers when given (a dispatch batch).

    Without ``among`` each rule reads the (small) set of flagged customers and the caller
    intersects it with its audience, so a million members never travel to the database
    as parameters."""

    def ids(query: Select[Any], column: Any) -> set[int]:
        if among is not None:
            query = query.where(column.in_(list(among)))
        return set(session.scalars(query))

    found: dict[str, set[int]] = {name: set() for name in REASONS}
    blocks = select(ContactBlock.customer_id).where(
        or_(ContactBlock.channel == "any", ContactBlock.channel == channel)
    )
    found["do_not_contact"] = ids(blocks, ContactBlock.customer_id)
    if settings.campaign_block_open_escalation:
        open_human = select(Conversation.customer_id).where(Conversation.status.in_(WITH_A_PERSON))
        found["open_escalation"] = ids(open_human, Conversation.customer_id)
    rules = (
        (
            "recent_low_csat",
            SurveyKind.csat,
            settings.campaign_quiet_days_after_low_csat,
            settings.campaign_low_csat,
        ),
        ("recent_detractor", SurveyKind.nps, settings.campaign_quiet_days_after_detractor, 6),
    )
    for reason, kind, days, top in rules:
        if days <= 0:
            continue
        answers = select(SurveyResponse.customer_id).where(
            SurveyResponse.kind == kind,
            SurveyResponse.status == SurveyStatus.answered,
            SurveyResponse.score <= top,
            SurveyResponse.answered_at >= now - dt.timedelta(days=days),
        )
        found[reason] = ids(answers, SurveyResponse.customer_id)
    return found


def first_reason(found: dict[str, set[int]], customer_id: int) -> str | None:
    for reason in REASONS:
        if customer_id in found.get(reason, ()):
            return reason
    return None

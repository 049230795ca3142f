"""Service operations: SLA in business time, routing, contact-pressure governance, the
reply-to-offer loop, bot quality numbers, intent corrections and the conversation export."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from bot.engine import Engine as BotEngine
from bot.inbound import InboundMessage
from careloop.config import Settings, get_settings
from careloop.errors import ValidationFailed
from crm.campaigns import dispatch, runs, service
from crm.campaigns.report import campaign_report
from crm.conversations import inbox, quality, sla, teams
from crm.conversations.routing import Office
from crm.conversations.service import escalate
from crm.customers import service as customers
from crm.models import (
    BlockReason,
    CampaignDelivery,
    CampaignStatus,
    Channel,
    ChurnRisk,
    Conversation,
    ConversationStatus,
    Message,
    Notification,
    Role,
    Sender,
    SlaPolicy,
    SurveyKind,
    User,
)
from tests.factories import (
    campaign_fields,
    make_conversation,
    make_customer,
    make_survey,
    make_telegram_identity,
    make_user,
)
from tests.test_inbox import login

BERLIN_HOURS = "mon-fri 09:00-18:00"
UTC = dt.UTC


def _at(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).astimezone(UTC)


# -- business time ------------------------------------------------------------------------


def test_business_minutes_skip_the_weekend_holidays_and_keep_wall_hours_across_dst() -> None:
    clock = sla.Calendar.build(BERLIN_HOURS, "Europe/Berlin")
    # Friday 27 March 2026, 17:30 CET; clocks go forward on Sunday 29 March.
    friday = _at("2026-03-27T17:30:00+01:00")
    assert clock.add(friday, 60) == _at("2026-03-30T09:30:00+02:00")  # Monday, CEST
    assert clock.between(friday, _at("2026-03-30T09:30:00+02:00")) == dt.timedelta(hours=1)
    # Nine business hours a day: 10 hours from Friday 17:30 → Tuesday 09:30.
    assert clock.add(friday, 600) == _at("2026-03-31T09:30:00+02:00")
    # Autumn: 23 Oct 2026 (Friday) → Monday 26 Oct, after the change back to CET.
    assert clock.add(_at("2026-10-23T17:00:00+02:00"), 120) == _at("2026-10-26T10:00:00+01:00")
    holiday = sla.Calendar.build(BERLIN_HOURS, "Europe/Berlin", ["2026-03-30"])
    assert holiday.add(friday, 60) == _at("2026-03-31T09:30:00+02:00")
    # Before opening counts from the opening; around the clock is plain time.
    assert clock.add(_at("2026-03-30T06:00:00+02:00"), 30) == _at("2026-03-30T09:30:00+02:00")
    assert sla.Calendar(None).add(friday, 90) == friday + dt.timedelta(minutes=90)
    with pytest.raises(ValidationFailed, match="holidays"):
        sla.Calendar.build(BERLIN_HOURS, "Europe/Berlin", ["30.03.2026"])
    with pytest.raises(ValidationFailed, match="business hours"):
        sla.Calendar.build("weekdays 9-5", "Europe/Berlin")


# -- SLA targets, the SLA job, notifications -------------------------------------------


def _escalated(
    session: Session, at: dt.datetime, *, intent: str = "order_status", **kw: Any
) -> Conversation:
    customer = make_customer(session)
    conversation = make_conversation(
        session,
        customer,
        intent=intent,
        status=ConversationStatus.bot,
        resolved_at=None,
        resolved_by=None,
    )
    escalate(
        session,
        conversation,
        priority=kw.pop("priority", 30),
        reason="complaint",
        office=Office.of(get_settings()),
        at=at,
    )
    session.flush()
    return conversation


def test_sla_targets_at_risk_breach_notifications_and_hits(
    session: Session, staff: dict[str, User]
) -> None:
    support = teams.save_team(
        session,
        {"name": "Support", "business_hours": BERLIN_HOURS, "timezone": "Europe/Berlin"},
    )
    teams.save_policy(
        session,
        team_id=support.id,
        data={"first_response_minutes": 60, "resolution_minutes": 240, "at_risk_percent": 50},
    )
    teams.set_member(session, team_id=support.id, user_id=staff["agent"].id)
    friday = _at("2026-03-27T17:30:00+01:00")
    conversation = _escalated(session, friday, priority=30)
    conversation.team_id = support.id
    sla.start(session, conversation, now=friday, default_hours="", timezone="UTC")
    assert conversation.first_response_due_at == _at("2026-03-30T09:30:00+02:00")
    assert conversation.first_response_warn_at == _at("2026-03-27T18:00:00+01:00")
    assert conversation.resolution_due_at == _at("2026-03-30T12:30:00+02:00")
    # Saturday: half the first-response time has gone → at risk; the team is notified.
    assert sla.check(session, now=_at("2026-03-28T12:00:00+01:00")) == {
        "at_risk": 1,
        "breached": 0,
    }
    assert conversation.sla_state == "at_risk"
    notes = session.scalars(select(Notification).order_by(Notification.id)).all()
    assert [(n.user_id, n.kind) for n in notes] == [(staff["agent"].id, "sla_at_risk")]
    assert sla.check(session, now=_at("2026-03-28T13:00:00+01:00"))["at_risk"] == 0  # once
    # Monday 09:31 CEST: breached; the first response missed its target.
    conversation.assigned_agent_id = staff["agent2"].id
    conversation.status = ConversationStatus.assigned
    assert sla.check(session, now=_at("2026-03-30T09:31:00+02:00"))["breached"] == 1
    assert conversation.sla_state == "breached" and conversation.first_response_hit is False
    breach = session.scalars(select(Notification).where(Notification.kind == "sla_breached"))
    assert [n.user_id for n in breach] == [staff["agent2"].id]  # the assigned agent only
    assert inbox.notifications(session, user=staff["agent2"])[0].conversation_id == conversation.id
    assert inbox.mark_read(session, user=staff["agent2"]) == 1
    assert inbox.notifications(session, user=staff["agent2"]) == []
    sla.record_resolution(conversation, _at("2026-03-30T12:00:00+02:00"))
    assert conversation.resolution_hit is True


def test_urgent_priority_shortens_targets_and_a_timely_reply_is_a_hit(
    session: Session, staff: dict[str, User]
) -> None:
    teams.save_policy(
        session,
        team_id=None,
        data={
            "first_response_minutes": 30,
            "resolution_minutes": 120,
            "business_hours_only": False,
            "urgent_priority": 60,
            "urgent_factor": 0.5,
        },
    )
    now = _at("2026-06-15T12:00:00+00:00")
    urgent = _escalated(session, now, priority=70)
    normal = _escalated(session, now, priority=20)
    assert urgent.first_response_due_at == now + dt.timedelta(minutes=15)
    assert urgent.resolution_due_at == now + dt.timedelta(minutes=60)
    assert normal.first_response_due_at == now + dt.timedelta(minutes=30)
    rows = inbox.queue(session, view="queue", agent=staff["agent"], now=now, sort="sla")
    assert [r.id for r in rows[:2]] == [urgent.id, normal.id]
    assert rows[0].sla_state == "on_track" and rows[0].sla_due_at == urgent.first_response_due_at
    reply = inbox.reply(
        session,
        conversation_id=normal.id,
        agent=staff["agent"],
        text="On it",
        office=Office.of(get_settings()),
    )
    assert normal.first_response_hit is (reply.created_at <= normal.first_response_due_at)
    with pytest.raises(ValidationFailed, match="sort"):
        inbox.queue(session, view="queue", agent=staff["agent"], sort="alphabet")


def test_policy_and_team_validation(session: Session) -> None:
    session.execute(delete(SlaPolicy))  # start without the migration's default policy
    with pytest.raises(ValidationFailed, match="resolution_minutes"):
        teams.save_policy(
            session, team_id=None, data={"first_response_minutes": 90, "resolution_minutes": 30}
        )
    with pytest.raises(ValidationFailed, match="urgent_factor"):
        teams.save_policy(
            session,
            team_id=None,
            data={"first_response_minutes": 10, "resolution_minutes": 20, "urgent_factor": 2},
        )
    with pytest.raises(ValidationFailed, match="first_response_minutes is required"):
        teams.save_policy(session, team_id=None, data={})  # no default policy yet
    teams.save_policy(
        session, team_id=None, data={"first_response_minutes": 10, "resolution_minutes": 20}
    )
    with pytest.raises(ValidationFailed, match="urgent_factor"):
        teams.save_policy(session, team_id=None, data={"urgent_factor": 0})
    with pytest.raises(ValidationFailed, match="time zone"):
        teams.save_team(session, {"name": "X", "business_hours": "", "timezone": "Mars/Base"})
    with pytest.raises(ValidationFailed, match="intents"):
        teams.save_team(session, {"name": "X", "intents": "billing"})


# -- routing ------------------------------------------------------------------------------


def test_escalations_route_to_the_intent_team_and_freed_capacity_pulls_work(
    session: Session, staff: dict[str, User]
) -> None:
    billing = teams.save_team(session, {"name": "Billing", "intents": ["refund_request"]})
    teams.set_member(session, team_id=billing.id, user_id=staff["agent2"].id)
    now = _at("2026-06-15T12:00:00+00:00")
    refund = _escalated(session, now, intent="refund_request", priority=10)
    other = _escalated(session, now + dt.timedelta(seconds=1), priority=40)
    assert refund.team_id == billing.id and other.team_id is None
    for agent in (staff["agent"], staff["agent2"]):
        agent.last_seen_at = now
        agent.max_concurrent = 1
    pairs = dict(inbox.auto_assign(session, online_within=dt.timedelta(minutes=2), now=now))
    # Priority order, but the billing conversation goes to the billing agent first.
    assert pairs == {other.id: staff["agent"].id, refund.id: staff["agent2"].id}

    # Capacity frees: the agent resolves and the next conversation is pulled at once.
    late_low = _escalated(session, now + dt.timedelta(minutes=5), priority=5)
    late_high = _escalated(session, now + dt.timedelta(minutes=6), priority=50)
    inbox.resolve(session, conversation_id=other.id, agent=staff["agent"])
    session.refresh(late_high)
    assert late_high.assigned_agent_id == staff["agent"].id
    assert late_high.status is ConversationStatus.assigned
    session.refresh(late_low)
    assert late_low.assigned_agent_id is None  # the agent is full again
    assert inbox.pull_next(session, agent=staff["agent"]) is None


# -- contact-pressure governance -------------------------------------------------------


def test_each_governance_rule_skips_at_planning_and_at_send_time(
    session: Session, settings: Settings
) -> None:
    now = dt.datetime.now(UTC)
    people = {}
    for name in ("ok", "blocked", "other_channel", "escalated", "low_csat", "detractor", "old"):
        people[name] = make_customer(session, churn_risk=ChurnRisk.high)
        make_telegram_identity(session, people[name], f"gov-{name}")
    customers.add_block(session, customer_id=people["blocked"].id, reason=BlockReason.manual)
    customers.add_block(
        session, customer_id=people["other_channel"].id, reason=BlockReason.manual, channel="web"
    )
    make_conversation(
        session,
        people["escalated"],
        status=ConversationStatus.waiting,
        resolved_at=None,
        escalated_at=now,
    )
    make_survey(session, people["low_csat"], SurveyKind.csat, 1, answered_at=now)
    make_survey(session, people["detractor"], SurveyKind.nps, 3, answered_at=now)
    make_survey(session, people["old"], SurveyKind.csat, 1, answered_at=now - dt.timedelta(days=40))
    campaign = service.create_campaign(session, campaign_fields(control_percent=0), None)
    campaign.status = CampaignStatus.scheduled
    settings = settings.model_copy(update={"campaign_quiet_hours": ""})
    result = runs.plan_run(session, campaign, settings, occurrence_key="gov", now=now)
    assert result.skipped == {
        "do_not_contact": 1,
        "open_escalation": 1,
        "recent_low_csat": 1,
        "recent_detractor": 1,
    }
    rows = {
        d.customer_id: d
        for d in session.scalars(
            select(CampaignDelivery).where(CampaignDelivery.campaign_id == campaign.id)
        )
    }
    expected = {
        "blocked": "do_not_contact",
        "escalated": "open_escalation",
        "low_csat": "recent_low_csat",
        "detractor": "recent_detractor",
    }
    for name, customer in people.items():
        assert rows[customer.id].skip_reason == expected.get(name), name
    # At send time: "ok" opted out of Telegram after planning; the rest still go.
    customers.add_block(
        session, customer_id=people["ok"].id, reason=BlockReason.manual, channel="telegram"
    )
    sent = dispatch.dispatch(session, settings, now=now)
    assert sent.queued == 2 and sent.skipped == {"do_not_contact": 1}
    report = campaign_report(session, campaign)
    assert report["skipped"]["do_not_contact"] == 2
    assert report["skipped"]["open_escalation"] == 1


def test_opt_out_and_a_blocked_bot_become_do_not_contact_entries(session: Session) -> None:
    customer = make_customer(session)
    identity = make_telegram_identity(session, customer, "gov-block")
    customers.opt_out(session, customer_id=customer.id)
    customers.mark_unreachable(session, identity_id=identity.id, reason="blocked_bot")
    entries = {(b.channel, b.reason) for b in customers.blocks(session, customer_id=customer.id)}
    assert entries == {("any", BlockReason.opted_out), ("telegram", BlockReason.blocked_bot)}
    customers.mark_reachable(session, identity=identity)
    customers.give_consent(session, customer_id=customer.id)
    assert customers.blocks(session, customer_id=customer.id) == []
    with pytest.raises(ValidationFailed, match="channel"):
        customers.add_block(
            session, customer_id=customer.id, reason=BlockReason.manual, channel="fax"
        )


# -- reply-to-offer -------------------------------------------------------------------------


def test_a_reply_to_a_campaign_message_is_a_conversation_linked_to_the_campaign(
    session: Session, settings: Settings, bot: BotEngine
) -> None:
    customer = make_customer(session, churn_risk=ChurnRisk.high, rfm_segment="At risk")
    make_telegram_identity(session, customer, "777001")
    campaign = service.create_campaign(session, campaign_fields(control_percent=0), None)
    campaign.status = CampaignStatus.scheduled
    settings = settings.model_copy(update={"campaign_quiet_hours": ""})
    runs.plan_run(session, campaign, settings, occurrence_key="reply")
    assert dispatch.dispatch(session, settings).queued == 1
    outcome = bot.handle(
        session,
        InboundMessage(
            Channel.telegram,
            "777001",
            "I am furious, my last order arrived broken and nobody helped",
            "r1",
        ),
    )
    conversation = outcome.conversation
    assert conversation.campaign_id == campaign.id
    assert conversation.segment_at_start == "At risk" and conversation.churn_risk_at_start == "high"
    assert conversation.status is ConversationStatus.waiting  # a complaint went to the agents
    replies = campaign_report(session, campaign)["replies"]
    assert replies == {"conversations": 1, "escalated": 1, "complaints": 1}


# -- bot quality and export --------------------------------------------------------------


def _quality_data(session: Session, staff: dict[str, User]) -> dict[str, Conversation]:
    """Four customer conversations on 2026-06-10 (and one outside the period)."""
    day = _at("2026-06-10T10:00:00+00:00")
    seg: dict[str, Any] = {"segment_at_start": "Champions", "created_at": day}
    a, b, c, d, e = (make_customer(session) for _ in range(5))
    bot_only = make_conversation(session, a, intent="order_status", **seg)
    not_sure = make_conversation(session, b, intent="nlu_fallback", created_at=day)
    handed = make_conversation(
        session,
        c,
        intent="refund_request",
        created_at=day,
        escalated_at=day,
        escalation_reason="complaint",
        first_agent_reply_at=day + dt.timedelta(minutes=10),
        resolved_at=day + dt.timedelta(hours=2),
        resolved_by=Sender.agent,
        assigned_agent_id=staff["agent"].id,
        first_response_hit=True,
        resolution_hit=False,
    )
    waiting = make_conversation(
        session,
        d,
        intent="human_agent",
        created_at=day,
        status=ConversationStatus.waiting,
        resolved_at=None,
        resolved_by=None,
        escalated_at=day,
        escalation_reason="human_request",
    )
    make_conversation(session, e, intent="order_status", created_at=day - dt.timedelta(days=30))
    # The refund message was really a cancellation: an agent corrects it.
    message = session.scalars(select(Message).where(Message.conversation_id == handed.id)).one()
    inbox.relabel(
        session,
        message_id=message.id,
        intent="cancel_order",
        agent=staff["agent"],
        known={"cancel_order", "refund_request"},
    )
    make_survey(session, a, SurveyKind.csat, 5, conversation_id=bot_only.id)
    make_survey(session, c, SurveyKind.csat, 2, conversation_id=handed.id)
    session.flush()
    return {"bot_only": bot_only, "not_sure": not_sure, "handed": handed, "waiting": waiting}


PERIOD = quality.Filters(start=dt.date(2026, 6, 1), end=dt.date(2026, 6, 30))


def test_quality_report_numbers_on_a_known_data_set(
    session: Session, staff: dict[str, User]
) -> None:
    data = _quality_data(session, staff)
    report = quality.report(session, PERIOD)
    assert report["conversations"] == 4 and report["resolved"] == 3
    assert report["containment_rate"] == 66.7  # 2 of 3 resolved without a human
    assert report["handoff_rate"] == 50.0
    assert report["not_sure_rate"] == 25.0  # 1 of 4 customer messages
    by_intent = {
        r["intent"]: (r["conversations"], r["handoffs"]) for r in report["handoff_by_intent"]
    }
    assert by_intent == {
        "order_status": (1, 0),
        "nlu_fallback": (1, 0),
        "cancel_order": (1, 1),
        "human_agent": (1, 1),
    }
    assert report["handoff_by_reason"] == [
        {"reason": "complaint", "handoffs": 1},
        {"reason": "human_request", "handoffs": 1},
    ]
    assert report["corrections"] == [
        {
            "pair": "refund_request>cancel_order",
            "model": "refund_request",
            "agent": "cancel_order",
            "count": 1,
        }
    ]
    assert report["csat"]["bot"] == {"answers": 1, "csat_pct": 100.0, "average": 5.0}
    assert report["csat"]["human"] == {"answers": 1, "csat_pct": 0.0, "average": 2.0}
    first = {b["bucket"]: b["conversations"] for b in report["first_response_time"]}
    assert first["5-15m"] == 1 and sum(first.values()) == 1
    resolution = {b["bucket"]: b["conversations"] for b in report["resolution_time"]}
    assert resolution["1-4h"] == 1
    assert report["sla"]["first_response"] == {"hit": 1, "decided": 1, "hit_rate": 100.0}
    assert report["sla"]["resolution"] == {"hit": 0, "decided": 1, "hit_rate": 0.0}

    # Drill-down: the conversations behind a number.
    def ids(**kw: Any) -> list[int]:
        f = quality.Filters(start=PERIOD.start, end=PERIOD.end, **kw)
        return [r.id for r in quality.rows(session, f)]

    assert ids(contained=True) == sorted([data["bot_only"].id, data["not_sure"].id])
    assert ids(intent="cancel_order") == [data["handed"].id]
    assert ids(reason="human_request") == [data["waiting"].id]
    assert ids(not_sure=True) == [data["not_sure"].id]
    assert ids(corrected="refund_request>cancel_order") == [data["handed"].id]
    assert ids(sla_missed=True) == [data["handed"].id]
    assert ids(csat="bot") == [data["bot_only"].id]
    assert ids(first_response="5-15m") == [data["handed"].id]
    assert ids(segment="Champions") == [data["bot_only"].id]
    assert ids(agent_id=staff["agent"].id) == [data["handed"].id]
    with pytest.raises(ValidationFailed, match="first_response"):
        quality.Filters(start=PERIOD.start, end=PERIOD.end, first_response="soon")


def test_relabel_rules(session: Session, staff: dict[str, User]) -> None:
    customer = make_customer(session)
    conversation = make_conversation(session, customer, intent="order_status")
    message = session.scalars(
        select(Message).where(Message.conversation_id == conversation.id)
    ).one()
    known = {"order_status", "complaint"}
    with pytest.raises(ValidationFailed, match="unknown intent"):
        inbox.relabel(session, message_id=message.id, intent="x", agent=staff["agent"], known=known)
    with pytest.raises(ValidationFailed, match="agents and admins"):
        inbox.relabel(
            session, message_id=message.id, intent="complaint", agent=staff["marketer"], known=known
        )
    inbox.relabel(
        session, message_id=message.id, intent="complaint", agent=staff["agent"], known=known
    )
    assert inbox.corrections(session) == [("where is my order?", "complaint")]
    # Relabelling back to the model's own label withdraws the correction.
    inbox.relabel(
        session, message_id=message.id, intent="order_status", agent=staff["agent"], known=known
    )
    assert inbox.corrections(session) == []


def test_corrections_become_training_data(
    encoder: Any, tmp_path: Any, session: Session, staff: dict[str, User]
) -> None:
    """Relabel → `careloop nlu train` round trip: the next model learns the correction."""
    from bot.factory import nlu_config
    from nlp.dataset import Example
    from nlp.pipeline import load_nlu, train_task

    settings = Settings(env="test", model_dir=tmp_path)
    config = nlu_config(settings)
    text = "my voucher code SPRING26 is rejected at checkout"
    before = load_nlu(encoder, config).understand(text).intent.label
    target = "complaint" if before != "complaint" else "discount_question"
    customer = make_customer(session)
    conversation = make_conversation(session, customer, intent=before, text=text)
    message = session.scalars(
        select(Message).where(Message.conversation_id == conversation.id)
    ).one()
    inbox.relabel(
        session,
        message_id=message.id,
        intent=target,
        agent=staff["agent"],
        known={before, target},
    )
    extra = [Example(t, label) for t, label in inbox.corrections(session)]
    artifact = train_task(encoder, config, "intent", extra=extra)
    assert artifact.meta["n_examples"] >= 1
    assert load_nlu(encoder, config).understand(text).intent.label == target


def test_export_api_streams_csv_and_json_lines(
    client: TestClient, session: Session, staff: dict[str, User]
) -> None:
    data = _quality_data(session, staff)
    login(client, staff["marketer"])
    query = "start=2026-06-01&end=2026-06-30"
    response = client.get(f"/api/v1/conversations/export?{query}&format=csv")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/csv")
    table = list(csv.DictReader(io.StringIO(response.text)))
    assert [int(r["id"]) for r in table] == sorted(c.id for c in data.values())
    handed = next(r for r in table if int(r["id"]) == data["handed"].id)
    assert handed["escalation_reason"] == "complaint" and handed["first_response_seconds"] == "600"
    assert json.loads(handed["intents"]) == ["cancel_order"] and handed["csat"] == "2"
    assert handed["first_response_hit"] == "True" and handed["resolution_hit"] == "False"
    lines = client.get(f"/api/v1/conversations/export?{query}&format=jsonl&escalated=true")
    objects = [json.loads(line) for line in lines.text.splitlines()]
    assert {o["id"] for o in objects} == {data["handed"].id, data["waiting"].id}
    assert client.get(f"/api/v1/conversations/export?{query}&format=xml").status_code == 422
    report = client.get(f"/api/v1/analytics/quality?{query}").json()
    assert report["conversations"] == 4 and report["containment_rate"] == 66.7
    login(client, staff["agent"])
    assert client.get(f"/api/v1/conversations/export?{query}").status_code == 403


def test_operations_api_teams_policies_blocks_and_relabel(
    client: TestClient, session: Session, staff: dict[str, User]
) -> None:
    token = login(client, staff["admin"])
    h = {"X-CSRF-Token": token}
    team = client.post(
        "/api/v1/teams",
        json={
            "name": "Billing",
            "business_hours": BERLIN_HOURS,
            "timezone": "Europe/Berlin",
            "intents": ["refund_request"],
            "holidays": ["2026-12-25"],
        },
        headers=h,
    )
    assert team.status_code == 201, team.text
    team_id = team.json()["id"]
    assert client.post("/api/v1/teams", json={"name": "Billing"}, headers=h).status_code == 409
    bad = client.post("/api/v1/teams", json={"name": "Y", "business_hours": "soon"}, headers=h)
    assert bad.status_code == 422 and "business hours" in bad.json()["error"]["message"]
    policy = client.put(
        f"/api/v1/teams/{team_id}/sla-policy",
        json={"first_response_minutes": 30, "resolution_minutes": 480},
        headers=h,
    )
    assert policy.status_code == 200 and policy.json()["team_id"] == team_id
    member = client.post(
        f"/api/v1/teams/{team_id}/members", json={"user_id": staff["agent"].id}, headers=h
    )
    assert member.json() == {"user_id": staff["agent"].id, "team_id": team_id}
    customer = make_customer(session)
    block = client.post(
        f"/api/v1/customers/{customer.id}/contact-blocks",
        json={"channel": "telegram", "note": "asked on the phone"},
        headers=h,
    )
    assert block.status_code == 201 and block.json()["reason"] == "manual"
    listed = client.get(f"/api/v1/customers/{customer.id}/contact-blocks").json()["blocks"]
    assert [b["channel"] for b in listed] == ["telegram"]
    gone = client.delete(
        f"/api/v1/customers/{customer.id}/contact-blocks/{block.json()['id']}", headers=h
    )
    assert gone.status_code == 200
    token = login(client, staff["agent"])
    conversation = make_conversation(session, customer, intent="order_status")
    message = session.scalars(
        select(Message).where(Message.conversation_id == conversation.id)
    ).one()
    intents = client.get("/api/v1/inbox/intents").json()["intents"]
    assert "complaint" in intents
    relabelled = client.post(
        f"/api/v1/inbox/messages/{message.id}/intent",
        json={"intent": "complaint"},
        headers={"X-CSRF-Token": token},
    )
    assert relabelled.json()["corrected_intent"] == "complaint"
    assert client.get("/api/v1/teams").status_code == 403
    shown = client.get(f"/api/v1/inbox/conversations/{conversation.id}").json()
    assert shown["messages"][0]["corrected_intent"] == "complaint"
    assert shown["conversation"]["sla"]["state"] is None


def test_only_staff_who_work_conversations_join_teams(session: Session) -> None:
    marketer = make_user(session, Role.marketer)
    with pytest.raises(ValidationFailed, match="agents and admins"):
        teams.set_member(session, team_id=None, user_id=marketer.id)

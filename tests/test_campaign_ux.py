"""Campaign UX behind the pages: the activation preview (audience, skips and why, the
control group warning), one-off times in the shop's time zone, "also include customers who
already match" for triggered campaigns, why an audience is empty, "not enough data" for
uplift and web-chat offers waiting for the customer."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from sqlalchemy.orm import Session

from careloop.config import Settings, get_settings
from careloop.errors import ValidationFailed
from crm.campaigns import activation, dispatch, runs, service
from crm.campaigns.report import campaign_report, uplift_note
from crm.conversations.routing import Office
from crm.models import ChurnRisk, ConversationStatus, ScheduleKind
from tests.factories import (
    campaign_fields,
    make_conversation,
    make_customer,
    make_telegram_identity,
    make_web_identity,
)

NOW = dt.datetime(2026, 6, 15, 12, 0, tzinfo=dt.UTC)


def _bearer(session: Session, user: Any) -> dict[str, str]:
    from crm.users.service import create_api_token

    plain, _ = create_api_token(session, user=user, name="test")
    session.commit()
    return {"Authorization": f"Bearer {plain}"}


def _reachable(session: Session, n: int, **overrides: Any) -> list[int]:
    ids = []
    for i in range(n):
        customer = make_customer(session, churn_risk=ChurnRisk.high, **overrides)
        make_telegram_identity(session, customer, 900_000 + customer.id + i)
        ids.append(customer.id)
    return ids


def test_activation_preview_counts_audience_skips_and_reasons(
    session: Session, settings: Settings
) -> None:
    _reachable(session, 5)
    make_customer(session, churn_risk=ChurnRisk.high, marketing_consent=False)
    make_customer(session, churn_risk=ChurnRisk.high)  # no Telegram identity: unreachable
    escalated = make_customer(session, churn_risk=ChurnRisk.high)
    make_telegram_identity(session, escalated, 990_001)
    make_conversation(
        session, escalated, status=ConversationStatus.waiting, resolved_at=None, resolved_by=None
    )
    make_customer(session, churn_risk=ChurnRisk.low)  # not in the audience
    session.flush()
    campaign = service.create_campaign(session, campaign_fields(control_percent=0), None)
    preview = activation.preview(session, campaign, settings, now=NOW)
    assert preview["audience"] == 8 and preview["matching_rules"] == 8
    assert preview["control"] == 0 and preview["treatment"] == 8
    assert preview["skipped"] == {"no_consent": 1, "unreachable": 1, "open_escalation": 1}
    assert preview["skipped_labels"]["open_escalation"] == "an open conversation with an agent"
    assert preview["will_send"] == 5
    assert preview["when"]["kind"] == "now"
    assert preview["empty_reason"] is None
    assert any("No control group" in w for w in preview["warnings"])
    # Nothing was planned: activating plans exactly what the preview said.
    result = service.activate(session, campaign, None, settings, now=NOW)
    assert result is not None
    assert result.audience == 8 and result.skipped == preview["skipped"]


def test_a_control_group_too_small_to_measure_is_warned_about(
    session: Session, settings: Settings
) -> None:
    _reachable(session, 6)
    campaign = service.create_campaign(session, campaign_fields(control_percent=10), None)
    preview = activation.preview(session, campaign, settings, now=NOW)
    assert preview["audience"] == 6
    warning = next(w for w in preview["warnings"] if "control group would hold" in w)
    assert f"{preview['control']} of 6" in warning


def test_uplift_note_says_not_enough_data() -> None:
    assert uplift_note(6, 0, 0, 0) is not None
    assert "0 in the control group" in str(uplift_note(6, 0, 0, 0))
    assert "no conversions" in str(uplift_note(50, 50, 0, 0))
    assert uplift_note(50, 50, 5, 2) is None


def test_report_explains_an_empty_audience_and_missing_uplift(
    session: Session, settings: Settings
) -> None:
    draft = service.create_campaign(session, campaign_fields(), None)
    report = campaign_report(session, draft)
    assert report["audience"] == 0
    assert "Not activated yet" in report["empty_reason"]
    assert report["uplift_note"].startswith("not enough data")
    triggered = service.create_campaign(
        session,
        campaign_fields(schedule_kind="triggered", schedule={"trigger": "churn_high"}),
        None,
    )
    service.activate(session, triggered, None, settings, now=NOW)
    assert "after activation" in campaign_report(session, triggered)["empty_reason"]


def test_triggered_campaign_can_include_customers_who_already_match(
    session: Session, settings: Settings
) -> None:
    _reachable(session, 3)
    make_customer(session, churn_risk=ChurnRisk.low)
    fields = campaign_fields(
        schedule_kind="triggered", schedule={"trigger": "churn_high"}, control_percent=0
    )
    campaign = service.create_campaign(session, fields, None)
    plain = activation.preview(session, campaign, settings, now=NOW)
    assert plain["audience"] == 0 and plain["already_matching"] == 3
    assert "3 customer(s) match already" in plain["empty_reason"]
    included = activation.preview(session, campaign, settings, include_existing=True, now=NOW)
    assert included["audience"] == 3 and included["will_send"] == 3
    assert included["empty_reason"] is None
    result = service.activate(session, campaign, None, settings, include_existing=True, now=NOW)
    assert result is not None and result.audience == 3
    assert campaign.status.value == "active"
    # The sweep does not send them the same occurrence again.
    assert runs.run_triggers(session, settings, now=NOW + dt.timedelta(minutes=5)) == []


def test_triggered_without_existing_plans_nobody(session: Session, settings: Settings) -> None:
    _reachable(session, 2)
    fields = campaign_fields(schedule_kind="triggered", schedule={"trigger": "churn_high"})
    campaign = service.create_campaign(session, fields, None)
    assert service.activate(session, campaign, None, settings, now=NOW) is None
    assert campaign_report(session, campaign)["audience"] == 0


def test_a_one_off_time_is_a_wall_clock_time_in_the_shop_time_zone() -> None:
    schedule = runs.validate_schedule(
        ScheduleKind.once, {"at": "2026-12-01T09:00", "timezone": "Europe/Berlin"}
    )
    assert schedule == {"at": "2026-12-01T09:00:00+01:00", "timezone": "Europe/Berlin"}
    with pytest.raises(ValidationFailed, match="time zone offset"):
        runs.validate_schedule(ScheduleKind.once, {"at": "2026-12-01T09:00"})
    with pytest.raises(ValidationFailed, match="unknown time zone"):
        runs.validate_schedule(ScheduleKind.once, {"at": "2026-12-01T09:00", "timezone": "Mars/X"})


def test_a_scheduled_one_off_preview_names_its_time(session: Session, settings: Settings) -> None:
    _reachable(session, 1)
    fields = campaign_fields(schedule={"at": "2026-12-01T09:00", "timezone": "Europe/Berlin"})
    campaign = service.create_campaign(session, fields, None)
    when = activation.preview(session, campaign, settings, now=NOW)["when"]
    assert when["kind"] == "at" and not when["past"]
    assert when["text"] == "at 2026-12-01 09:00 (Europe/Berlin)"
    assert service.activate(session, campaign, None, settings, now=NOW) is None
    assert campaign.status.value == "scheduled"


def test_web_chat_offers_wait_for_the_customer(session: Session, settings: Settings) -> None:
    for i in range(3):
        customer = make_customer(session, churn_risk=ChurnRisk.high)
        make_web_identity(session, customer, f"web-offer-{i}")
    campaign = service.create_campaign(
        session, campaign_fields(channel="web", control_percent=0), None
    )
    preview = activation.preview(session, campaign, settings, now=NOW)
    assert any("next opens the chat" in w for w in preview["warnings"])
    service.activate(session, campaign, None, settings, now=NOW)
    dispatch.dispatch(session, settings, now=NOW)
    report = campaign_report(session, campaign)
    assert report["waiting_for_customer"] == 3 and report["delivered"] == 0


# -- the HTTP API -------------------------------------------------------------------------


def test_fields_name_configured_channels_and_the_shop_time_zone(
    client: Any, session: Session, staff: dict[str, Any]
) -> None:
    headers = _bearer(session, staff["marketer"])
    body = client.get("/api/v1/campaigns/fields", headers=headers).json()
    configured = {c["value"]: c["configured"] for c in body["channels"]}
    assert configured == {"telegram": False, "web": True}  # no Telegram token in tests
    assert body["default_channel"] == "web"
    assert body["shop_timezone"] == "Europe/Berlin"


def test_activation_preview_and_activate_over_http(
    client: Any, session: Session, staff: dict[str, Any]
) -> None:
    _reachable(session, 4)
    headers = _bearer(session, staff["marketer"])
    fields = campaign_fields(schedule_kind="triggered", schedule={"trigger": "churn_high"})
    cid = client.post("/api/v1/campaigns", json=fields, headers=headers).json()["id"]
    url = f"/api/v1/campaigns/{cid}/activation-preview"
    plain = client.get(url, headers=headers).json()
    assert plain["audience"] == 0 and plain["already_matching"] == 4
    included = client.get(url, params={"include_existing": "true"}, headers=headers).json()
    assert included["audience"] == 4
    activated = client.post(
        f"/api/v1/campaigns/{cid}/activate", json={"include_existing": True}, headers=headers
    )
    assert activated.status_code == 200, activated.text
    assert activated.json()["run"]["audience"] == 4
    report = client.get(f"/api/v1/campaigns/{cid}/report", headers=headers).json()
    assert report["audience"] == 4 and report["empty_reason"] is None
    agent = _bearer(session, staff["agent"])
    assert client.get(url, headers=agent).status_code == 403
    assert (
        client.get("/api/v1/campaigns/999999/activation-preview", headers=headers).status_code
        == 404
    )


# -- the web chat -------------------------------------------------------------------------


def test_the_web_chat_opens_with_the_shop_name_and_greeting(client: Any) -> None:
    body = client.get("/api/v1/chat/welcome").json()
    assert body["shop_name"] == "careloop demo shop"  # the response book's shop.name
    assert "careloop demo shop assistant" in body["greeting"]
    assert "Where is my order?" in body["quick_replies"]
    page = client.get("/chat")
    assert '<h1 id="chat-shop">careloop demo shop</h1>' in page.text
    assert "<script>" not in page.text  # page code lives in static files (CSP)


def test_the_shop_name_setting_names_the_chat(
    settings: Settings, bot: Any, db_engine: Any, session_factory: Any
) -> None:
    from fastapi.testclient import TestClient

    from web.app import create_app

    named = settings.model_copy(update={"shop_name": "Tea & Co"})
    app = create_app(
        named, bot=bot, db_engine=db_engine, session_factory=session_factory, run_scheduler=False
    )
    with TestClient(app) as client:
        body = client.get("/api/v1/chat/welcome").json()
        assert body["shop_name"] == "Tea & Co"
        assert "Tea & Co assistant" in body["greeting"]
        assert "Tea &amp; Co" in client.get("/chat").text


def test_agent_replies_carry_the_agent_name(
    client: Any, session: Session, staff: dict[str, Any]
) -> None:
    from crm.conversations import inbox

    sent = client.post(
        "/api/v1/chat/messages",
        json={"session_id": "named-agent-1", "text": "I want to talk to a real person"},
    ).json()
    conversation_id = sent["conversation"]["id"]
    agent = staff["agent"]
    inbox.claim(session, conversation_id=conversation_id, agent=agent)
    inbox.reply(
        session,
        conversation_id=conversation_id,
        agent=agent,
        text="Hello, Alice here",
        office=Office.of(get_settings()),
    )
    session.commit()
    messages = client.get("/api/v1/chat/sessions/named-agent-1/messages").json()["messages"]
    reply = next(m for m in messages if m["sender"] == "agent")
    assert reply["author"] == "Alice Agent" and reply["text"] == "Hello, Alice here"
    assert all(m["author"] is None for m in messages if m["sender"] != "agent")


# -- the inbox ----------------------------------------------------------------------------


def _waiting_conversation(session: Session, customer: Any, hours_ago: float) -> int:
    from crm.db import utcnow

    identity = make_web_identity(session, customer, f"ux-wait-{customer.id}-{hours_ago}")
    return make_conversation(
        session,
        customer,
        identity,
        status=ConversationStatus.waiting,
        resolved_at=None,
        resolved_by=None,
        escalated_at=utcnow() - dt.timedelta(hours=hours_ago),
    ).id


def test_auto_assign_tells_the_agent_and_capacity_shows(
    client: Any, session: Session, staff: dict[str, Any]
) -> None:
    from crm.conversations import inbox
    from crm.db import utcnow
    from tests.test_inbox import login

    agent = staff["agent"]
    agent.last_seen_at = utcnow()
    agent.max_concurrent = 3
    for hours in (30, 5):
        _waiting_conversation(session, make_customer(session), hours)
    pairs = inbox.auto_assign(session, online_within=dt.timedelta(minutes=2))
    assert len(pairs) == 2
    session.commit()
    token = login(client, agent)
    headers = {"X-CSRF-Token": token}
    notes = client.get("/api/v1/inbox/notifications").json()["notifications"]
    notice = next(n for n in notes if n["kind"] == "auto_assigned")
    assert notice["text"].startswith("Auto-assign gave you 2 conversations")
    assert (
        "the oldest has waited 30 h" in notice["text"] and "You now hold 2 of 3" in notice["text"]
    )
    queue = client.get("/api/v1/inbox/conversations?view=mine").json()
    assert queue["capacity"] == {"held": 2, "limit": 3}
    client.post("/api/v1/inbox/notifications/read", json={"ids": [notice["id"]]}, headers=headers)
    unread = client.get("/api/v1/inbox/notifications").json()["notifications"]
    assert all(n["kind"] != "auto_assigned" for n in unread)


def test_two_open_conversations_of_one_customer_are_linked(
    client: Any, session: Session, staff: dict[str, Any]
) -> None:
    from tests.test_inbox import login

    customer = make_customer(session)
    first = _waiting_conversation(session, customer, 2)
    second = _waiting_conversation(session, customer, 1)
    alone = _waiting_conversation(session, make_customer(session), 1)
    session.commit()
    login(client, staff["agent"])
    rows = {r["id"]: r for r in client.get("/api/v1/inbox/conversations").json()["conversations"]}
    assert rows[first]["other_open"] == [second] and rows[second]["other_open"] == [first]
    assert rows[alone]["other_open"] == []
    detail = client.get(f"/api/v1/inbox/conversations/{first}").json()["conversation"]
    assert detail["other_open"] == [second]


# -- marketers' drill-down ----------------------------------------------------------------


def test_marketers_read_a_masked_transcript_without_private_notes(
    client: Any, session: Session, staff: dict[str, Any]
) -> None:
    from crm.conversations import inbox
    from crm.customers.privacy import mask_text

    customer = make_customer(session, first_name="Nina")
    conversation = make_conversation(
        session,
        customer,
        text="Order O0012345 never came, mail me at nina.k@example.com or call +49 30 1234567",
    )
    inbox.reply(
        session,
        conversation_id=conversation.id,
        agent=staff["agent"],
        text="Customer is angry, VIP",
        office=Office.of(get_settings()),
        private=True,
    )
    session.commit()
    marketer = _bearer(session, staff["marketer"])
    url = f"/api/v1/analytics/conversations/{conversation.id}/transcript"
    body = client.get(url, headers=marketer).json()
    assert body["masked"] is True and body["customer"] == "Nina"
    texts = [m["text"] for m in body["messages"]]
    assert len(texts) == 1, "private notes are not shown"
    text = texts[0]
    assert "O0012345" not in text and "O*****45" in text
    assert "nina.k@example.com" not in text and "n***@example.com" in text
    assert "1234567" not in text
    assert client.get(url, headers=_bearer(session, staff["agent"])).status_code == 403
    missing = "/api/v1/analytics/conversations/999999/transcript"
    assert client.get(missing, headers=marketer).status_code == 404
    # Text the extractor read in a normalised form is hidden whole, never shown.
    assert mask_text("mail a\u200bb@example.com", [("email", "ab@example.com")]).startswith(
        "[hidden"
    )

"""Campaigns: audience rules, templates, the control group, planning with guards, the
dispatcher's send-time guards, triggers with a controllable clock, and the report."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import numpy as np
import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from careloop.config import Settings
from careloop.errors import Conflict, ValidationFailed
from crm.campaigns import audience, dispatch, messages, runs, service
from crm.campaigns.report import campaign_report, report_csv, uplift
from crm.conversations import outbox
from crm.models import (
    Campaign,
    CampaignDelivery,
    CampaignStatus,
    Channel,
    ChurnRisk,
    Customer,
    CustomerEvent,
    DeliveryGroup,
    DeliveryStatus,
    Message,
    OrderStatus,
    OutboxStatus,
    SurveyKind,
    SurveyStatus,
)
from tests.factories import (
    campaign_fields,
    make_customer,
    make_order,
    make_survey,
    make_telegram_identity,
    make_web_identity,
)

NOW = dt.datetime(2026, 6, 15, 12, 0, tzinfo=dt.UTC)  # a Monday, 14:00 in Berlin


def _campaign(session: Session, **overrides: Any) -> Campaign:
    return service.create_campaign(session, campaign_fields(**overrides), None)


def _ids(session: Session, rules: dict[str, Any]) -> set[int]:
    return set(audience.members(session, rules, now=NOW))


# -- audience -----------------------------------------------------------------------------


def test_audience_rules_select_exactly_the_matching_customers(session: Session) -> None:
    ann = make_customer(
        session,
        rfm_segment="At risk",
        churn_risk=ChurnRisk.high,
        churn_probability=0.82,
        clv=Decimal("250.00"),
        tags=["vip", "newsletter"],
        birthday=dt.date(1990, 6, 15),
        csat_last=2,
        nps_category="detractor",
    )
    bob = make_customer(
        session,
        rfm_segment="Champions",
        churn_risk=ChurnRisk.low,
        churn_probability=0.05,
        clv=Decimal("900.00"),
        tags=["vip"],
        birthday=dt.date(1985, 6, 19),
        marketing_consent=False,
    )
    cat = make_customer(
        session,
        rfm_segment="Can't lose",
        churn_risk=ChurnRisk.medium,
        churn_probability=0.45,
        clv=Decimal("80.00"),
        opted_out_at=NOW - dt.timedelta(days=3),
    )
    dan = make_customer(session)  # never scored, no orders
    make_telegram_identity(session, ann, 1001)
    make_telegram_identity(session, bob, 1002, reachable=False)
    make_web_identity(session, cat, "visitor-cat")
    for days, amount, status in (
        (40, "30.00", OrderStatus.delivered),
        (100, "20.00", OrderStatus.paid),
    ):
        make_order(
            session,
            ann,
            ordered_at=NOW - dt.timedelta(days=days),
            total_amount=Decimal(amount),
            status=status,
        )
    make_order(session, ann, ordered_at=NOW - dt.timedelta(days=2), status=OrderStatus.cancelled)
    for days in (3, 10, 20):
        make_order(
            session, bob, ordered_at=NOW - dt.timedelta(days=days), total_amount=Decimal("100.00")
        )
    make_order(session, cat, ordered_at=NOW - dt.timedelta(days=400), total_amount=Decimal("15.00"))
    everyone = {ann.id, bob.id, cat.id, dan.id}

    def cond(field: str, op: str, value: Any) -> dict[str, Any]:
        return {"field": field, "op": op, "value": value}

    assert _ids(session, {}) >= everyone
    assert _ids(session, cond("churn_risk", "in", ["high", "medium"])) & everyone == {
        ann.id,
        cat.id,
    }
    assert _ids(session, cond("churn_risk", "not_in", ["high"])) & everyone == {
        bob.id,
        cat.id,
        dan.id,
    }
    assert _ids(session, cond("segment", "in", ["No orders"])) & everyone == {dan.id}
    assert _ids(session, cond("churn_probability", "between", [0.4, 0.9])) & everyone == {
        ann.id,
        cat.id,
    }
    assert _ids(session, cond("clv", "gte", 250)) & everyone == {ann.id, bob.id}
    # Orders: cancelled ones never count; whole days since the last order.
    assert _ids(session, cond("order_count", "eq", 2)) & everyone == {ann.id}
    assert _ids(session, cond("order_count", "eq", 0)) & everyone == {dan.id}
    assert _ids(session, cond("total_spend", "gt", 100)) & everyone == {bob.id}
    assert _ids(session, cond("days_since_last_order", "gte", 40)) & everyone == {ann.id, cat.id}
    assert _ids(session, cond("days_since_last_order", "gt", 40)) & everyone == {cat.id}
    assert _ids(session, cond("days_since_last_order", "lte", 3)) & everyone == {bob.id}
    assert _ids(session, cond("days_since_last_order", "lt", 3)) & everyone == set()
    assert _ids(session, cond("days_since_last_order", "eq", 40)) & everyone == {ann.id}
    assert _ids(session, cond("csat_last", "lte", 2)) & everyone == {ann.id}
    assert _ids(session, cond("nps_category", "in", ["detractor"])) & everyone == {ann.id}
    assert _ids(session, cond("birthday", "eq", "today")) & everyone == {ann.id}
    assert _ids(session, cond("birthday", "eq", "this_week")) & everyone == {ann.id, bob.id}
    assert _ids(session, cond("tags", "contains_any", ["newsletter", "x"])) & everyone == {ann.id}
    assert _ids(session, cond("tags", "contains_all", ["vip", "newsletter"])) & everyone == {ann.id}
    assert _ids(session, cond("tags", "contains_none", ["vip"])) & everyone == {cat.id, dan.id}
    assert _ids(session, cond("channel", "eq", "telegram")) & everyone == {ann.id}  # bob blocked us
    assert _ids(session, cond("channel", "eq", "web")) & everyone == {cat.id}
    assert _ids(session, cond("marketing_consent", "eq", True)) & everyone == {ann.id, dan.id}
    nested = {
        "all": [
            cond("clv", "gte", 50),
            {"any": [cond("churn_risk", "in", ["high"]), cond("tags", "contains_any", ["vip"])]},
            cond("marketing_consent", "eq", True),
        ]
    }
    assert _ids(session, nested) & everyone == {ann.id}
    assert _ids(session, {"any": []}) == set()


@pytest.mark.parametrize(
    ("rules", "message"),
    [
        ([1], "expected an object"),
        ({"field": "shoe_size", "op": "eq", "value": 1}, "unknown field 'shoe_size'"),
        ({"field": "clv", "op": "in", "value": [1]}, "clv takes the operators"),
        ({"field": "clv", "op": "gte", "value": "lots"}, "expected a number"),
        ({"field": "clv", "op": "between", "value": [5, 1]}, "low <= high"),
        ({"field": "segment", "op": "in", "value": ["Royalty"]}, "unknown value(s) Royalty"),
        ({"field": "birthday", "op": "eq", "value": "tomorrow"}, '"today" or "this_week"'),
        ({"all": [{"any": [{"field": "clv", "op": "gte"}]}]}, "audience.all[0].any[0]"),
        ({"all": [], "any": []}, "exactly one key"),
    ],
)
def test_bad_audience_rules_are_refused_with_their_path(
    session: Session, rules: Any, message: str
) -> None:
    with pytest.raises(ValidationFailed) as err:
        audience.validate(rules)
    assert message in err.value.message


# -- templates ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("template", "message"),
    [
        ("Hi {{ name ", "template (line 1)"),
        ("Hi {{ nickname }}", "unknown variable(s) nickname"),
        ("{{ ''.__class__.__mro__[1].__subclasses__() }}", "fails to render"),
        ("{{ name.__init__.__globals__ }}", "fails to render"),
        ("{% for i in range(1500) %}{{ name }}{% endfor %}", "longer than 4000"),
        ("{% for i in range(5000) %}{{ name }}{% endfor %}", "more than 2,000 times"),
        ("   ", "write the message text"),
    ],
)
def test_invalid_templates_are_rejected_on_save(
    session: Session, template: str, message: str
) -> None:
    with pytest.raises(ValidationFailed) as err:
        _campaign(session, template=template)
    assert message in err.value.message
    assert session.scalar(select(func.count(Campaign.id))) == 0


def test_a_message_renders_with_a_real_customer(session: Session, settings: Settings) -> None:
    ann = make_customer(session, first_name="Ann", rfm_segment="At risk", churn_risk=ChurnRisk.high)
    preview = service.preview_message(
        session,
        campaign_fields(template="Hi {{ name }} ({{ segment }}): {{ offer_code }}"),
        ann.id,
        "secret",
    )
    assert preview["text"] == "Hi Ann (At risk): MISSYOU"
    unique = service.preview_message(
        session, campaign_fields(id=7, unique_codes=True, template="{{ offer_code }}"), ann.id, "s"
    )
    assert unique["text"].startswith("MISSYOU-") and len(unique["text"]) == len("MISSYOU-") + 8
    again = service.preview_message(
        session, campaign_fields(id=7, unique_codes=True, template="{{ offer_code }}"), ann.id, "s"
    )
    assert again["text"] == unique["text"]  # the same customer always gets the same code


# -- control group ------------------------------------------------------------------------


def test_the_control_group_is_deterministic_and_the_configured_share() -> None:
    ids = np.arange(1, 200_001, dtype=np.int64)
    held = messages.in_control(42, 10, ids)
    assert abs(held.mean() - 0.10) < 0.003
    assert np.array_equal(held, messages.in_control(42, 10, ids))
    assert np.array_equal(held[5000:6000], messages.in_control(42, 10, ids[5000:6000]))
    other = messages.in_control(43, 10, ids)
    assert (held != other).mean() > 0.005  # another campaign draws another group
    assert messages.in_control(42, 0, ids).sum() == 0
    assert abs(messages.in_control(42, 50, ids).mean() - 0.5) < 0.005


# -- planning -----------------------------------------------------------------------------


def _recipients(session: Session, n: int, **overrides: Any) -> list[int]:
    ids = []
    for _ in range(n):
        c = make_customer(session, churn_risk=ChurnRisk.high, **overrides)
        make_telegram_identity(session, c, 50_000 + c.id)
        ids.append(c.id)
    return ids


def _rows(session: Session, campaign: Campaign) -> dict[int, CampaignDelivery]:
    return {
        d.customer_id: d
        for d in session.scalars(
            select(CampaignDelivery).where(CampaignDelivery.campaign_id == campaign.id)
        )
    }


def test_planning_splits_control_applies_guards_and_is_idempotent(
    session: Session, settings: Settings
) -> None:
    ok = _recipients(session, 40)
    no_consent = make_customer(session, churn_risk=ChurnRisk.high, marketing_consent=False)
    make_telegram_identity(session, no_consent, 7001)
    opted_out = make_customer(session, churn_risk=ChurnRisk.high, opted_out_at=NOW)
    make_telegram_identity(session, opted_out, 7002)
    web_only = make_customer(session, churn_risk=ChurnRisk.high)
    make_web_identity(session, web_only, "v-web-only")
    busy = make_customer(session, churn_risk=ChurnRisk.high)
    make_telegram_identity(session, busy, 7003)
    earlier = _campaign(session, name="Earlier", audience={})
    for days in (1, 3):
        session.add(
            CampaignDelivery(
                campaign_id=earlier.id,
                customer_id=busy.id,
                occurrence_key=f"at:{days}",
                group=DeliveryGroup.treatment,
                status=OutboxStatus.queued,
                sent_at=NOW - dt.timedelta(days=days),
            )
        )
    make_customer(session, churn_risk=ChurnRisk.low)  # not in the audience
    campaign = _campaign(session, control_percent=25)
    campaign.status = CampaignStatus.scheduled
    result = runs.plan_run(session, campaign, settings, occurrence_key="once", now=NOW)
    rows = _rows(session, campaign)
    members = [*ok, no_consent.id, opted_out.id, web_only.id, busy.id]
    assert set(rows) == set(members) and result.audience == len(members)
    control = {c for c, d in rows.items() if d.group is DeliveryGroup.control}
    expected = set(np.array(members)[messages.in_control(campaign.id, 25, np.array(members))])
    assert control == expected and result.control == len(control) > 0
    assert all(
        rows[c].status is OutboxStatus.held_out and rows[c].offer_code is None for c in control
    )
    reasons = {
        no_consent.id: "no_consent",
        opted_out.id: "opted_out",
        web_only.id: "unreachable",
        busy.id: "frequency_cap",
    }
    for customer_id, reason in reasons.items():
        if customer_id not in control:
            assert rows[customer_id].status is OutboxStatus.skipped
            assert rows[customer_id].skip_reason == reason
    assert all(rows[c].status is OutboxStatus.pending for c in ok if c not in control)
    assert all(rows[c].offer_code == "MISSYOU" for c in ok if c not in control)
    again = runs.plan_run(session, campaign, settings, occurrence_key="once", now=NOW)
    assert again.already_planned and len(_rows(session, campaign)) == len(members)


def test_a_campaign_cap_limits_the_messages_of_an_occurrence(
    session: Session, settings: Settings
) -> None:
    _recipients(session, 30)
    campaign = _campaign(session, control_percent=0, max_messages=12)
    result = runs.plan_run(session, campaign, settings, occurrence_key="once", now=NOW)
    assert result.skipped == {"campaign_cap": 18}
    statuses = [d.status for d in _rows(session, campaign).values()]
    assert statuses.count(OutboxStatus.pending) == 12


# -- dispatch (send-time guards) ----------------------------------------------------------


def test_dispatch_rechecks_guards_defers_in_quiet_hours_and_hands_over_once(
    session: Session, settings: Settings
) -> None:
    ids = _recipients(session, 5)
    campaign = _campaign(session, control_percent=0)
    service.activate(session, campaign, None, settings, now=NOW)
    rows = _rows(session, campaign)
    assert all(d.status is OutboxStatus.pending for d in rows.values())
    first, second, third, fourth, fifth = (session.get_one(Customer, i) for i in ids)
    second.opted_out_at = NOW
    third.marketing_consent = False
    fourth.timezone = "Asia/Tokyo"  # 21:00 there: quiet hours until 09:00
    fifth.identities[0].reachable = False
    session.flush()
    result = dispatch.dispatch(session, settings, now=NOW)
    assert result.queued == 1 and result.deferred == 1
    assert dict(result.skipped) == {"opted_out": 1, "no_consent": 1, "unreachable": 1}
    session.expire_all()
    rows = _rows(session, campaign)
    sent = rows[first.id]
    assert sent.status is OutboxStatus.queued and sent.sent_at == NOW
    message = session.get_one(Message, sent.message_id)
    assert message.text == f"Hi {first.first_name}, we miss you! Use MISSYOU for 10% off."
    assert message.delivery_status is DeliveryStatus.pending
    assert message.payload["at_most_once"] is True
    assert message.conversation.status.value == "resolved"
    deferred = rows[fourth.id]
    assert deferred.status is OutboxStatus.pending
    assert deferred.next_attempt_at == dt.datetime(2026, 6, 16, 0, 0, tzinfo=dt.UTC)  # 09:00 JST
    # Nothing more is due now; after the quiet hours the deferred one goes out, once.
    assert dispatch.dispatch(session, settings, now=NOW).queued == 0
    later = dt.datetime(2026, 6, 16, 0, 0, 1, tzinfo=dt.UTC)
    assert dispatch.dispatch(session, settings, now=later).queued == 1
    assert dispatch.dispatch(session, settings, now=later).queued == 0
    messages_sent = session.scalar(
        select(func.count(CampaignDelivery.id)).where(
            CampaignDelivery.campaign_id == campaign.id, CampaignDelivery.message_id.is_not(None)
        )
    )
    assert messages_sent == 2


def test_the_frequency_cap_counts_messages_across_campaigns_at_send_time(
    session: Session, settings: Settings
) -> None:
    _recipients(session, 1)
    names = ["One", "Two", "Three"]
    for name in names:
        campaign = _campaign(session, name=name, control_percent=0)
        service.activate(session, campaign, None, settings, now=NOW)
    result = dispatch.dispatch(session, settings, now=NOW)
    assert result.queued == 2 and dict(result.skipped) == {"frequency_cap": 1}
    # Seven days later the cap has room again.
    fourth = _campaign(session, name="Four", control_percent=0)
    service.activate(session, fourth, None, settings, now=NOW + dt.timedelta(days=7, seconds=1))
    assert (
        dispatch.dispatch(session, settings, now=NOW + dt.timedelta(days=7, seconds=1)).queued == 1
    )


def test_paused_campaigns_send_nothing_and_finishing_skips_what_is_left(
    session: Session, settings: Settings
) -> None:
    _recipients(session, 3)
    campaign = _campaign(
        session,
        control_percent=0,
        schedule_kind="recurring",
        schedule={"cron": "0 9 * * *", "timezone": "Europe/Berlin"},
    )
    service.activate(session, campaign, None, settings, now=NOW)
    service.run_once(session, campaign, settings, fire_time=NOW, now=NOW)
    service.pause(session, campaign, None)
    assert dispatch.dispatch(session, settings, now=NOW).queued == 0
    with pytest.raises(Conflict):
        service.run_once(session, campaign, settings, fire_time=NOW, now=NOW)
    assert service.finish(session, campaign, None) == 3
    assert {d.skip_reason for d in _rows(session, campaign).values()} == {"campaign_finished"}
    actions = [a["action"] for a in service.audit_trail(session, campaign.id)]
    assert actions == ["created", "activated", "run", "paused", "finished"]


# -- triggers -----------------------------------------------------------------------------


def test_triggers_fire_once_per_customer_and_occurrence(
    session: Session, settings: Settings
) -> None:
    ids = _recipients(session, 4)
    a, b, c, d = ids
    churn = _campaign(
        session,
        name="Churn",
        control_percent=0,
        audience={},
        schedule_kind="triggered",
        schedule={"trigger": "churn_high"},
    )
    birthday = _campaign(
        session,
        name="Birthday",
        control_percent=0,
        audience={},
        schedule_kind="triggered",
        schedule={"trigger": "birthday"},
    )
    lapsed = _campaign(
        session,
        name="Lapsed",
        control_percent=0,
        audience={},
        schedule_kind="triggered",
        schedule={"trigger": "days_after_last_order", "days": 30},
    )
    unhappy = _campaign(
        session,
        name="Unhappy",
        control_percent=0,
        audience={},
        schedule_kind="triggered",
        schedule={"trigger": "low_csat"},
    )
    start = NOW - dt.timedelta(hours=1)
    for campaign in (churn, birthday, lapsed, unhappy):
        service.activate(session, campaign, None, settings, now=start)
    # Before activation: ignored. After: fires.
    session.add(
        CustomerEvent(
            customer_id=a,
            kind="churn_risk_changed",
            data={"from": "low", "to": "high"},
            created_at=start - dt.timedelta(minutes=5),
        )
    )
    session.add(
        CustomerEvent(
            customer_id=b,
            kind="churn_risk_changed",
            data={"from": "low", "to": "high"},
            created_at=NOW - dt.timedelta(minutes=5),
        )
    )
    session.add(
        CustomerEvent(
            customer_id=c,
            kind="churn_risk_changed",
            data={"from": "high", "to": "medium"},
            created_at=NOW - dt.timedelta(minutes=5),
        )
    )
    session.get_one(Customer, c).birthday = dt.date(2000, NOW.month, NOW.day)
    make_order(
        session, session.get_one(Customer, d), ordered_at=NOW - dt.timedelta(days=30, hours=2)
    )
    make_order(session, session.get_one(Customer, a), ordered_at=NOW - dt.timedelta(days=31))
    make_order(session, session.get_one(Customer, a), ordered_at=NOW - dt.timedelta(days=5))
    make_survey(
        session,
        session.get_one(Customer, a),
        kind=SurveyKind.csat,
        status=SurveyStatus.answered,
        score=1,
        answered_at=NOW - dt.timedelta(minutes=1),
    )
    make_survey(
        session,
        session.get_one(Customer, b),
        kind=SurveyKind.csat,
        status=SurveyStatus.answered,
        score=4,
        answered_at=NOW - dt.timedelta(minutes=1),
    )
    session.flush()
    results = runs.run_triggers(session, settings, now=NOW)
    assert [r.audience for r in results] == [1, 1, 1, 1]  # one customer per campaign

    def members(campaign: Campaign) -> dict[int, str]:
        return {cid: row.occurrence_key for cid, row in _rows(session, campaign).items()}

    event_b = session.scalar(select(CustomerEvent.id).where(CustomerEvent.customer_id == b))
    assert members(churn) == {b: f"event:{event_b}"}
    assert members(birthday) == {c: "birthday:2026"}
    assert members(lapsed) == {d: f"last_order:{(NOW - dt.timedelta(days=30)).date()}"}
    assert list(members(unhappy)) == [a]
    # A second sweep adds nobody; a new occurrence for the same customer fires again.
    assert runs.run_triggers(session, settings, now=NOW + dt.timedelta(minutes=1)) == []
    session.add(
        CustomerEvent(
            customer_id=b,
            kind="churn_risk_changed",
            data={"from": "medium", "to": "high"},
            created_at=NOW + dt.timedelta(minutes=2),
        )
    )
    session.flush()
    again = runs.run_triggers(session, settings, now=NOW + dt.timedelta(minutes=3))
    assert [r.audience for r in again] == [1]
    keys = session.scalars(
        select(CampaignDelivery.occurrence_key).where(CampaignDelivery.campaign_id == churn.id)
    ).all()
    assert len(keys) == 2 and len(set(keys)) == 2


# -- report -------------------------------------------------------------------------------


def test_the_report_numbers_on_a_known_data_set(session: Session, settings: Settings) -> None:
    campaign = _campaign(
        session,
        offer_code="SAVE10",
        offer_value="5.00",
        message_cost="0.10",
        attribution_days=14,
    )
    start = NOW

    def member(
        group: DeliveryGroup, *orders: tuple[int, str, OrderStatus, str | None]
    ) -> CampaignDelivery:
        customer = make_customer(session)
        make_telegram_identity(session, customer, 90_000 + customer.id)
        make_order(
            session,
            customer,
            ordered_at=start - dt.timedelta(days=3),
            total_amount=Decimal("99.00"),
        )
        for days, amount, status, code in orders:
            make_order(
                session,
                customer,
                ordered_at=start + dt.timedelta(days=days),
                total_amount=Decimal(amount),
                status=status,
                offer_code=code,
            )
        row = CampaignDelivery(
            campaign_id=campaign.id,
            customer_id=customer.id,
            occurrence_key="once",
            group=group,
            status=OutboxStatus.pending
            if group is DeliveryGroup.treatment
            else OutboxStatus.held_out,
            offer_code="SAVE10" if group is DeliveryGroup.treatment else None,
            created_at=start,
        )
        session.add(row)
        session.flush()
        return row

    shipped = OrderStatus.shipped
    treated = [
        member(DeliveryGroup.treatment, (2, "50.00", shipped, None)),
        member(DeliveryGroup.treatment, (20, "70.00", shipped, None)),  # after the window
        member(DeliveryGroup.treatment, (1, "60.00", OrderStatus.cancelled, None)),
        member(DeliveryGroup.treatment, (5, "30.00", shipped, "SAVE10")),
    ]
    for _ in range(3):
        member(DeliveryGroup.control)
    member(DeliveryGroup.control, (13, "40.00", shipped, None))
    campaign.status = CampaignStatus.scheduled
    result = dispatch.dispatch(session, settings, now=start)
    assert result.queued == 4
    session.expire_all()
    for row, status in zip(treated, ("sent", "sent", "delivered", "failed"), strict=True):
        session.get_one(
            Message, session.get_one(CampaignDelivery, row.id).message_id
        ).delivery_status = DeliveryStatus(status)
    session.flush()
    report = campaign_report(session, campaign)
    assert report["audience"] == 8 and report["treatment"] == 4 and report["control"] == 4
    assert report["delivered"] == 3
    assert report["conversions"] == {
        "treatment": 2,
        "control": 1,
        "treatment_rate": 0.5,
        "control_rate": 0.25,
    }
    lift = report["uplift"]
    assert lift["absolute"] == pytest.approx(0.25)
    assert lift["absolute_ci95"] == pytest.approx([-0.39819716021702845, 0.8981971602170284])
    assert lift["relative"] == pytest.approx(1.0)
    assert lift["relative_ci95"] == pytest.approx([-0.718273011813565, 13.19814276846267])
    assert report["incremental_conversions"] == pytest.approx(1.0)
    assert report["revenue"] == {"treatment": "80.00", "control": "40.00"}
    assert report["incremental_revenue"] == "40.00"
    assert report["redemptions"] == 1
    assert report["costs"] == "5.30"
    assert report["roi"] == pytest.approx(6.547169811320756)
    assert [s["count"] for s in report["funnel"]] == [8, 4, 4, 3, 2]
    csv_text = report_csv(report)
    assert "uplift.absolute_ci95," in csv_text and "roi,6.54716981" in csv_text
    # Only offer-code orders convert when the campaign says so.
    campaign.attribution = "offer_code"
    coded = campaign_report(session, campaign)
    assert coded["conversions"]["treatment"] == 1 and coded["conversions"]["control"] == 0


def test_uplift_without_conversions_has_no_relative_interval() -> None:
    lift = uplift(0, 10, 0, 10)
    assert lift["absolute"] == 0 and lift["relative"] is None
    assert uplift(1, 0, 1, 10)["absolute"] is None


# -- the at-most-once outbox --------------------------------------------------------------


def test_a_crashed_senders_claims_resolve_without_duplicates(
    session: Session, settings: Settings
) -> None:
    ids = _recipients(session, 3)
    campaign = _campaign(session, control_percent=0)
    service.activate(session, campaign, None, settings, now=NOW)
    dispatch.dispatch(session, settings, now=NOW)
    claimed = outbox.claim_due(session, channel=Channel.telegram, limit=10, now=NOW)
    assert len(claimed) == 3
    outbox.start_attempt(session, message_id=claimed[0].message_id, now=NOW)
    outbox.mark_sent(
        session, message_id=claimed[1].message_id, channel_message_id="1:1", attempts=1
    )
    back = outbox.release_stale(
        session,
        channel=Channel.telegram,
        older_than=dt.timedelta(seconds=5),
        now=NOW + dt.timedelta(minutes=1),
    )
    assert back == 1
    session.expire_all()
    states = {
        m.id: m.delivery_status
        for m in session.scalars(
            select(Message).where(Message.id.in_([c.message_id for c in claimed]))
        )
    }
    assert states == {
        claimed[0].message_id: DeliveryStatus.unconfirmed,  # may have reached Telegram
        claimed[1].message_id: DeliveryStatus.sent,
        claimed[2].message_id: DeliveryStatus.pending,  # never attempted: sent later
    }
    assert len(ids) == 3


# -- API ----------------------------------------------------------------------------------


def _bearer(session: Session, user: Any) -> dict[str, str]:
    from crm.users.service import create_api_token

    plain, _ = create_api_token(session, user=user, name="test")
    session.commit()
    return {"Authorization": f"Bearer {plain}"}


def test_the_campaign_api_for_marketers(
    client: Any, session: Session, staff: dict[str, Any]
) -> None:
    ids = _recipients(session, 12)
    make_customer(session, churn_risk=ChurnRisk.low)
    headers = _bearer(session, staff["marketer"])
    rules = {"all": [{"field": "churn_risk", "op": "in", "value": ["high"]}]}
    preview = client.post(
        "/api/v1/campaigns/preview/audience", json={"audience": rules}, headers=headers
    )
    assert preview.status_code == 200
    assert preview.json()["size"] == 12
    assert preview.json()["sample"][0]["email"].startswith("t***@")  # masked for marketers
    bad = client.post(
        "/api/v1/campaigns", json=campaign_fields(template="Hi {{ nickname }}"), headers=headers
    )
    assert bad.status_code == 422 and "nickname" in bad.json()["error"]["message"]
    text = client.post("/api/v1/campaigns/preview/message", json=campaign_fields(), headers=headers)
    assert text.status_code == 200 and text.json()["customer_id"] == ids[0]
    created = client.post(
        "/api/v1/campaigns", json=campaign_fields(control_percent=25), headers=headers
    )
    assert created.status_code == 201, created.text
    cid = created.json()["id"]
    assert created.json()["status"] == "draft"
    patched = client.patch(
        f"/api/v1/campaigns/{cid}", json={"name": "Win back (Q3)"}, headers=headers
    )
    assert patched.json()["name"] == "Win back (Q3)"
    activated = client.post(f"/api/v1/campaigns/{cid}/activate", headers=headers)
    assert activated.status_code == 200
    run = activated.json()["run"]
    assert run["audience"] == 12 and run["treatment"] + run["control"] == 12
    assert activated.json()["status"] == "finished"  # a one-off campaign, planned
    assert (
        client.patch(f"/api/v1/campaigns/{cid}", json={"name": "x"}, headers=headers).status_code
        == 409
    )
    report = client.get(f"/api/v1/campaigns/{cid}/report", headers=headers).json()
    assert report["audience"] == 12 and report["treatment"] == run["treatment"]
    csv_response = client.get(f"/api/v1/campaigns/{cid}/report?format=csv", headers=headers)
    assert csv_response.headers["content-type"].startswith("text/csv")
    assert "audience,12" in csv_response.text
    detail = client.get(f"/api/v1/campaigns/{cid}", headers=headers).json()
    assert [a["action"] for a in detail["audit"]] == [
        "created",
        "updated",
        "activated",
        "run",
        "finished",
    ]
    assert detail["audit"][1]["changes"] == {"name": ["Win back", "Win back (Q3)"]}
    assert detail["audit"][1]["user"] == staff["marketer"].display_name
    agent = _bearer(session, staff["agent"])
    assert client.get("/api/v1/campaigns", headers=agent).status_code == 403
    assert client.get("/api/v1/campaigns/999999", headers=headers).status_code == 404

"""Customer 360 and segments (API and roles), privacy export and erase (CLI and API),
masking for marketers, and no personal data in the logs."""

from __future__ import annotations

import datetime as dt
import json
import logging
from decimal import Decimal
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from app.cli import app
from crm.conversations import inbox
from crm.customers.privacy import ERASED, erase_customer, mask_email, mask_phone
from crm.customers.profile import customer_export
from crm.customers.service import add_block
from crm.models import (
    BlockReason,
    ChannelIdentity,
    ChurnRisk,
    Customer,
    CustomerEvent,
    Message,
    Order,
    SurveyResponse,
    User,
)
from crm.scoring.segments import segment_report
from tests.factories import (
    make_conversation,
    make_customer,
    make_order,
    make_survey,
    make_web_identity,
)
from tests.test_cli import cli_env  # noqa: F401 (a fixture)
from tests.test_inbox import login


def known_customer(session: Session) -> Customer:
    customer = make_customer(
        session,
        first_name="Greta",
        last_name="Jensen",
        email="greta@example.com",
        phone="+4915112345678",
        external_id="C-77",
        rfm_segment="At risk",
        rfm_score="233",
        clv=Decimal("120.50"),
        churn_probability=0.72,
        churn_risk=ChurnRisk.high,
        churn_reasons=["no order for 94 days, usually every 20 days"],
    )
    identity = make_web_identity(session, customer, "greta-web")
    make_order(session, customer, total_amount=Decimal("80.00"))
    make_conversation(session, customer, identity, text="my parcel never came, I am furious")
    make_survey(session, customer, score=1, comment="slow and rude")
    session.add(
        CustomerEvent(
            customer_id=customer.id, kind="churn_risk_changed", data={"from": "low", "to": "high"}
        )
    )
    session.flush()
    return customer


def test_masks() -> None:
    assert mask_email("greta@example.com") == "g***@example.com"
    assert mask_phone("+4915112345678") == "+49*********78"
    assert mask_email(None) is None and mask_phone("") is None


def test_customer_360_for_agents_and_masked_for_marketers(
    client: TestClient, session: Session, staff: dict[str, User]
) -> None:
    customer = known_customer(session)
    login(client, staff["agent"])
    full = client.get(f"/api/v1/customers/{customer.id}").json()
    assert full["email"] == "greta@example.com" and full["phone"] == "+4915112345678"
    assert full["segment"] == "At risk" and full["churn_risk"] == "high"
    assert full["churn_reasons"] == ["no order for 94 days, usually every 20 days"]
    # Scoring stores codes and values; the page words them.
    customer.churn_reasons = [
        {"code": "days_since_last_order", "value": 94, "usual_gap_days": 20},
        {"code": "nps_last", "value": 3},
    ]
    session.flush()
    worded = client.get(f"/api/v1/customers/{customer.id}").json()["churn_reasons"]
    assert worded == ["no order for 94 days, usually every 20 days", "NPS 3 (detractor)"]
    assert full["identities"][0]["external_id"] == "greta-web"
    assert full["surveys"][0]["comment"] == "slow and rude"
    assert full["events"][0]["data"]["to"] == "high"
    assert client.get(f"/customers/{customer.id}").status_code == 200

    login(client, staff["marketer"])
    masked = client.get(f"/api/v1/customers/{customer.id}").json()
    assert masked["email"] == "g***@example.com" and masked["phone"] == "+49*********78"
    assert masked["identities"][0]["external_id"] is None
    assert masked["surveys"][0]["comment"] is None
    assert "furious" not in json.dumps(masked)  # no transcripts for marketers
    listed = client.get("/api/v1/customers?segment=At risk").json()["customers"]
    assert listed[0]["email"] == "g***@example.com"
    assert client.get("/api/v1/customers?risk=extreme").status_code == 422
    assert client.get(f"/api/v1/customers/{customer.id}/export").status_code == 403
    assert client.get("/api/v1/customers/999999").status_code in (403, 404)


def test_segments_report_and_page(
    client: TestClient, session: Session, staff: dict[str, User]
) -> None:
    now = dt.datetime(2026, 6, 1, tzinfo=dt.UTC)
    champion = make_customer(session, rfm_segment="Champions", rfm_score="555", clv=Decimal("900"))
    at_risk = make_customer(
        session,
        rfm_segment="At risk",
        rfm_score="242",
        clv=Decimal("100"),
        churn_probability=0.8,
        churn_risk=ChurnRisk.high,
    )
    make_customer(session)  # never ordered
    make_order(
        session, champion, ordered_at=now - dt.timedelta(days=10), total_amount=Decimal("300")
    )
    make_order(
        session, at_risk, ordered_at=now - dt.timedelta(days=200), total_amount=Decimal("100")
    )
    make_order(
        session, at_risk, ordered_at=now - dt.timedelta(days=500), total_amount=Decimal("50")
    )
    report = segment_report(session, now=now)
    rows = {r["segment"]: r for r in report["segments"]}
    assert rows["Champions"]["revenue_share_pct"] == 75.0
    assert rows["At risk"]["revenue_share_pct"] == 25.0
    assert rows["At risk"]["churn_risk"] == {"high": 1}
    assert rows["No orders"]["customers"] >= 1
    assert {"r": 5, "fm": 5, "customers": 1, "average_clv": 900.0} in report["clv_heatmap"]
    assert {"r": 2, "fm": 3, "customers": 1, "average_clv": 100.0} in report["clv_heatmap"]
    assert report["churn_probability_histogram"][8]["customers"] == 1
    assert report["churn_risk_totals"]["high"] == 1

    login(client, staff["marketer"])
    assert client.get("/api/v1/analytics/segments").status_code == 200
    assert client.get("/analytics/segments").status_code == 200
    login(client, staff["agent"])
    assert client.get("/api/v1/analytics/segments").status_code == 403


def test_export_holds_everything_and_erase_keeps_only_aggregates(session: Session) -> None:
    customer = known_customer(session)
    document = customer_export(session, customer.id)
    assert document["customer"]["email"] == "greta@example.com"
    assert document["identities"][0]["external_id"] == "greta-web"
    assert document["orders"][0]["total_amount"] == "80.00"
    texts = [m["text"] for c in document["conversations"] for m in c["messages"]]
    assert "my parcel never came, I am furious" in texts
    assert document["surveys"][0]["comment"] == "slow and rude"
    assert document["scores"]["churn_risk"] == "high"
    assert document["scores"]["churn_reasons"] == ["no order for 94 days, usually every 20 days"]
    add_block(session, customer_id=customer.id, reason=BlockReason.manual, note="Greta called")
    message = session.scalars(select(Message).where(Message.customer_id == customer.id)).first()
    assert message is not None
    message.corrected_intent = "complaint"
    document = customer_export(session, customer.id)
    assert document["contact_blocks"][0]["note"] == "Greta called"

    changed = erase_customer(session, customer.id)
    assert changed == {"messages": 1, "survey_comments": 1, "identities": 1}
    session.expire_all()
    erased = session.get_one(Customer, customer.id)
    assert (erased.first_name, erased.email, erased.phone, erased.external_id) == (None,) * 4
    assert erased.marketing_consent is False and erased.opted_out_at is not None
    assert (
        session.scalars(
            select(ChannelIdentity).where(ChannelIdentity.customer_id == customer.id)
        ).all()
        == []
    )
    assert {
        m.text for m in session.scalars(select(Message).where(Message.customer_id == customer.id))
    } == {ERASED}
    assert inbox.corrections(session) == []  # an erased text trains nothing
    survey = session.scalars(
        select(SurveyResponse).where(SurveyResponse.customer_id == customer.id)
    ).one()
    assert survey.score == 1 and survey.comment is None  # the score stays for analytics
    order = session.scalars(select(Order).where(Order.customer_id == customer.id)).one()
    assert order.total_amount == Decimal("80.00")  # revenue stays
    again = customer_export(session, customer.id)
    assert "greta" not in json.dumps(again).lower()


def test_privacy_api_is_for_admins(
    client: TestClient, session: Session, staff: dict[str, User]
) -> None:
    customer = known_customer(session)
    token = login(client, staff["agent"])
    assert (
        client.post(
            f"/api/v1/customers/{customer.id}/erase", headers={"X-CSRF-Token": token}
        ).status_code
        == 403
    )
    token = login(client, staff["admin"])
    exported = client.get(f"/api/v1/customers/{customer.id}/export")
    assert exported.status_code == 200 and exported.json()["customer"]["external_id"] == "C-77"
    erased = client.post(f"/api/v1/customers/{customer.id}/erase", headers={"X-CSRF-Token": token})
    assert erased.status_code == 200 and erased.json()["identities"] == 1
    assert client.get(f"/api/v1/customers/{customer.id}").json()["erased"] is True


def test_cli_export_and_erase(cli_env: str, tmp_path: Path) -> None:  # noqa: F811
    runner = CliRunner()
    assert runner.invoke(app, ["db", "upgrade"]).exit_code == 0
    source = tmp_path / "c.csv"
    source.write_text("id,email,first_name\nK1,kim@example.com,Kim\n")
    assert runner.invoke(app, ["import", "customers", str(source)]).exit_code == 0
    out = tmp_path / "kim.json"
    res = runner.invoke(app, ["customer", "export", "1", "--output", str(out)])
    assert res.exit_code == 0, res.output
    assert json.loads(out.read_text())["customer"]["email"] == "kim@example.com"
    refused = runner.invoke(app, ["customer", "erase", "1"])
    assert refused.exit_code == 2 and "--yes" in refused.output
    done = runner.invoke(app, ["customer", "erase", "1", "--yes"])
    assert done.exit_code == 0 and "erased" in done.output
    assert "kim" not in runner.invoke(app, ["customer", "export", "1"]).output.lower()
    missing = runner.invoke(app, ["customer", "export", "99"])
    assert missing.exit_code == 1 and "not found" in missing.output


def test_personal_data_never_reaches_the_logs(
    client: TestClient, session: Session, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    client.post(
        "/api/v1/chat/messages",
        json={
            "session_id": "privacy-log-1",
            "text": "I am Zelda Quartz, zelda.quartz@example.com, +49 151 99887766: my order?",
            "first_name": "Zelda",
        },
    )
    logged = "\n".join(r.getMessage() for r in caplog.records)
    for secret in ("Zelda", "zelda.quartz@example.com", "99887766"):
        assert secret not in logged

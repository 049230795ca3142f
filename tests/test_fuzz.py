"""The API fuzz test: schemathesis generates requests for every operation of the OpenAPI
document (valid ones and invalid ones), sends them to the real app in-process, and checks
each answer: never a server error (5xx), and status, content type and body as documented.

It runs anonymously and as each staff role, on SQLite and on PostgreSQL, over a small
shop (customers, conversations, a campaign, a team) so that small ids hit real rows. The
number of examples per operation is bounded and the same on every run; ``make fuzz``
runs the same check with 25 times as many, new ones each time. See docs/testing-fuzz.md.
"""

from __future__ import annotations

import datetime as dt
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis.checks import CheckFunction, not_a_server_error
from schemathesis.specs.openapi import checks as openapi_checks
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from bot.engine import Engine as BotEngine
from careloop.config import Settings
from crm.campaigns import service as campaigns
from crm.customers import service as customer_service
from crm.db import utcnow
from crm.models import BlockReason, ConversationStatus, Role, Team
from crm.users.service import create_api_token
from tests.factories import (
    campaign_fields,
    make_conversation,
    make_customer,
    make_order,
    make_survey,
    make_user,
    make_web_identity,
)
from web.app import create_app

ROLES = ("anonymous", "agent", "marketer", "admin")
# Streams never end by themselves: their parameters are covered by their own tests.
STREAMS = {
    ("GET", "/api/v1/chat/sessions/{session_id}/events"),
    ("GET", "/api/v1/inbox/events"),
}
CHECKS: list[CheckFunction] = [
    not_a_server_error,
    openapi_checks.status_code_conformance,
    openapi_checks.content_type_conformance,
    openapi_checks.response_schema_conformance,
]
# Examples per operation: a signed-out caller only ever meets the sign-in check.
EXAMPLES = {"anonymous": 3, "agent": 12, "marketer": 12, "admin": 12}


def examples_for(role: str) -> int:
    scale = float(os.environ.get("CARELOOP_FUZZ_SCALE", "1"))
    return max(1, round(EXAMPLES[role] * scale))


@dataclass
class Finding:
    operation: str
    error: str


@dataclass
class FuzzReport:
    requests: int = 0
    statuses: dict[int, int] = field(default_factory=dict)
    findings: list[Finding] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)


def seed_shop(session: Session) -> None:
    """A few of everything, so that ids 1, 2, 3 ... name real rows."""
    now = utcnow()
    for n in range(3):
        customer = make_customer(session, churn_probability=0.2 * n)
        identity = make_web_identity(session, customer, f"visitor-{n}")
        make_order(session, customer)
        conversation = make_conversation(session, customer, identity)
        make_survey(
            session,
            customer,
            score=n + 3,
            conversation_id=conversation.id,
            answered_at=now - dt.timedelta(days=1),
        )
        make_conversation(
            session,
            customer,
            identity,
            status=ConversationStatus.waiting,
            resolved_at=None,
            resolved_by=None,
            escalated_at=now,
            escalation_reason="customer_asked",
            priority=50,
        )
        customer_service.add_block(
            session,
            customer_id=customer.id,
            channel="any",
            reason=BlockReason.manual,
            note="asked not to be contacted",
            by=None,
        )
    campaigns.create_campaign(session, campaign_fields(), None)
    session.add(Team(name="Delivery", business_hours="mon-fri 09:00-18:00", intents=[]))
    session.flush()


def request_kwargs(case: schemathesis.Case, headers: dict[str, str]) -> dict[str, Any]:
    """The case as arguments of the test client's ``request``."""
    kwargs = case.as_transport_kwargs(base_url="http://testserver", headers=headers)
    out: dict[str, Any] = {
        "method": kwargs["method"],
        "url": kwargs["url"],
        "headers": kwargs.get("headers"),
        "params": kwargs.get("params"),
    }
    if kwargs.get("cookies"):
        out["cookies"] = kwargs["cookies"]
    if "json" in kwargs:
        out["json"] = kwargs["json"]
    elif kwargs.get("data") is not None:
        data = kwargs["data"]
        if isinstance(data, bytes | str):
            out["content"] = data
        else:
            out["data"] = data
    return out


def fuzz(
    app: FastAPI,
    client: TestClient,
    headers: dict[str, str],
    max_examples: int,
    *,
    seed: int | None = 0,
) -> FuzzReport:
    """Every operation, ``max_examples`` valid and invalid requests each."""
    schema = schemathesis.openapi.from_dict(app.openapi())
    report = FuzzReport()
    for result in schema.get_all_operations():
        operation = result.ok()
        if (operation.method.upper(), operation.path) in STREAMS:
            continue
        strategy = st.one_of(
            operation.as_strategy(generation_mode=schemathesis.GenerationMode.POSITIVE),
            operation.as_strategy(generation_mode=schemathesis.GenerationMode.NEGATIVE),
        )

        @settings(
            max_examples=max_examples,
            deadline=None,
            database=None,
            derandomize=seed is not None,
            phases=[Phase.explicit, Phase.generate, Phase.shrink],
            suppress_health_check=list(HealthCheck),
        )
        @given(case=strategy)
        def check(case: schemathesis.Case) -> None:
            response = client.request(**request_kwargs(case, headers))
            report.requests += 1
            report.statuses[response.status_code] = report.statuses.get(response.status_code, 0) + 1
            case.validate_response(response, checks=CHECKS)

        started = time.perf_counter()
        try:
            check()
        except (Exception, BaseExceptionGroup) as exc:  # one per operation; the rest still run
            report.findings.append(Finding(operation.label, f"{type(exc).__name__}: {exc}"))
        report.seconds[operation.label] = time.perf_counter() - started
    return report


def fuzz_app(
    settings: Settings,
    bot: BotEngine,
    db_engine: Engine,
    session_factory: sessionmaker[Session],
) -> FastAPI:
    return create_app(
        settings, bot=bot, db_engine=db_engine, session_factory=session_factory, run_scheduler=False
    )


def role_headers(session: Session, role: str) -> dict[str, str]:
    if role == "anonymous":
        return {}
    user = make_user(session, Role(role))
    plain, _ = create_api_token(session, user=user, name="fuzz")
    return {"Authorization": f"Bearer {plain}"}


@pytest.fixture
def shop_client(
    settings: Settings,
    bot: BotEngine,
    db_engine: Engine,
    session_factory: sessionmaker[Session],
    session: Session,
) -> Iterator[tuple[FastAPI, TestClient]]:
    seed_shop(session)
    session.commit()
    app = fuzz_app(settings, bot, db_engine, session_factory)
    with TestClient(app, raise_server_exceptions=False) as client:
        yield app, client


def test_every_json_route_documents_its_answer_and_its_errors(settings: Settings) -> None:
    """A response model for each JSON answer, and the one error model for the errors."""
    document = create_app(settings).openapi()
    error_ref = "#/components/schemas/ErrorResponse"
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            label = f"{method.upper()} {path}"
            answers = {k: v for k, v in operation["responses"].items() if k.startswith("2")}
            assert answers, label
            for status, answer in answers.items():
                content = answer.get("content", {})
                if status == "204" or set(content) - {"application/json"}:
                    continue  # no body, or a stream or file (CSV, events) besides JSON
                schema = content.get("application/json", {}).get("schema", {})
                assert schema.get("$ref"), f"{label} answers untyped JSON"
            errors = {k: v for k, v in operation["responses"].items() if k[0] in "45"}
            assert "503" in errors, label
            assert "422" in errors or path == "/healthz", label
            for status, answer in errors.items():
                ref = answer["content"]["application/json"]["schema"].get("$ref")
                assert ref == error_ref or path == "/healthz", (label, status)


@pytest.mark.slow
@pytest.mark.parametrize("role", ROLES)
def test_no_operation_fails_or_leaves_its_documented_shape(
    role: str, shop_client: tuple[FastAPI, TestClient], session: Session
) -> None:
    app, client = shop_client
    headers = role_headers(session, role)
    session.commit()
    # CI runs the same examples every time; `make fuzz` explores new ones on each run.
    seed = None if os.environ.get("CARELOOP_FUZZ_RANDOM") else 0
    report = fuzz(app, client, headers, examples_for(role), seed=seed)
    slowest = sorted(report.seconds.items(), key=lambda kv: -kv[1])[:8]
    total = sum(report.seconds.values())
    print(
        f"{role}: {report.requests} requests in {total:.1f} s, statuses {report.statuses}, "
        f"slowest {[(op, round(t, 2)) for op, t in slowest]}"
    )
    assert report.requests > 0
    assert not report.findings, "\n\n".join(f"{f.operation}:\n{f.error}" for f in report.findings)
    assert not [s for s in report.statuses if s >= 500], report.statuses


@pytest.mark.parametrize(
    "url",
    [
        "/api/v1/analytics/satisfaction?end=0001-01-01",
        "/api/v1/analytics/satisfaction?start=9999-12-31&end=9999-12-31",
        "/api/v1/analytics/quality?end=0001-01-01",
        "/api/v1/conversations/export?start=9999-12-31&end=9999-12-31",
        "/api/v1/customers/2147483648",
        "/api/v1/admin/users/99999999999999999999",
        "/api/v1/inbox/conversations?offset=99999999999999999999",
        "/api/v1/chat/sessions/abc/messages?after=99999999999999999999",
    ],
)
def test_values_beyond_the_calendar_or_the_id_columns_are_a_clear_422(
    client: TestClient, session: Session, url: str
) -> None:
    """Found by the fuzz test: days at the calendar's ends and ids wider than the id
    columns were a 500 (an overflow in Python or in the database driver) or a 503."""
    headers = role_headers(session, "admin")
    session.commit()
    response = client.get(url, headers=headers)
    assert response.status_code == 422, response.text
    assert response.json()["error"]["code"] == "invalid"


def test_a_body_that_is_not_utf8_is_a_clear_422(client: TestClient) -> None:
    response = client.post(
        "/api/v1/chat/messages",
        content=b"\xff\xfe{",
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 422
    assert response.json()["error"] == {
        "code": "invalid",
        "message": "request body is not valid JSON (or not UTF-8)",
    }

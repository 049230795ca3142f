"""Faults an outside probe found in how careloop uses its database (issue 23, items 2, 3, 4
and 15): a claim that deadlocked against its own request, an HTTP import that locked out
everyone on SQLite, a scheduler that went on after losing its leader lock, and campaign
templates without bounds. Each runs on SQLite and PostgreSQL where the database matters."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select, text
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from bot.engine import Engine as BotEngine
from careloop.config import Settings
from careloop.errors import ValidationFailed
from crm.campaigns import dispatch, messages, service, templating
from crm.conversations import teams
from crm.db import create_db_engine, create_session_factory, session_scope, utcnow
from crm.imports import service as imports
from crm.models import (
    Channel,
    ChurnRisk,
    Conversation,
    ConversationStatus,
    Message,
    Role,
    SurveyKind,
    SurveyResponse,
    SurveyStatus,
)
from crm.surveys import service as surveys
from crm.users.service import create_api_token
from scheduler.app import LEADER_LOCK_KEY, JobRunner, LeaderLock, run_job
from scheduler.jobs import JobSpec
from tests.factories import (
    campaign_fields,
    make_conversation,
    make_customer,
    make_telegram_identity,
    make_user,
    make_web_identity,
)
from web.app import create_app


@pytest.fixture
def live_client(
    settings: Settings, bot: BotEngine, db_url: str, live_session_factory: sessionmaker[Session]
) -> Iterator[tuple[TestClient, sessionmaker[Session]]]:
    """The app on sessions that really commit, on an engine with the server's PostgreSQL
    timeouts (short ones, so that a lock wait fails the test instead of hanging it)."""
    engine = create_db_engine(db_url, statement_timeout_s=15, idle_in_transaction_timeout_s=30)
    factory = create_session_factory(engine)
    app = create_app(
        settings, bot=bot, db_engine=engine, session_factory=factory, run_scheduler=False
    )
    try:
        with TestClient(app) as client:
            yield client, factory
    finally:
        engine.dispose()


def _bearer(factory: sessionmaker[Session], role: Role) -> tuple[dict[str, str], int]:
    with session_scope(factory) as session:
        user = make_user(session, role)
        plain, _ = create_api_token(session, user=user, name="probe")
        return {"Authorization": f"Bearer {plain}"}, user.id


# -- item 2: claiming a team-routed conversation ------------------------------------------


def test_claiming_a_team_routed_conversation_answers_at_once(
    live_client: tuple[TestClient, sessionmaker[Session]],
) -> None:
    client, factory = live_client
    with session_scope(factory) as session:
        delivery = teams.save_team(session, {"name": "Delivery", "intents": ["delivery_problem"]})
        customer = make_customer(session)
        conversation = make_conversation(
            session,
            customer,
            intent="delivery_problem",
            text="my parcel is late AGAIN, this is ridiculous",
            status=ConversationStatus.waiting,
            resolved_at=None,
            escalated_at=utcnow(),
            team_id=delivery.id,
        )
        conversation_id, team_id = conversation.id, delivery.id
    headers, agent_id = _bearer(factory, Role.agent)
    # A first request within the minute: the sign-in's read is left in the request's
    # transaction (the token and presence writes happen once a minute).
    assert client.get("/api/v1/inbox/conversations", headers=headers).status_code == 200

    response = client.post(f"/api/v1/inbox/conversations/{conversation_id}/claim", headers=headers)

    assert response.status_code == 200, response.text
    body = response.json()["conversation"]
    assert body["assigned_agent_id"] == agent_id and body["team"]["id"] == team_id
    with session_scope(factory) as session:
        stored = session.get_one(Conversation, conversation_id)
        assert stored.status is ConversationStatus.assigned
        assert stored.assigned_agent_id == agent_id
    again = client.post(f"/api/v1/inbox/conversations/{conversation_id}/claim", headers=headers)
    assert again.status_code == 200, "a repeated click by the same agent"


def test_the_server_engine_gives_postgresql_connections_timeouts(
    db_url: str, settings: Settings, bot: BotEngine
) -> None:
    if not db_url.startswith("postgresql"):
        pytest.skip("statement and idle-in-transaction timeouts are PostgreSQL settings")
    app = create_app(settings, bot=bot, run_scheduler=False)
    with TestClient(app):
        engine: Engine = app.state.careloop.db_engine
        with engine.connect() as conn:
            assert conn.execute(text("SHOW statement_timeout")).scalar() == "30s"
            assert conn.execute(text("SHOW idle_in_transaction_session_timeout")).scalar() == "1min"
    quick = create_db_engine(db_url, statement_timeout_s=0.2)
    try:
        with quick.connect() as conn, pytest.raises(OperationalError, match="statement timeout"):
            conn.execute(text("SELECT pg_sleep(30)"))
    finally:
        quick.dispose()


# -- item 3: CSV import over HTTP while chat goes on ---------------------------------------


def test_an_http_import_runs_while_a_visitor_chats(
    live_client: tuple[TestClient, sessionmaker[Session]], monkeypatch: pytest.MonkeyPatch
) -> None:
    client, factory = live_client
    headers, _ = _bearer(factory, Role.admin)
    assert client.get("/api/v1/inbox/conversations", headers=headers).status_code == 200
    chats: list[int] = []
    write_batch = imports._write_batch

    def chat_then_write(*args: Any, **kwargs: Any) -> None:
        # While the import runs (in its worker thread), a visitor writes to the chat.
        if not chats:
            visitor = threading.Thread(
                target=lambda: chats.append(
                    client.post(
                        "/api/v1/chat/messages",
                        json={"session_id": "import-bystander", "text": "hello, anyone there?"},
                    ).status_code
                )
            )
            visitor.start()
            visitor.join()
        write_batch(*args, **kwargs)

    monkeypatch.setattr(imports, "_write_batch", chat_then_write)
    rows = "".join(f"c-{n},c{n}@example.com,Cust{n}\n" for n in range(50))

    response = client.post(
        "/api/v1/imports/customers",
        content="external_id,email,first_name\n" + rows,
        headers={**headers, "Content-Type": "text/csv"},
    )

    assert response.status_code == 200, response.text
    assert response.json()["created"] == 50
    assert chats == [200], "the visitor's message was answered during the import"


# -- item 4: a scheduler that lost its leader lock ------------------------------------------


def _lock_holder(admin: Engine) -> int:
    with admin.connect() as conn:
        pid = conn.execute(
            text(
                "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted"
                " AND objid::bigint = :k AND objsubid = 1"
            ),
            {"k": LEADER_LOCK_KEY},
        ).scalar_one()
        return int(pid)


def _terminate(admin: Engine, pid: int) -> None:
    # With a timeout the call returns once the backend has ended (and so released its
    # locks), not as soon as it was signalled: without one, the next statement could still
    # find the lock held.
    with admin.connect() as conn:
        ended = conn.execute(text("SELECT pg_terminate_backend(:p, 10000)"), {"p": pid})
        assert ended.scalar()


@pytest.mark.postgres
def test_a_leader_whose_lock_connection_drops_stops_its_jobs_and_a_standby_leads(
    db_url: str, settings: Settings, live_session_factory: sessionmaker[Session]
) -> None:
    if not db_url.startswith("postgresql"):
        pytest.skip("the leader lock is a PostgreSQL advisory lock; SQLite has one process")
    first_engine, second_engine = create_db_engine(db_url), create_db_engine(db_url)
    admin = create_db_engine(db_url)
    first = JobRunner(first_engine, create_session_factory(first_engine), settings)
    second = LeaderLock(second_engine)
    ran: list[str] = []
    probe = JobSpec("probe", lambda session, settings: ran.append("ran"), "interval", {}, "probe")
    try:
        assert first._become_leader() and first.is_leader
        assert first.scheduler.get_job("campaigns.dispatch") is not None
        assert run_job(probe, first.factory, settings, first.still_leader) is None
        assert ran == ["ran"]
        assert not second.try_acquire()

        _terminate(admin, _lock_holder(admin))
        assert second.try_acquire(), "the lock is free once its connection is gone"

        # The old leader's next job run asks the server first: it no longer leads.
        assert run_job(probe, first.factory, settings, first.still_leader) is None
        assert ran == ["ran"], "the job did not run"
        assert not first.is_leader and not first.lock.held
        assert first.scheduler.get_job("campaigns.dispatch") is None, "its jobs are stopped"
        assert first.scheduler.get_job("scheduler.leader") is not None, "it tries to lead again"

        second.release()  # the other process stops: the first one leads again
        assert first._become_leader() and first.is_leader
        assert first.scheduler.get_job("campaigns.dispatch") is not None
    finally:
        first.lock.release()
        second.release()
        for engine in (first_engine, second_engine, admin):
            engine.dispose()


@pytest.mark.postgres
def test_one_job_runs_in_one_process_at_a_time(db_url: str, settings: Settings) -> None:
    if not db_url.startswith("postgresql"):
        pytest.skip("job runs are fenced by PostgreSQL transaction advisory locks")
    engine = create_db_engine(db_url)
    factory = create_session_factory(engine)
    inner: list[Any] = []

    def meanwhile(session: Session, settings: Settings) -> str:
        # A second leader starts the same job while this run is in progress.
        inner.append(
            run_job(JobSpec("twice", lambda s, c: "inner", "interval", {}, ""), factory, settings)
        )
        return "outer"

    try:
        assert (
            run_job(JobSpec("twice", meanwhile, "interval", {}, ""), factory, settings) == "outer"
        )
        assert inner == [None], "the second run was skipped"
        assert (
            run_job(JobSpec("twice", lambda s, c: "again", "interval", {}, ""), factory, settings)
            == "again"
        )
    finally:
        engine.dispose()


def _due_campaign_message(factory: sessionmaker[Session], settings: Settings) -> Any:
    """A campaign delivery due now (for a reachable, consenting customer): its dispatcher,
    and what finds the messages it becomes."""
    with session_scope(factory) as session:
        customer = make_customer(session, churn_risk=ChurnRisk.high, timezone="UTC")
        make_telegram_identity(session, customer, 90_000 + customer.id)
        campaign = service.create_campaign(session, campaign_fields(control_percent=0), None)
        service.activate(session, campaign, None, settings)
        key = campaign.id

    def send(session: Session) -> int:
        try:
            return dispatch.dispatch(session, settings).queued
        except IntegrityError:  # the unique outbox key: the whole batch is rolled back
            session.rollback()
            return 0

    return send, Message.payload["campaign_id"].as_integer() == key


def _due_nps_question(factory: sessionmaker[Session], settings: Settings) -> Any:
    """An NPS survey due now (it has no conversation of its own): its dispatcher, and what
    finds the question messages."""
    with session_scope(factory) as session:
        customer = make_customer(session)
        make_web_identity(session, customer, f"nps-{customer.id}")
        survey = SurveyResponse(
            customer_id=customer.id,
            kind=SurveyKind.nps,
            channel=Channel.web,
            status=SurveyStatus.pending,
            due_at=utcnow(),
        )
        session.add(survey)
        session.flush()
        key = survey.id

    def send(session: Session) -> int:
        return surveys.dispatch(session, settings).sent

    return send, Message.payload["survey_id"].as_integer() == key


@pytest.mark.postgres
@pytest.mark.parametrize("what", [_due_campaign_message, _due_nps_question])
def test_two_dispatchers_at_once_write_a_message_once(
    what: Any, db_url: str, settings: Settings, live_session_factory: sessionmaker[Session]
) -> None:
    if not db_url.startswith("postgresql"):
        pytest.skip("SQLite runs one writer at a time (BEGIN IMMEDIATE)")
    settings = settings.model_copy(update={"campaign_quiet_hours": ""})
    send, its_messages = what(live_session_factory, settings)
    admin = create_db_engine(db_url)
    first = live_session_factory()
    outcome: list[int] = []

    def second_leader() -> None:
        with session_scope(live_session_factory) as session:
            outcome.append(send(session))

    try:
        assert send(first) == 1  # not committed yet
        other = threading.Thread(target=second_leader)
        other.start()
        _wait_for_a_lock_wait(admin)  # the second one waits for the first one's row
        first.commit()
        other.join()
    finally:
        first.close()
        admin.dispose()
    assert outcome == [0]
    with session_scope(live_session_factory) as session:
        assert session.scalar(select(func.count(Message.id)).where(its_messages)) == 1


def _wait_for_a_lock_wait(admin: Engine) -> None:
    """Until a backend of the test database waits for a lock (the second dispatcher)."""
    for _ in range(10_000):
        with admin.connect() as conn:
            waiting = conn.execute(
                text(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                    " AND wait_event_type = 'Lock'"
                )
            ).scalar()
        if waiting:
            return
        threading.Event().wait(0.01)
    raise AssertionError("the second dispatcher never waited for the first")


# -- item 15: what a marketer's template may cost ------------------------------------------

COSTLY_TEMPLATES = {  # name: (source, the reason given)
    "too long": ("{# " + "x" * templating.MAX_SOURCE + " #}Hi {{ name }}", "is longer than 10,000"),
    "nested loops": (
        "{% for a in 'x' * 9999 %}{% for b in 'y' * 9999 %}{% endfor %}{% endfor %}",
        "loops or calls more than 2,000 times",
    ),
    "repeated text": ("{{ 'x' * 1000000000 }}", "value longer than 20,000"),
    "huge number": ("{{ 9 ** 9 ** 9 }}", "number larger than"),
    "wide method": ("{{ name.ljust(1000000000) }}", "number larger than 10,000 \\(a width"),
    "wide filter": ("{{ name|center(1000000000) }}", "number larger than 10,000 \\(a width"),
    "wide format": ("{{ '{:>999999999}'.format(name) }}", "formats wider than"),
    "wide percent": ("{{ '%999999999s' % name }}", "formats wider than"),
    "wide format filter": ("{{ '%999999999s'|format(name) }}", "formats wider than"),
    "json indent": ("{{ ('x' * 19000)|list|tojson(indent=9999) }}", "no filter named 'tojson'"),
    "doubling": (
        "{% set a = 'xxxxxxxxxx' %}" + "{% set a = a ~ a %}" * 40 + "{{ a }}",
        "value longer than",
    ),
    "replace bomb": ("{% set s = 'x' * 19000 %}{{ s|replace('', s) }}", "value longer than"),
    "recursion": (
        "{% macro d(s, n) %}{{ d(s ~ s, n - 1) if n else s }}{% endmacro %}{{ d('x', 60) }}",
        "value longer than",
    ),
    "long output": (
        "{% for a in 'x' * 1000 %}{{ 'y' * 1000 }}{% endfor %}",
        "renders more than 16,000",
    ),
    "buffered": (
        "{% filter upper %}{% for a in 'x' * 1999 %}{{ 'y' * 9000 }}{% endfor %}{% endfilter %}",
        "builds more than 1,000,000",
    ),
}


@pytest.mark.parametrize("name", list(COSTLY_TEMPLATES))
def test_a_template_that_would_cost_too_much_is_refused_with_its_reason(name: str) -> None:
    source, reason = COSTLY_TEMPLATES[name]
    with pytest.raises(ValidationFailed, match=f"(?i)^template.*: .*{reason}"):
        messages.validate_template(source)


def test_ordinary_templates_render_as_before() -> None:
    source = (
        "Hi {{ name }}{% if segment %} ({{ segment|lower }}){% endif %}! "
        "{% for word in ['ten', 'percent'] %}{{ word|upper }} {% endfor %}"
        "with {{ offer_code }} - {{ '%s'|format(campaign) }} {{ 2 * 3 }}{{ '!' * 2 }}"
    )
    assert messages.validate_template(source) == source
    text = messages.render(source, messages.SAMPLES[0])
    assert text == "Hi Ann (at risk)! TEN PERCENT with SAVE-7KQ2XR4M - Sample 6!!"


def test_a_render_stops_at_its_time_limit() -> None:
    with pytest.raises(templating.TemplateLimit, match="takes longer than 0 s"):
        templating.render("Hi {{ name }}", {"name": "Ann"}, seconds=0)


def test_sending_skips_a_message_whose_render_goes_over_a_limit() -> None:
    # A template can pass the samples and still cost too much for one customer.
    source = "{% for a in first_name * 600 %}{{ a }}{% endfor %}"
    assert messages.validate_template(source) == source
    with pytest.raises(templating.TemplateLimit):
        messages.render(source, {**messages.SAMPLES[0], "first_name": "Bartholomew"})


def test_saving_or_previewing_a_costly_template_answers_422(
    client: TestClient, session: Session, staff: dict[str, Any]
) -> None:
    plain, _ = create_api_token(session, user=staff["marketer"], name="templates")
    session.commit()
    headers = {"Authorization": f"Bearer {plain}"}
    costly, _ = COSTLY_TEMPLATES["nested loops"]
    for path in ("/api/v1/campaigns", "/api/v1/campaigns/preview/message"):
        response = client.post(path, json=campaign_fields(template=costly), headers=headers)
        assert response.status_code == 422, response.text
        assert "more than 2,000 times" in response.json()["error"]["message"]

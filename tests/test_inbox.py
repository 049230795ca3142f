"""The agents' inbox over HTTP: sign-in, roles, CSRF, tokens, queue, claim races, replies
through the customer's channel, private notes, resolve / reopen and service metrics."""

from __future__ import annotations

import datetime as dt
import re
import threading
import time
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from bot.engine import Engine as BotEngine
from careloop.config import Settings
from crm.conversations import inbox
from crm.db import session_scope, utcnow
from crm.models import Conversation, ConversationStatus, Role, User
from crm.users.service import create_api_token
from tests.factories import make_user
from web.app import create_app


def login_form_token(client: TestClient) -> str:
    """The sign-in form's CSRF token (the page also sets its cookie on the client)."""
    page = client.get("/login", follow_redirects=False)
    assert page.status_code == 200, "signed out"
    match = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert match, "the sign-in form carries a CSRF token"
    return match.group(1)


def post_login(
    client: TestClient, email: str, password: str, next: str = "/inbox", **kwargs: object
) -> Response:
    """Post the sign-in form as a browser would (with the form's CSRF token)."""
    return client.post(
        "/login",
        data={
            "email": email,
            "password": password,
            "next": next,
            "csrf_token": login_form_token(client),
        },
        **kwargs,  # type: ignore[arg-type]
    )


def login(client: TestClient, user: User) -> str:
    """Sign in through the form (as a fresh browser: a signed-in one is sent on from the
    sign-in page); returns the CSRF token of the session."""
    client.cookies.clear()
    response = post_login(
        client, user.email, f"password-{user.email}", "/inbox", follow_redirects=False
    )
    assert response.status_code == 303, response.text
    page = client.get("/inbox")
    match = re.search(r'name="csrf-token" content="([^"]+)"', page.text)
    assert match, "the inbox page carries the CSRF token"
    return match.group(1)


def escalate(
    client: TestClient, session_id: str, text: str = "I want to talk to a real person"
) -> int:
    body = client.post(
        "/api/v1/chat/messages", json={"session_id": session_id, "text": text}
    ).json()
    assert body["conversation"]["status"] == "waiting", body
    return int(body["conversation"]["id"])


def test_sign_in_errors_and_redirects(client: TestClient, staff: dict[str, User]) -> None:
    assert client.get("/inbox", follow_redirects=False).headers["location"].startswith("/login")
    bad = post_login(client, staff["agent"].email, "nope")
    assert bad.status_code == 401 and "Wrong email or password" in bad.text
    evil = post_login(
        client,
        staff["agent"].email,
        f"password-{staff['agent'].email}",
        "//evil.example/x",
        follow_redirects=False,
    )
    assert evil.headers["location"] == "/inbox", "no open redirect"
    sneaky = client.get("/login?next=/%5Cevil.example", follow_redirects=False)
    assert sneaky.headers["location"] == "/inbox"
    cookie = evil.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=lax" in cookie


def test_api_needs_a_signed_in_agent(client: TestClient, staff: dict[str, User]) -> None:
    anonymous = client.get("/api/v1/inbox/conversations")
    assert anonymous.status_code == 401
    assert anonymous.json()["error"]["code"] == "not_authenticated"
    conversation_id = escalate(client, "inbox-roles-1")
    login(client, staff["marketer"])
    for method, path in [
        ("GET", "/api/v1/inbox/conversations"),
        ("GET", f"/api/v1/inbox/conversations/{conversation_id}"),
        ("GET", "/api/v1/inbox/agents"),
    ]:
        response = client.request(method, path)
        assert response.status_code == 403, path
        assert "real person" not in response.text, "no transcript leaks to a marketer"
    page = client.get(f"/inbox/conversations/{conversation_id}")
    assert page.status_code == 403 and "real person" not in page.text


def test_writes_with_the_cookie_need_the_csrf_token(
    client: TestClient, staff: dict[str, User]
) -> None:
    conversation_id = escalate(client, "inbox-csrf-1")
    token = login(client, staff["agent"])
    path = f"/api/v1/inbox/conversations/{conversation_id}/claim"
    assert client.post(path).status_code == 403
    assert client.post(path, headers={"X-CSRF-Token": "forged"}).status_code == 403
    assert client.post(path, headers={"X-CSRF-Token": token}).status_code == 200


def test_api_tokens_work_without_csrf_and_can_be_revoked(
    client: TestClient, session: Session, staff: dict[str, User]
) -> None:
    plain, _ = create_api_token(session, user=staff["admin"], name="sync")
    session.commit()
    headers = {"Authorization": f"Bearer {plain}"}
    assert client.get("/api/v1/inbox/conversations", headers=headers).status_code == 200
    conversation_id = escalate(client, "inbox-token-1")
    claimed = client.post(f"/api/v1/inbox/conversations/{conversation_id}/claim", headers=headers)
    assert claimed.status_code == 200
    bad = client.get("/api/v1/inbox/conversations", headers={"Authorization": "Bearer nope"})
    assert bad.status_code == 401


def test_queue_is_sorted_by_priority_then_wait_and_filtered(
    client: TestClient, session: Session, staff: dict[str, User]
) -> None:
    calm = escalate(client, "inbox-q-calm", "can I talk to a person please")
    angry = escalate(client, "inbox-q-angry", "this is the worst service ever, I'm furious")
    token = login(client, staff["agent"])
    rows = client.get("/api/v1/inbox/conversations").json()["conversations"]
    ids = [r["id"] for r in rows]
    assert ids.index(angry) < ids.index(calm)
    first = rows[ids.index(angry)]
    assert first["reason"] and first["sentiment"] is not None and first["waiting_seconds"] >= 0
    assert first["customer_name"]

    client.post(f"/api/v1/inbox/conversations/{calm}/claim", headers={"X-CSRF-Token": token})
    mine = [
        r["id"] for r in client.get("/api/v1/inbox/conversations?view=mine").json()["conversations"]
    ]
    unassigned = [
        r["id"]
        for r in client.get("/api/v1/inbox/conversations?view=unassigned").json()["conversations"]
    ]
    assert calm in mine and angry not in mine
    assert angry in unassigned and calm not in unassigned
    bad = client.get("/api/v1/inbox/conversations?view=everything")
    assert bad.status_code == 422 and "unknown view" in bad.json()["error"]["message"]


def test_reply_reaches_the_web_chat_notes_do_not_and_metrics_are_kept(
    client: TestClient, staff: dict[str, User]
) -> None:
    conversation_id = escalate(client, "inbox-reply-1")
    token = login(client, staff["agent"])
    headers = {"X-CSRF-Token": token}
    base = f"/api/v1/inbox/conversations/{conversation_id}"
    assert client.post(f"{base}/claim", headers=headers).status_code == 200
    note = client.post(
        f"{base}/messages", json={"text": "VIP, be generous", "private": True}, headers=headers
    )
    assert note.status_code == 200
    sent = client.post(f"{base}/messages", json={"text": "Hi, I'm Alice, on it!"}, headers=headers)
    assert sent.status_code == 200

    seen = client.get("/api/v1/chat/sessions/inbox-reply-1/messages").json()["messages"]
    texts = [m["text"] for m in seen]
    assert "Hi, I'm Alice, on it!" in texts
    assert "VIP, be generous" not in texts

    detail = client.get(base).json()
    assert [m["private"] for m in detail["messages"] if m["text"] == "VIP, be generous"] == [True]
    inbound = [m for m in detail["messages"] if m["direction"] == "inbound"]
    assert inbound[0]["intent"] and inbound[0]["sentiment"], "NLU labels per customer message"
    assert detail["customer"]["name"]
    assert detail["conversation"]["metrics"]["agent_messages"] == 1
    assert detail["conversation"]["metrics"]["first_reply_seconds"] is not None

    resolved = client.post(f"{base}/resolve", headers=headers).json()["conversation"]
    assert resolved["status"] == "resolved"
    assert resolved["metrics"]["resolution_seconds"] is not None
    closed = client.post(f"{base}/messages", json={"text": "late"}, headers=headers)
    assert closed.status_code == 409
    assert (
        client.post(f"{base}/reopen", headers=headers).json()["conversation"]["status"]
        == "assigned"
    )

    # after resolving, the bot answers the customer again
    client.post(f"{base}/resolve", headers=headers)
    again = client.post(
        "/api/v1/chat/messages", json={"session_id": "inbox-reply-1", "text": "where is my order"}
    ).json()
    assert again["replies"], "the bot is back"


def test_assign_to_another_agent(client: TestClient, staff: dict[str, User]) -> None:
    conversation_id = escalate(client, "inbox-assign-1")
    token = login(client, staff["agent"])
    headers = {"X-CSRF-Token": token}
    base = f"/api/v1/inbox/conversations/{conversation_id}"
    moved = client.post(f"{base}/assign", json={"agent_id": staff["agent2"].id}, headers=headers)
    assert moved.json()["conversation"]["assigned_agent_id"] == staff["agent2"].id
    not_agent = client.post(
        f"{base}/assign", json={"agent_id": staff["marketer"].id}, headers=headers
    )
    assert not_agent.status_code == 422
    taken = client.post(f"{base}/claim", headers=headers)
    assert taken.status_code == 409 and "Bob Agent" in taken.json()["error"]["message"]


@pytest.fixture
def live_app(
    settings: Settings,
    bot: BotEngine,
    db_engine: Engine,
    live_session_factory: sessionmaker[Session],
) -> Iterator[tuple[TestClient, sessionmaker[Session]]]:
    app = create_app(
        settings,
        bot=bot,
        db_engine=db_engine,
        session_factory=live_session_factory,
        run_scheduler=False,
    )
    with TestClient(app) as client:
        yield client, live_session_factory


def test_two_agents_claiming_at_once_one_wins(
    live_app: tuple[TestClient, sessionmaker[Session]],
) -> None:
    client, factory = live_app
    conversation_id = escalate(client, "inbox-race-1")
    with session_scope(factory) as session:
        agents = [make_user(session, Role.agent) for _ in range(6)]
        ids = [a.id for a in agents]
    barrier = threading.Barrier(len(ids))
    outcomes: list[str] = []

    def attempt(agent: User) -> None:
        barrier.wait()
        try:
            with session_scope(factory) as session:
                inbox.claim(session, conversation_id=conversation_id, agent=agent)
            outcomes.append("won")
        except Exception as exc:  # Conflict for the losers
            outcomes.append(type(exc).__name__)

    threads = [threading.Thread(target=attempt, args=(a,)) for a in agents]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert outcomes.count("won") == 1
    assert set(outcomes) - {"won"} <= {"Conflict"}
    with session_scope(factory) as session:
        conversation = session.get_one(Conversation, conversation_id)
        assert conversation.status is ConversationStatus.assigned
        assert conversation.assigned_agent_id in ids


def test_inbox_events_announce_changes(
    live_app: tuple[TestClient, sessionmaker[Session]],
) -> None:
    client, factory = live_app
    with session_scope(factory) as session:
        agent = make_user(session, Role.agent)
    conversation_id = escalate(client, "inbox-events-1")
    login(client, agent)

    def claim_later() -> None:
        time.sleep(1.5)
        with session_scope(factory) as session:
            inbox.claim(session, conversation_id=conversation_id, agent=agent)

    threading.Thread(target=claim_later).start()
    seen: list[str] = []
    with client.stream("GET", "/api/v1/inbox/events") as stream:
        for line in stream.iter_lines():
            seen.append(line)
            if line.startswith("data:") or len(seen) > 40:
                break
    data = [line for line in seen if line.startswith("data:")]
    assert data and str(conversation_id) in data[0]


def _waiting(session: Session, n: int) -> list[int]:
    from crm.models import Channel, ChannelIdentity
    from tests.factories import make_customer

    ids = []
    for i in range(n):
        customer = make_customer(session)
        identity = ChannelIdentity(
            customer_id=customer.id, channel=Channel.web, external_id=f"aa-{customer.id}"
        )
        session.add(identity)
        session.flush()
        conversation = Conversation(
            customer_id=customer.id,
            channel=Channel.web,
            channel_identity_id=identity.id,
            status=ConversationStatus.waiting,
            priority=10 * (n - i),
            escalated_at=utcnow() - dt.timedelta(minutes=i),
        )
        session.add(conversation)
        session.flush()
        ids.append(conversation.id)
    return ids


def test_auto_assign_round_robin_within_capacity_to_online_agents(session: Session) -> None:
    now = utcnow()
    online = [make_user(session, Role.agent, last_seen_at=now, max_concurrent=2) for _ in range(2)]
    make_user(session, Role.agent, last_seen_at=now - dt.timedelta(hours=1))  # away
    make_user(session, Role.marketer, last_seen_at=now)  # not an agent
    ids = _waiting(session, 5)
    pairs = inbox.auto_assign(session, online_within=dt.timedelta(minutes=2), now=now)
    assert [c for c, _ in pairs] == ids[:4], "highest priority first, capacity 2 + 2"
    agents = [a for _, a in pairs]
    assert agents[0] != agents[1] and agents[0] == agents[2] and agents[1] == agents[3]
    assert set(agents) == {a.id for a in online}
    assert inbox.auto_assign(session, online_within=dt.timedelta(minutes=2), now=now) == []


def test_typical_wait_is_the_median_first_reply_time(session: Session) -> None:
    now = utcnow()
    ids = _waiting(session, 3)
    for conversation_id, minutes in zip(ids, (2, 6, 30), strict=True):
        conversation = session.get_one(Conversation, conversation_id)
        conversation.escalated_at = now - dt.timedelta(hours=1)
        conversation.first_agent_reply_at = conversation.escalated_at + dt.timedelta(
            minutes=minutes
        )
    session.flush()
    wait = inbox.typical_wait(session, now=now)
    assert wait == dt.timedelta(minutes=6)
    assert inbox.describe_wait(wait) == "6 minutes"


def test_waiting_time_raises_the_effective_priority() -> None:
    from crm.conversations.service import effective_priority, queue_rank

    now = utcnow()
    urgent_now = queue_rank(50, now)
    calm_hour_ago = queue_rank(10, now - dt.timedelta(hours=1))  # 10 + 30 = 40 < 50
    calm_two_hours = queue_rank(10, now - dt.timedelta(hours=2))  # 10 + 60 = 70 > 50
    assert calm_hour_ago < urgent_now < calm_two_hours
    assert effective_priority(10, 3600) == 40


def test_system_events_are_shown_to_agents_not_customers(
    client: TestClient, staff: dict[str, User]
) -> None:
    conversation_id = escalate(client, "inbox-events-log")
    token = login(client, staff["agent"])
    base = f"/api/v1/inbox/conversations/{conversation_id}"
    client.post(f"{base}/claim", headers={"X-CSRF-Token": token})
    client.post(f"{base}/resolve", headers={"X-CSRF-Token": token})
    events = [m["text"] for m in client.get(base).json()["messages"] if m["sender"] == "system"]
    assert events == ["Claimed by Alice Agent", "Resolved by Alice Agent"]
    seen = client.get("/api/v1/chat/sessions/inbox-events-log/messages").json()["messages"]
    assert all(m["sender"] != "system" for m in seen)

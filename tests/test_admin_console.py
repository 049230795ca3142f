"""The admin console's API and pages: role checks on every admin endpoint and page, HTML
403 and 404 pages, invitations, audited teams / SLA changes, canned responses and the
versioned response book reloaded without a restart. Both databases."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from bot.engine import Engine as BotEngine
from crm.audit import Actor
from crm.models import AuditEntry, Role, User
from crm.response_book import service as stored
from tests.factories import make_user
from tests.test_inbox import login, post_login

HTML = {"Accept": "text/html,application/xhtml+xml"}
CHAT = "/api/v1/chat/messages"

# (method, path, body) of every admin-only endpoint; ids that do not exist are fine: the
# role check answers first.
ADMIN_ENDPOINTS: list[tuple[str, str, dict[str, Any] | None]] = [
    ("GET", "/api/v1/admin/users", None),
    ("POST", "/api/v1/admin/users/invite", {"email": "x@shop.example", "role": "agent"}),
    ("PATCH", "/api/v1/admin/users/999999", {"max_concurrent": 3}),
    ("POST", "/api/v1/admin/users/999999/disable", None),
    ("POST", "/api/v1/admin/users/999999/reset-password", {}),
    ("GET", "/api/v1/teams", None),
    ("POST", "/api/v1/teams", {"name": "Nope"}),
    ("PATCH", "/api/v1/teams/999999", {"intents": []}),
    ("DELETE", "/api/v1/teams/999999", None),
    ("POST", "/api/v1/teams/999999/members", {"user_id": 1}),
    ("GET", "/api/v1/sla-policies", None),
    ("PUT", "/api/v1/sla-policies/default", {"first_response_minutes": 5}),
    ("POST", "/api/v1/admin/canned-responses", {"shortcut": "x", "title": "x", "text": "x"}),
    ("PATCH", "/api/v1/admin/canned-responses/999999", {"title": "y"}),
    ("DELETE", "/api/v1/admin/canned-responses/999999", None),
    ("GET", "/api/v1/admin/response-book", None),
    ("GET", "/api/v1/admin/response-book/versions", None),
    ("POST", "/api/v1/admin/response-book/preview", {"source": "responses: {}"}),
    ("POST", "/api/v1/admin/response-book", {"source": "responses: {}"}),
    ("POST", "/api/v1/admin/response-book/versions/1/restore", None),
    ("POST", "/api/v1/admin/response-book/reload", None),
    ("GET", "/api/v1/admin/audit", None),
]
ADMIN_PAGES = {
    "/admin": "Users",
    "/admin/users": "Users",
    "/admin/teams": "Teams",
    "/admin/sla": "SLA and business hours",
    "/admin/canned": "Canned responses",
    "/admin/responses": "Response book",
    "/admin/audit": "Audit log",
}


@pytest.fixture
def keep_book(bot: BotEngine) -> Iterator[BotEngine]:
    """The engine is shared by the whole run: put its response book back afterwards."""
    before = bot.responses
    yield bot
    bot.responses = before


def call(client: TestClient, method: str, path: str, body: Any, token: str = "") -> Any:
    headers = {"X-CSRF-Token": token} if token else {}
    return client.request(method, path, json=body, headers=headers)


def actions(session: Session) -> list[str]:
    session.expire_all()
    return list(session.scalars(select(AuditEntry.action).order_by(AuditEntry.id)))


# -- role checks -------------------------------------------------------------------------


def test_every_admin_endpoint_refuses_strangers_agents_and_marketers(
    client: TestClient, staff: dict[str, User]
) -> None:
    for method, path, body in ADMIN_ENDPOINTS:
        assert call(client, method, path, body).status_code == 401, (method, path)
    for role in ("agent", "marketer"):
        token = login(client, staff[role])
        for method, path, body in ADMIN_ENDPOINTS:
            res = call(client, method, path, body, token)
            assert res.status_code == 403, (role, method, path, res.text)
            assert "admin" in res.json()["error"]["message"]
    token = login(client, staff["admin"])
    for method, path, body in ADMIN_ENDPOINTS:
        res = call(client, method, path, body, token)
        assert res.status_code not in (401, 403), (method, path, res.text)


def test_agents_read_canned_responses_and_marketers_do_not(
    client: TestClient, staff: dict[str, User]
) -> None:
    login(client, staff["agent"])
    seeded = client.get("/api/v1/canned-responses").json()["canned_responses"]
    assert {c["shortcut"] for c in seeded} >= {"patience", "refund", "photo", "replacement"}
    login(client, staff["marketer"])
    assert client.get("/api/v1/canned-responses").status_code == 403


def test_admin_pages_are_for_admins_and_others_see_a_page_naming_it(
    client: TestClient, staff: dict[str, User]
) -> None:
    for path in ADMIN_PAGES:
        res = client.get(path, headers=HTML, follow_redirects=False)
        assert res.status_code == 303 and res.headers["location"].startswith("/login?next=")
    for role in ("agent", "marketer"):
        login(client, staff[role])
        for path, title in ADMIN_PAGES.items():
            res = client.get(path, headers=HTML)
            assert res.status_code == 403, (role, path)
            assert res.headers["content-type"].startswith("text/html")
            assert f"cannot open the admin console ({title})" in res.text
            assert "for admin accounts" in res.text
    login(client, staff["admin"])
    for path, title in ADMIN_PAGES.items():
        res = client.get(path, headers=HTML)
        assert res.status_code == 200, path
        assert f"<h1>{title}</h1>" in res.text and "admin.js" in res.text
    assert 'href="/admin"' in client.get("/inbox").text, "admins find the console in the nav"


def test_an_agent_on_a_marketer_page_is_told_which_page(
    client: TestClient, staff: dict[str, User]
) -> None:
    login(client, staff["agent"])
    pages = {
        "/analytics/segments": "the Segments page",
        "/campaigns": "Campaigns",
        "/analytics/quality": "the Bot quality page",
    }
    for path, name in pages.items():
        res = client.get(path, headers=HTML)
        assert res.status_code == 403
        assert f"cannot open {name}: it is for marketer and admin accounts" in res.text
    login(client, staff["marketer"])
    res = client.get("/inbox", headers=HTML)
    assert res.status_code == 403 and "cannot open the agents&#39; inbox" in res.text


@pytest.mark.parametrize("path", ["/admin/x", "/users", "/settings", "/admin/users/12"])
def test_unknown_pages_are_html_for_browsers_and_json_for_the_api(
    client: TestClient, path: str
) -> None:
    page = client.get(path, headers=HTML)
    assert page.status_code == 404
    assert page.headers["content-type"].startswith("text/html")
    assert "Page not found" in page.text and path in page.text
    api = client.get(path, headers={"Accept": "application/json"})
    assert api.status_code == 404 and api.json()["error"]["code"] == "not_found"
    missing = client.get("/api/v1/nothing-here", headers=HTML)
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"


# -- users -------------------------------------------------------------------------------


def test_an_invited_agent_gets_a_one_time_password_and_a_team(
    client: TestClient, session: Session, staff: dict[str, User]
) -> None:
    h = {"X-CSRF-Token": login(client, staff["admin"])}
    team = client.post("/api/v1/teams", json={"name": "Returns"}, headers=h).json()
    body = {"email": "New.Agent@Shop.example", "role": "agent", "max_concurrent": 3}
    res = client.post("/api/v1/admin/users/invite", json={**body, "team_id": team["id"]}, headers=h)
    assert res.status_code == 201, res.text
    invited = res.json()
    user = invited["user"]
    assert user["email"] == "new.agent@shop.example" and user["team_id"] == team["id"]
    assert user["password_change_required"] and user["max_concurrent"] == 3
    again = client.post("/api/v1/admin/users/invite", json=body, headers=h)
    assert again.status_code == 409
    bad = client.post("/api/v1/admin/users/invite", json={**body, "team_id": 999999}, headers=h)
    assert bad.status_code == 404
    members = client.get(f"/api/v1/teams/{team['id']}", headers=h).json()["members"]
    assert [m["email"] for m in members] == ["new.agent@shop.example"]

    client.cookies.clear()
    signed_in = post_login(
        client, user["email"], invited["one_time_password"], follow_redirects=False
    )
    assert signed_in.status_code == 303
    assert client.get("/inbox", follow_redirects=False).headers["location"] == "/account/password"
    assert {"user.invite", "user.team", "team.create"} <= set(actions(session))


def test_disabling_from_the_console_ends_the_agents_sessions(
    client: TestClient, staff: dict[str, User]
) -> None:
    agent_client = TestClient(client.app)
    login(agent_client, staff["agent"])
    assert agent_client.get("/api/v1/canned-responses").status_code == 200
    h = {"X-CSRF-Token": login(client, staff["admin"])}
    res = client.post(f"/api/v1/admin/users/{staff['agent'].id}/disable", headers=h)
    assert res.status_code == 200 and res.json()["is_active"] is False
    assert agent_client.get("/api/v1/canned-responses").status_code == 401
    assert client.post(f"/api/v1/admin/users/{staff['agent'].id}/enable", headers=h).is_success


# -- teams and SLA -----------------------------------------------------------------------


def test_team_and_sla_changes_are_checked_and_audited(
    client: TestClient, session: Session, staff: dict[str, User]
) -> None:
    h = {"X-CSRF-Token": login(client, staff["admin"])}
    created = client.post(
        "/api/v1/teams", json={"name": "Billing", "intents": ["payment_problem"]}, headers=h
    )
    assert created.status_code == 201
    team = created.json()
    assert team["members"] == [] and team["intents"] == ["payment_problem"]
    tid = team["id"]
    unknown = client.post("/api/v1/teams", json={"name": "X", "boss": 1}, headers=h)
    assert unknown.status_code == 422 and "boss" in unknown.json()["error"]["message"]
    changed = client.patch(
        f"/api/v1/teams/{tid}",
        json={
            "intents": ["payment_problem", "refund_return"],
            "business_hours": "mon-fri 08:00-16:00",
            "timezone": "Europe/Vienna",
            "holidays": ["2026-12-24"],
        },
        headers=h,
    )
    assert changed.status_code == 200 and changed.json()["timezone"] == "Europe/Vienna"
    bad_day = client.patch(f"/api/v1/teams/{tid}", json={"holidays": ["24.12."]}, headers=h)
    assert bad_day.status_code == 422
    agent_id = staff["agent"].id
    joined = client.post(f"/api/v1/teams/{tid}/members", json={"user_id": agent_id}, headers=h)
    assert joined.json() == {"user_id": agent_id, "team_id": tid}
    listed = client.get("/api/v1/teams", headers=h).json()["teams"]
    billing = next(t for t in listed if t["id"] == tid)
    assert [m["id"] for m in billing["members"]] == [agent_id]
    policy = {"first_response_minutes": 15, "resolution_minutes": 240, "urgent_factor": 0.25}
    saved = client.put(f"/api/v1/teams/{tid}/sla-policy", json=policy, headers=h)
    assert saved.status_code == 200 and saved.json()["urgent_factor"] == 0.25
    text = client.put(
        f"/api/v1/teams/{tid}/sla-policy", json={"first_response_minutes": "15"}, headers=h
    )
    assert text.status_code == 422, "minutes are whole numbers, not text"
    short = client.put(
        "/api/v1/sla-policies/default",
        json={"first_response_minutes": 90, "resolution_minutes": 30},
        headers=h,
    )
    assert short.status_code == 422 and "resolution_minutes" in short.json()["error"]["message"]
    assert client.delete(f"/api/v1/teams/{tid}", headers=h).status_code == 204
    assert client.get(f"/api/v1/teams/{tid}", headers=h).status_code == 404
    session.expire_all()
    assert session.get(User, agent_id).team_id is None  # type: ignore[union-attr]
    logged = actions(session)
    for action in ("team.create", "team.update", "user.team", "sla.update", "team.delete"):
        assert action in logged, action
    audit = client.get("/api/v1/admin/audit", params={"target": f"team:{tid}"}, headers=h).json()
    update = next(e for e in audit["entries"] if e["action"] == "team.update")
    assert update["details"]["timezone"] == ["UTC", "Europe/Vienna"]
    assert update["actor"] == staff["admin"].email


# -- canned responses --------------------------------------------------------------------


def test_admins_manage_canned_responses_and_every_change_is_audited(
    client: TestClient, session: Session, staff: dict[str, User]
) -> None:
    h = {"X-CSRF-Token": login(client, staff["admin"])}
    url = "/api/v1/admin/canned-responses"
    body = {"shortcut": "Delay", "title": "Courier delay", "text": "The courier is late, sorry."}
    created = client.post(url, json=body, headers=h)
    assert created.status_code == 201 and created.json()["shortcut"] == "delay"
    cid = created.json()["id"]
    assert client.post(url, json=body, headers=h).status_code == 409
    spaced = client.post(url, json={**body, "shortcut": "two words"}, headers=h)
    assert spaced.status_code == 422
    empty = client.post(url, json={**body, "shortcut": "x2", "text": "   "}, headers=h)
    assert empty.status_code == 422
    taken = client.patch(f"{url}/{cid}", json={"shortcut": "refund"}, headers=h)
    assert taken.status_code == 409, "a seeded shortcut"
    renamed = client.patch(f"{url}/{cid}", json={"text": "The courier is running late."}, headers=h)
    assert renamed.json()["text"] == "The courier is running late."
    login(client, staff["agent"])
    texts = [c["text"] for c in client.get("/api/v1/canned-responses").json()["canned_responses"]]
    assert "The courier is running late." in texts
    h = {"X-CSRF-Token": login(client, staff["admin"])}
    assert client.delete(f"{url}/{cid}", headers=h).status_code == 204
    assert client.delete(f"{url}/{cid}", headers=h).status_code == 404
    logged = [a for a in actions(session) if a.startswith("canned.")]
    assert logged == ["canned.create", "canned.update", "canned.delete"]


def test_a_canned_response_with_a_nul_character_is_a_clear_422(
    client: TestClient, session: Session, staff: dict[str, User]
) -> None:
    """Found by the fuzz test: PostgreSQL text can't hold NUL; the edge refuses it."""
    h = {"X-CSRF-Token": login(client, staff["admin"])}
    url = "/api/v1/admin/canned-responses"
    body = {"shortcut": "nul", "title": "Nul", "text": "before\x00after"}
    refused = client.post(url, json=body, headers=h)
    assert refused.status_code == 422, refused.text
    assert refused.json()["error"]["code"] == "invalid"
    titled = client.post(url, json={**body, "title": "a\x00b", "text": "fine"}, headers=h)
    assert titled.status_code == 422
    assert not [a for a in actions(session) if a.startswith("canned.")]


# -- the response book -------------------------------------------------------------------


def test_the_response_book_is_previewed_published_restored_and_used_at_once(
    client: TestClient, session: Session, staff: dict[str, User], keep_book: BotEngine
) -> None:
    h = {"X-CSRF-Token": login(client, staff["admin"])}
    url = "/api/v1/admin/response-book"
    shipped = client.get(url, headers=h).json()
    assert shipped["version"] == 0 and shipped["in_use"] == 0
    assert "greet" in shipped["answers"] and "responses:" in shipped["source"]
    original = shipped["source"]
    greeting = "Hi{% if customer.first_name %} {{ customer.first_name }}{% endif %}! I'm the"
    assert greeting in original
    edited = original.replace(
        greeting,
        greeting.replace("Hi", "Ahoy", 1).replace("! I'm", "! Welcome aboard, I'm", 1),
        1,
    )

    preview = client.post(f"{url}/preview", json={"source": edited}, headers=h).json()
    assert preview["ok"] and preview["error"] is None
    greet = next(v for v in preview["variants"] if v["key"] == "greet")
    assert greet["text"].startswith("Ahoy Sam! Welcome aboard")
    assert "Where is my order?" in greet["buttons"]
    broken = edited.replace("{{ order.ref }}", "{{ order.ref ", 1)
    refused = client.post(f"{url}/preview", json={"source": broken}, headers=h).json()
    assert not refused["ok"] and "template" in refused["error"]
    assert client.post(url, json={"source": broken}, headers=h).status_code == 422
    no_greet = edited.replace("  greet:\n", "  greeting:\n", 1)
    missing = client.post(url, json={"source": no_greet}, headers=h)
    assert missing.status_code == 422 and "greet" in missing.json()["error"]["message"]
    not_yaml = client.post(url, json={"source": "responses: [unclosed"}, headers=h)
    assert not_yaml.status_code == 422
    assert client.get(url, headers=h).json()["version"] == 0, "nothing stored when refused"

    published = client.post(url, json={"source": edited, "comment": "pirate week"}, headers=h)
    assert published.status_code == 201 and published.json()["version"] == 1
    assert keep_book.responses.version == 1
    reply = client.post(CHAT, json={"session_id": "book-1", "text": "hello there"}).json()
    assert any(r["text"].startswith("Ahoy! Welcome aboard") for r in reply["replies"])

    client.post(url, json={"source": original, "comment": "back to normal"}, headers=h)
    restored = client.post(f"{url}/versions/1/restore", headers=h)
    assert restored.status_code == 201 and restored.json()["version"] == 3
    assert restored.json()["comment"] == "restored version 1"
    assert client.get(f"{url}/versions/3", headers=h).json()["source"] == edited
    versions = client.get(f"{url}/versions", headers=h).json()["versions"]
    assert [v["version"] for v in versions] == [3, 2, 1]
    assert client.get(f"{url}/versions/9", headers=h).status_code == 404

    # Another process publishes: this server picks it up on reload (and by itself later).
    stored.store(session, source=original, comment="from elsewhere", by=Actor("cli"))
    session.commit()
    assert client.get(url, headers=h).json()["in_use"] == 3
    assert client.post(f"{url}/reload", headers=h).json() == {"in_use": 4}
    reply = client.post(CHAT, json={"session_id": "book-2", "text": "hello there"}).json()
    assert not any("Welcome aboard" in r["text"] for r in reply["replies"])
    assert any(r["text"].startswith("Hi!") for r in reply["replies"])
    logged = [a for a in actions(session) if a.startswith("response_book.")]
    assert logged == [
        "response_book.publish",
        "response_book.publish",
        "response_book.restore",
        "response_book.publish",
        "response_book.reload",
    ]


def test_a_frequent_question_added_to_the_book_is_answered_at_once(
    client: TestClient, staff: dict[str, User], keep_book: BotEngine
) -> None:
    h = {"X-CSRF-Token": login(client, staff["admin"])}
    url = "/api/v1/admin/response-book"
    source = client.get(url, headers=h).json()["source"]
    asked = {"session_id": "faq-new", "text": "Can I pay in Bitcoin?"}
    before = client.post(CHAT, json=asked).json()
    assert not any("Lightning" in r["text"] for r in before["replies"])
    entry = (
        '\n  - questions: ["Can I pay with Bitcoin?", "Do you accept crypto?"]\n'
        '    answer: "Yes, Bitcoin over Lightning at checkout."\n'
    )
    bad = source.rstrip() + "\n  - questions: []\n    answer: nothing asked\n"
    refused = client.post(url, json={"source": bad}, headers=h)
    assert refused.status_code == 422 and "faq[" in refused.json()["error"]["message"]
    published = client.post(url, json={"source": source.rstrip() + entry}, headers=h)
    assert published.status_code == 201
    preview = client.post(f"{url}/preview", json={"source": source.rstrip() + entry}, headers=h)
    assert any("Lightning" in v["text"] for v in preview.json()["variants"])
    after = client.post(CHAT, json={**asked, "session_id": "faq-new-2"}).json()
    assert [r["text"] for r in after["replies"]] == ["Yes, Bitcoin over Lightning at checkout."]


def test_a_restarted_server_answers_with_the_published_book(
    client: TestClient,
    session_factory: sessionmaker[Session],
    staff: dict[str, User],
    keep_book: BotEngine,
) -> None:
    from bot import book

    h = {"X-CSRF-Token": login(client, staff["admin"])}
    source = client.get("/api/v1/admin/response-book", headers=h).json()["source"]
    edited = source.replace("I'm the {{ shop.name }} assistant.", "Shop bot here.", 1)
    assert client.post("/api/v1/admin/response-book", json={"source": edited}, headers=h).is_success
    keep_book.responses = book.ResponseBook.load()
    assert book.reload_with(session_factory, keep_book) == 1
    assert "Shop bot here." in (
        keep_book.responses.render("greet", {"customer": {"first_name": None}}) or ""
    )


def test_marketer_made_admin_reaches_the_console(
    client: TestClient, session: Session, staff: dict[str, User]
) -> None:
    h = {"X-CSRF-Token": login(client, staff["admin"])}
    promoted = make_user(session, Role.marketer)
    res = client.patch(f"/api/v1/admin/users/{promoted.id}", json={"role": "admin"}, headers=h)
    assert res.json()["role"] == "admin"
    login(client, promoted)
    assert client.get("/admin/responses", headers=HTML).status_code == 200

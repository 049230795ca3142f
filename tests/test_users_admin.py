"""Staff accounts managed by admins, through the JSON API and the ``careloop users`` CLI:
the password policy, roles, disable / enable and password resets (which end sessions),
and the audit log every change writes. Both databases."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from app.cli import app as cli_app
from careloop.config import get_settings
from crm.db import session_scope
from crm.models import AuditEntry, Role, User
from crm.users.passwords import check_password
from crm.users.service import authenticate
from tests.factories import make_user
from tests.test_inbox import login, post_login

runner = CliRunner()


def admin_client(client: TestClient, staff: dict[str, User]) -> dict[str, str]:
    """Sign the admin in; returns the headers a write needs."""
    return {"X-CSRF-Token": login(client, staff["admin"])}


# -- password policy ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("password", "reason"),
    [
        ("short-pw", "at least 12"),
        ("x" * 129, "at most 128"),
        ("LeaveMeAlone", "too common"),
        ("Password12345!", "too common"),  # a common one with digits and a symbol added
        ("sam.jones-was-here", "email"),
        ("my sam.jones@shop.example", "email"),
    ],
)
def test_the_password_policy_refuses(password: str, reason: str) -> None:
    with pytest.raises(Exception, match=reason):
        check_password(password, email="sam.jones@shop.example")


def test_the_password_policy_accepts_a_long_uncommon_one() -> None:
    check_password("correct horse battery staple", email="sam.jones@shop.example")


# -- the admin API -----------------------------------------------------------------------


def test_only_admins_reach_the_admin_api(client: TestClient, staff: dict[str, User]) -> None:
    assert client.get("/api/v1/admin/users").status_code == 401
    for role in ("agent", "marketer"):
        client.cookies.clear()
        login(client, staff[role])
        assert client.get("/api/v1/admin/users").status_code == 403, role
        assert client.get("/api/v1/admin/audit").status_code == 403, role


def test_admins_create_and_list_users_and_every_change_is_audited(
    client: TestClient, staff: dict[str, User]
) -> None:
    headers = admin_client(client, staff)
    body = {"email": "New.Agent@Shop.example", "password": "short", "role": "agent"}
    weak = client.post("/api/v1/admin/users", json=body, headers=headers)
    assert weak.status_code == 422 and "at least 12" in weak.json()["error"]["message"]
    unknown = client.post(
        "/api/v1/admin/users",
        json={**body, "password": "long enough phrase", "boss": 1},
        headers=headers,
    )
    assert unknown.status_code == 422
    created = client.post(
        "/api/v1/admin/users",
        json={**body, "password": "long enough phrase", "display_name": "Nia"},
        headers=headers,
    )
    assert created.status_code == 201, created.text
    user = created.json()
    assert user["email"] == "new.agent@shop.example" and user["role"] == "agent"
    assert user["is_active"] and "password_hash" not in user
    dup = client.post(
        "/api/v1/admin/users", json={**body, "password": "long enough phrase"}, headers=headers
    )
    assert dup.status_code == 409

    listed = client.get("/api/v1/admin/users").json()["users"]
    assert {u["email"] for u in listed} >= {"new.agent@shop.example", staff["agent"].email}

    changed = client.patch(
        f"/api/v1/admin/users/{user['id']}", json={"role": "marketer"}, headers=headers
    )
    assert changed.status_code == 200 and changed.json()["role"] == "marketer"
    log = client.get("/api/v1/admin/audit", params={"target": f"user:{user['id']}"}).json()
    actions = [e["action"] for e in log["entries"]]
    assert actions == ["user.update", "user.create"]
    update = log["entries"][0]
    assert update["actor"] == staff["admin"].email and update["actor_id"] == staff["admin"].id
    assert update["details"] == {"role": ["agent", "marketer"]}
    assert "password" not in str(log)


def test_disabling_a_user_ends_their_sessions(client: TestClient, staff: dict[str, User]) -> None:
    agent_client = TestClient(client.app)
    login(agent_client, staff["agent"])
    assert agent_client.get("/api/v1/inbox/conversations").status_code == 200
    headers = admin_client(client, staff)
    agent_id = staff["agent"].id
    disabled = client.post(f"/api/v1/admin/users/{agent_id}/disable", headers=headers)
    assert disabled.status_code == 200 and disabled.json()["is_active"] is False
    assert agent_client.get("/api/v1/inbox/conversations").status_code == 401
    refused = post_login(agent_client, staff["agent"].email, f"password-{staff['agent'].email}")
    assert refused.status_code == 401

    enabled = client.post(f"/api/v1/admin/users/{agent_id}/enable", headers=headers)
    assert enabled.json()["is_active"] is True
    agent_client.cookies.clear()
    login(agent_client, staff["agent"])
    assert agent_client.get("/api/v1/inbox/conversations").status_code == 200, "a new sign-in"
    audit = client.get("/api/v1/admin/audit", params={"target": f"user:{agent_id}"}).json()
    assert [e["action"] for e in audit["entries"]] == ["user.enable", "user.disable"]
    assert audit["entries"][1]["details"] == {"sessions_ended": 1}


def test_admins_cannot_lock_everyone_out(
    client: TestClient, session: Session, staff: dict[str, User]
) -> None:
    headers = admin_client(client, staff)
    admin_id = staff["admin"].id
    self_disable = client.post(f"/api/v1/admin/users/{admin_id}/disable", headers=headers)
    assert self_disable.status_code == 409
    demote = client.patch(
        f"/api/v1/admin/users/{admin_id}", json={"role": "agent"}, headers=headers
    )
    assert demote.status_code == 409
    other = make_user(session, Role.admin)
    session.commit()
    assert (
        client.post(f"/api/v1/admin/users/{other.id}/disable", headers=headers).status_code == 200
    )
    assert client.get("/api/v1/admin/users/999999").status_code == 404


def test_a_reset_ends_sessions_and_the_user_must_choose_a_new_password(
    client: TestClient, staff: dict[str, User]
) -> None:
    agent = staff["agent"]
    agent_client = TestClient(client.app)
    login(agent_client, agent)
    headers = admin_client(client, staff)
    weak = client.post(
        f"/api/v1/admin/users/{agent.id}/reset-password",
        json={"password": "password123456"},
        headers=headers,
    )
    assert weak.status_code == 422
    reset = client.post(f"/api/v1/admin/users/{agent.id}/reset-password", json={}, headers=headers)
    assert reset.status_code == 200, reset.text
    one_time = reset.json()["one_time_password"]
    assert len(one_time) >= 12 and reset.json()["user"]["password_change_required"] is True
    assert agent_client.get("/api/v1/inbox/conversations").status_code == 401

    agent_client.cookies.clear()
    signed_in = post_login(agent_client, agent.email, one_time, follow_redirects=False)
    assert signed_in.headers["location"] == "/account/password"
    blocked = agent_client.get("/api/v1/inbox/conversations")
    assert blocked.status_code == 403
    assert blocked.json()["error"]["code"] == "password_change_required"
    page = agent_client.get("/inbox", follow_redirects=False)
    assert page.headers["location"] == "/account/password"
    token = agent_client.get("/account/password").text.split('name="csrf-token" content="')[1]
    token = token.split('"')[0]
    changed = agent_client.post(
        "/api/v1/account/password",
        json={"current_password": one_time, "new_password": "my own long passphrase"},
        headers={"X-CSRF-Token": token},
    )
    assert changed.status_code == 204, changed.text
    assert agent_client.get("/api/v1/inbox/conversations").status_code == 200
    audit = client.get("/api/v1/admin/audit", params={"action": "user.reset_password"}).json()
    assert audit["entries"][0]["details"] == {"generated": True, "sessions_ended": 1}
    assert one_time not in str(audit)


def test_the_audit_log_pages_newest_first(client: TestClient, staff: dict[str, User]) -> None:
    headers = admin_client(client, staff)
    for name in ("One", "Two", "Three"):
        client.patch(
            f"/api/v1/admin/users/{staff['agent2'].id}",
            json={"display_name": name},
            headers=headers,
        )
    first = client.get("/api/v1/admin/audit", params={"limit": 2}).json()
    assert [e["details"]["display_name"][1] for e in first["entries"]] == ["Three", "Two"]
    rest = client.get(
        "/api/v1/admin/audit", params={"limit": 2, "before_id": first["next_before_id"]}
    ).json()
    assert rest["entries"][0]["details"]["display_name"][1] == "One"


# -- the CLI -----------------------------------------------------------------------------


@pytest.fixture
def cli_db(
    db_url: str, live_session_factory: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch
) -> Iterator[sessionmaker[Session]]:
    """The CLI on the test database (both backends); tables are emptied afterwards."""
    monkeypatch.setenv("CARELOOP_DATABASE_URL", db_url)
    get_settings.cache_clear()
    yield live_session_factory
    get_settings.cache_clear()


def _invoke(*args: str, stdin: str | None = None) -> Any:
    result = runner.invoke(cli_app, list(args), input=stdin)
    return result


def test_the_users_cli_lists_disables_enables_and_changes_roles(
    cli_db: sessionmaker[Session],
) -> None:
    with session_scope(cli_db) as s:
        agent = make_user(s, Role.agent, email="kim@shop.example")
        make_user(s, Role.admin, email="root@shop.example")
        agent_id = agent.id
    listed = _invoke("users", "list")
    assert listed.exit_code == 0, listed.output
    assert "kim@shop.example" in listed.output and "active" in listed.output

    assert _invoke("users", "disable", "kim@shop.example").exit_code == 0
    assert "disabled" in _invoke("users", "list").output
    with cli_db() as s:
        assert not authenticate(
            s, email="kim@shop.example", password="password-kim@shop.example"
        ).user
    assert _invoke("users", "enable", str(agent_id)).exit_code == 0
    assert _invoke("users", "set-role", "kim@shop.example", "marketer").exit_code == 0
    bad = _invoke("users", "set-role", "kim@shop.example", "boss")
    assert bad.exit_code == 2 and "unknown role" in bad.output
    missing = _invoke("users", "disable", "nobody@shop.example")
    assert missing.exit_code == 1 and "no user" in missing.output
    last_admin = _invoke("users", "disable", "root@shop.example")
    assert last_admin.exit_code == 1 and "last active admin" in last_admin.output

    with cli_db() as s:
        assert s.get(User, agent_id).role is Role.marketer  # type: ignore[union-attr]
        rows = list(s.scalars(select(AuditEntry).order_by(AuditEntry.id)))
    assert [r.action for r in rows] == ["user.disable", "user.enable", "user.update"]
    assert all(r.actor.startswith("cli (") and r.target == f"user:{agent_id}" for r in rows)


def test_the_users_cli_resets_passwords(cli_db: sessionmaker[Session]) -> None:
    with session_scope(cli_db) as s:
        make_user(s, Role.agent, email="lee@shop.example")
    weak = _invoke("users", "reset-password", "lee@shop.example", "--password-stdin", stdin="lee\n")
    assert weak.exit_code == 1 and "at least 12" in weak.output
    chosen = _invoke(
        "users",
        "reset-password",
        "lee@shop.example",
        "--password-stdin",
        stdin="a chosen long phrase\n",
    )
    assert chosen.exit_code == 0, chosen.output
    with cli_db() as s:
        signed = authenticate(s, email="lee@shop.example", password="a chosen long phrase")
        assert signed.user is not None and signed.user.password_change_required

    generated = _invoke("users", "reset-password", "lee@shop.example")
    assert generated.exit_code == 0, generated.output
    one_time = generated.output.split("one-time password for lee@shop.example: ")[1].split()[0]
    with cli_db() as s:
        assert authenticate(s, email="lee@shop.example", password=one_time).user is not None
        actions = list(s.scalars(select(AuditEntry.action)))
    assert actions == ["user.reset_password", "user.reset_password"]


def test_create_user_applies_the_policy_and_is_audited(cli_db: sessionmaker[Session]) -> None:
    common = _invoke(
        "create-user",
        "--email",
        "ann@shop.example",
        "--role",
        "agent",
        "--password-stdin",
        stdin="qwertyuiop123\n",
    )
    assert common.exit_code == 1 and "too common" in common.output
    ok = _invoke(
        "create-user",
        "--email",
        "ann@shop.example",
        "--role",
        "agent",
        "--password-stdin",
        stdin="a long unusual phrase\n",
    )
    assert ok.exit_code == 0, ok.output
    with cli_db() as s:
        entry = s.scalars(select(AuditEntry)).one()
    assert entry.action == "user.create" and entry.details == {
        "email": "ann@shop.example",
        "role": "agent",
    }

"""Staff sign-in security over HTTP, on both databases: throttling (per account, per
address, across server processes), the hashing gate, server-side sessions (sign-out,
password change, disable, reset, timeouts), sign-in CSRF and origin checks, security
headers, offline API docs, strong secrets and the redacted access log."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import logging
import re
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
import uvicorn
from fastapi.testclient import TestClient
from pydantic import ValidationError
from sqlalchemy import Engine, update
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from app.cli import app as cli_app
from bot.engine import Engine as BotEngine
from careloop.config import Settings, get_settings
from crm.db import create_db_engine, create_session_factory, session_scope, utcnow
from crm.models import Role, User, UserSession
from crm.users.passwords import HashGate
from tests.factories import make_user
from tests.test_browser import _free_port
from tests.test_inbox import escalate, login, login_form_token, post_login
from web.app import create_app

WEB = Path(__file__).resolve().parent.parent / "web"
MakeClient = Callable[..., AbstractContextManager[TestClient]]


def password_of(user: User) -> str:
    return f"password-{user.email}"


@pytest.fixture
def make_client(
    settings: Settings,
    bot: BotEngine,
    db_engine: Engine,
    session_factory: sessionmaker[Session],
) -> MakeClient:
    """A test client of the app with some settings changed."""

    def make(**overrides: object) -> TestClient:
        app = create_app(
            settings.model_copy(update=overrides),
            bot=bot,
            db_engine=db_engine,
            session_factory=session_factory,
            run_scheduler=False,
        )
        return TestClient(app)

    return make


# -- throttling -------------------------------------------------------------------------


def test_wrong_passwords_are_throttled_per_account_and_logged(
    client: TestClient, staff: dict[str, User], caplog: pytest.LogCaptureFixture
) -> None:
    agent = staff["agent"]
    caplog.set_level(logging.INFO, logger="careloop.security")
    for _ in range(5):  # CARELOOP_LOGIN_MAX_FAILURES
        assert post_login(client, agent.email, "guess-number-n").status_code == 401
    refused = post_login(client, agent.email, "guess-number-n")
    assert refused.status_code == 429 and "Too many failed sign-ins" in refused.text
    assert 800 < int(refused.headers["Retry-After"]) <= 900
    right = post_login(client, agent.email, password_of(agent), follow_redirects=False)
    assert right.status_code == 429, "while throttled even the right password waits"
    # another account from the same address is not locked by this one
    other = staff["agent2"]
    assert (
        post_login(client, other.email, password_of(other), follow_redirects=False).status_code
        == 303
    )

    failed = [r for r in caplog.records if r.getMessage().startswith("auth.login.failed")]
    assert len(failed) == 5
    line = failed[0].getMessage()
    assert agent.email in line and "address=testclient" in line and "wrong_password" in line
    assert not any("guess-number-n" in r.getMessage() for r in caplog.records), "no passwords"
    assert any(r.getMessage().startswith("auth.login.throttled") for r in caplog.records)


def test_a_success_forgets_the_accounts_failures(
    client: TestClient, staff: dict[str, User]
) -> None:
    agent = staff["agent"]
    for _ in range(4):
        post_login(client, agent.email, "wrong-password-x")
    assert (
        post_login(client, agent.email, password_of(agent), follow_redirects=False).status_code
        == 303
    )
    client.cookies.clear()
    for _ in range(4):
        assert post_login(client, agent.email, "wrong-password-x").status_code == 401


def test_many_accounts_from_one_address_are_throttled(
    make_client: MakeClient, staff: dict[str, User]
) -> None:
    with make_client(login_max_failures_per_address=3) as client:
        for n in range(3):
            assert post_login(client, f"nobody{n}@shop.example", "whatever-pw").status_code == 401
        refused = post_login(client, staff["admin"].email, password_of(staff["admin"]))
        assert refused.status_code == 429 and int(refused.headers["Retry-After"]) > 0


def test_the_throttle_holds_across_server_processes(
    settings: Settings,
    bot: BotEngine,
    db_url: str,
    live_session_factory: sessionmaker[Session],
) -> None:
    """Two apps with their own engines (as two server processes) share the count."""
    with session_scope(live_session_factory) as s:
        email = make_user(s, Role.agent).email
    engines = [create_db_engine(db_url) for _ in range(2)]
    one, two = (
        TestClient(
            create_app(
                settings,
                bot=bot,
                db_engine=e,
                session_factory=create_session_factory(e),
                run_scheduler=False,
            )
        )
        for e in engines
    )
    try:
        with one, two:
            for client in (one, two, one, two, one):
                assert post_login(client, email, "not-the-password").status_code == 401
            for client in (one, two):
                response = post_login(client, email, f"password-{email}", follow_redirects=False)
                assert response.status_code == 429
    finally:
        for e in engines:
            e.dispose()


# -- the hashing gate and equal work for unknown emails --------------------------------


def test_a_full_hashing_gate_turns_sign_ins_away_for_known_and_unknown_emails(
    client: TestClient, staff: dict[str, User]
) -> None:
    gate = HashGate(1, queue=0)
    client.app.state.careloop.hash_gate = gate  # type: ignore[attr-defined]
    agent = staff["agent"]
    with gate.slot():  # another sign-in is hashing right now
        for email, password in [
            (agent.email, password_of(agent)),
            (agent.email, "wrong-password-1"),
            ("nobody@shop.example", "wrong-password-1"),  # costs a hash too: no shortcut
        ]:
            busy = post_login(client, email, password)
            assert busy.status_code == 503, email
            assert busy.headers["Retry-After"] == "1" and "Try again in a moment" in busy.text
    ok = post_login(client, agent.email, password_of(agent), follow_redirects=False)
    assert ok.status_code == 303, "a busy answer is not a failed sign-in"


# -- server-side sessions ----------------------------------------------------------------


def _cookie(client: TestClient) -> str:
    value = client.cookies.get("careloop_session")
    assert value
    return value


def test_sign_out_ends_the_session_on_the_server(
    client: TestClient, staff: dict[str, User]
) -> None:
    token = login(client, staff["agent"])
    old = _cookie(client)
    assert client.get("/api/v1/inbox/conversations").status_code == 200
    out = client.post("/logout", data={"csrf_token": token}, follow_redirects=False)
    assert out.status_code == 303
    client.cookies.set("careloop_session", old)  # a stolen copy of the cookie
    assert client.get("/api/v1/inbox/conversations").status_code == 401
    assert client.get("/inbox", follow_redirects=False).headers["location"].startswith("/login")


def test_a_password_change_ends_the_other_sessions(
    client: TestClient, staff: dict[str, User]
) -> None:
    agent = staff["agent"]
    other = TestClient(client.app)
    login(other, agent)
    token = login(client, agent)
    wrong = client.post(
        "/api/v1/account/password",
        json={"current_password": "not-it-at-all", "new_password": "a fresh long passphrase"},
        headers={"X-CSRF-Token": token},
    )
    assert wrong.status_code == 403 and wrong.json()["error"]["code"] == "wrong_password"
    weak = client.post(
        "/api/v1/account/password",
        json={"current_password": password_of(agent), "new_password": "password1234"},
        headers={"X-CSRF-Token": token},
    )
    assert weak.status_code == 422 and "too common" in weak.json()["error"]["message"]
    changed = client.post(
        "/api/v1/account/password",
        json={"current_password": password_of(agent), "new_password": "a fresh long passphrase"},
        headers={"X-CSRF-Token": token},
    )
    assert changed.status_code == 204, changed.text
    assert client.get("/api/v1/inbox/conversations").status_code == 200, "this one stays"
    assert other.get("/api/v1/inbox/conversations").status_code == 401, "the other one ends"
    client.cookies.clear()
    assert (
        post_login(
            client, agent.email, "a fresh long passphrase", follow_redirects=False
        ).status_code
        == 303
    )


def test_the_password_page_changes_the_password(client: TestClient, staff: dict[str, User]) -> None:
    agent = staff["agent"]
    token = login(client, agent)
    page = client.get("/account/password")
    assert page.status_code == 200 and 'name="new_password"' in page.text
    form = {"current_password": password_of(agent), "csrf_token": token}
    differ = client.post(
        "/account/password",
        data={**form, "new_password": "one long passphrase", "repeat_password": "another one"},
    )
    assert differ.status_code == 422 and "differ" in differ.text
    done = client.post(
        "/account/password",
        data={
            **form,
            "new_password": "one long passphrase",
            "repeat_password": "one long passphrase",
        },
        follow_redirects=False,
    )
    assert done.status_code == 303 and done.headers["location"] == "/inbox"


def test_idle_and_absolute_timeouts_end_sessions(
    client: TestClient, session: Session, staff: dict[str, User]
) -> None:
    login(client, staff["agent"])
    assert client.get("/api/v1/inbox/conversations").status_code == 200
    now = utcnow()
    session.execute(update(UserSession).values(last_seen_at=now - dt.timedelta(minutes=31)))
    session.commit()
    assert client.get("/api/v1/inbox/conversations").status_code == 401, "idle too long"

    client.cookies.clear()
    login(client, staff["agent"])
    session.execute(
        update(UserSession)
        .where(UserSession.revoked_at.is_(None), UserSession.last_seen_at >= now)
        .values(created_at=now - dt.timedelta(hours=13), expires_at=now - dt.timedelta(hours=1))
    )
    session.commit()
    assert client.get("/api/v1/inbox/conversations").status_code == 401, "past its lifetime"


def test_signed_cookies_of_the_old_kind_are_refused_even_from_the_future(
    client: TestClient, settings: Settings, staff: dict[str, User]
) -> None:
    """Before: ``<user id>.<issued>.<HMAC>`` with an issue time in the future never expired."""
    body = f"{staff['admin'].id}.{int(time.time()) + 10 * 365 * 86400}"
    digest = hmac.new(
        settings.secret_key.get_secret_value().encode(),
        f"session:{body}".encode(),
        hashlib.sha256,
    ).digest()
    client.cookies.set(
        "careloop_session", f"{body}.{base64.urlsafe_b64encode(digest).decode().rstrip('=')}"
    )
    assert client.get("/api/v1/inbox/conversations").status_code == 401


# -- CSRF and origin ---------------------------------------------------------------------


def test_the_sign_in_form_needs_its_csrf_token(client: TestClient, staff: dict[str, User]) -> None:
    agent = staff["agent"]
    data = {"email": agent.email, "password": password_of(agent)}
    no_token = client.post("/login", data=data, follow_redirects=False)
    assert no_token.status_code == 403 and "expired" in no_token.text
    token = login_form_token(client)
    forged = client.post("/login", data={**data, "csrf_token": "x" + token}, follow_redirects=False)
    assert forged.status_code == 403
    cross = client.post(
        "/login",
        data={**data, "csrf_token": token},
        headers={"Origin": "https://evil.example"},
        follow_redirects=False,
    )
    assert cross.status_code == 403
    ok = client.post(
        "/login",
        data={**data, "csrf_token": token},
        headers={"Origin": "http://testserver"},
        follow_redirects=False,
    )
    assert ok.status_code == 303


def test_cookie_writes_from_another_origin_are_refused(
    client: TestClient, staff: dict[str, User]
) -> None:
    conversation_id = escalate(client, "sec-origin-1")
    token = login(client, staff["agent"])
    path = f"/api/v1/inbox/conversations/{conversation_id}/claim"
    for headers in (
        {"Origin": "https://evil.example"},
        {"Origin": "null"},
        {"Referer": "https://evil.example/page"},
    ):
        refused = client.post(path, headers={"X-CSRF-Token": token, **headers})
        assert refused.status_code == 403, headers
        assert refused.json()["error"]["code"] == "cross_origin"
    same = client.post(path, headers={"X-CSRF-Token": token, "Origin": "http://testserver"})
    assert same.status_code == 200


def test_allowed_origins_admit_a_proxy_origin(
    make_client: MakeClient, staff: dict[str, User]
) -> None:
    with make_client(allowed_origins=["https://care.shop.example"]) as client:
        token = login(client, staff["agent"])
        response = client.post(
            "/api/v1/inbox/notifications/read",
            json={},
            headers={"X-CSRF-Token": token, "Origin": "https://care.shop.example"},
        )
        assert response.status_code == 200


# -- headers, templates, docs ------------------------------------------------------------


def test_pages_and_staff_json_carry_the_security_headers(
    client: TestClient, staff: dict[str, User]
) -> None:
    login(client, staff["admin"])
    for path in ("/login", "/inbox", "/api/v1/inbox/conversations", "/docs", "/chat"):
        response = client.get(path)
        assert response.status_code == 200, path
        csp = response.headers["Content-Security-Policy"]
        assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
        assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["X-Frame-Options"] == "DENY"
        assert response.headers["Referrer-Policy"] == "same-origin"
        assert response.headers["Cache-Control"] == "no-store", path
    static = client.get("/static/inbox.js")
    assert static.headers["X-Content-Type-Options"] == "nosniff"
    assert "no-store" not in static.headers.get("Cache-Control", "")


def test_templates_have_no_inline_script_or_event_handlers() -> None:
    for template in sorted((WEB / "templates").glob("*.html")):
        text = template.read_text()
        for tag in re.findall(r"<script\b[^>]*>", text):
            assert "src=" in tag, f"{template.name}: inline <script>"
        assert not re.search(r"\son[a-z]+\s*=", text), f"{template.name}: inline event handler"
        assert "style=" not in text, f"{template.name}: inline style"


def test_the_api_docs_are_served_from_the_package(client: TestClient) -> None:
    page = client.get("/docs")
    assert page.status_code == 200
    sources = [urlsplit(s) for s in re.findall(r'(?:src|href)="([^"]+)"', page.text)]
    assert sources, "the page loads its assets"
    for source in sources:
        assert source.netloc in ("", "testserver") and source.path.startswith("/static/")
        assert client.get(source.path).status_code == 200, source
    assert client.get("/openapi.json").json()["info"]["title"] == "careloop"


# -- secrets and settings ----------------------------------------------------------------


@pytest.mark.parametrize(
    "secret",
    ["x", "12345678", "dev-secret-change-me", "a" * 40, "abcd" * 10, "0123456789" * 2],
)
def test_production_refuses_weak_secrets(secret: str) -> None:
    with pytest.raises(ValidationError, match="too weak"):
        Settings(env="production", secret_key=secret)


def test_production_accepts_a_random_secret() -> None:
    Settings(env="production", secret_key="Zq3v9Lk2wP0xR7tY5uI8oA1sD4fG6hJ-_mNbVc")


def test_the_cli_explains_bad_settings_without_a_traceback(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CARELOOP_ENV", "production")
    monkeypatch.setenv("CARELOOP_SECRET_KEY", "12345678")
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(cli_app, ["users", "list"])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 1
    assert "invalid settings" in result.output and "CARELOOP_SECRET_KEY" in result.output
    assert "token_urlsafe" in result.output and "Traceback" not in result.output


# -- access log --------------------------------------------------------------------------


class _Capture(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


@pytest.fixture
def served_app(tmp_path: Path, bot: BotEngine, db_url: str) -> Iterator[str]:
    """A real uvicorn server with its access log on."""
    engine = create_db_engine(db_url)
    port = _free_port()
    app = create_app(
        Settings(env="test", data_dir=tmp_path, database_url=db_url),
        bot=bot,
        db_engine=engine,
        session_factory=create_session_factory(engine),
        run_scheduler=False,
    )
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="info"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)
    engine.dispose()


def test_the_access_log_keeps_chat_session_ids_out(served_app: str) -> None:
    capture = _Capture()
    access = logging.getLogger("uvicorn.access")
    access.addHandler(capture)
    try:
        secret_id = "visitor-key-7f3a9c"
        with httpx.Client(base_url=served_app) as http:
            assert http.get(f"/api/v1/chat/sessions/{secret_id}/messages").status_code == 200
            assert http.get(f"/chat?session={secret_id}&x=1").status_code == 200
            assert http.get(f"/chat?customer_token={secret_id}").status_code == 200
    finally:
        access.removeHandler(capture)
    lines = [line for line in capture.lines if "/chat" in line]
    assert len(lines) == 3, capture.lines
    assert all(secret_id not in line for line in lines), lines
    assert "/api/v1/chat/sessions/[redacted]/messages" in lines[0]
    assert "session=[redacted]&x=1" in lines[1]
    assert "customer_token=[redacted]" in lines[2]

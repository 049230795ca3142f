# ruff: noqa: F811
"""The admin console in a real headless Chromium against a real server on 127.0.0.1:
users, teams, SLA and hours, canned responses, the response book and the audit log, the
HTML 403 / 404 pages, and the agent's side of canned responses and private notes."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from bot.engine import Engine as BotEngine
from crm.db import session_scope
from crm.models import (
    AuditEntry,
    CannedResponse,
    ConversationStatus,
    Role,
    SlaPolicy,
    Team,
    User,
)
from tests.factories import make_user
from tests.test_browser import ARTIFACTS, csp_violations, sign_in

# The fixtures of the browser tests, under the names these tests take them by (so the
# parameters below "redefine" them for the linter, hence the file-wide F811 exemption).
from tests.test_browser import browser as chrome  # noqa: F401 (headless Chromium)
from tests.test_browser import served as live  # noqa: F401 (a real server on 127.0.0.1)

pytestmark = pytest.mark.browser
Served = tuple[str, sessionmaker[Session]]


@pytest.fixture
def keep_book(bot: BotEngine) -> Iterator[BotEngine]:
    """The engine is shared by the whole run: put its response book back afterwards."""
    before = bot.responses
    yield bot
    bot.responses = before


def _driver(chrome: object) -> Any:
    from selenium.webdriver.remote.webdriver import WebDriver

    assert isinstance(chrome, WebDriver)
    return chrome


def open_admin(driver: Any, base: str, page: str) -> Any:
    """Open an admin page and wait until its script has drawn it."""
    from selenium.common.exceptions import TimeoutException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    driver.get(f"{base}/admin/{page}")
    wait = WebDriverWait(driver, 20)
    try:
        wait.until(lambda d: d.find_element(By.ID, "admin").get_attribute("data-ready"))
    except TimeoutException:
        error = driver.find_element(By.ID, "admin-error").text
        console = [e.get("message") for e in driver.get_log("browser")]
        raise AssertionError(f"/admin/{page} not drawn: {error!r} {console}") from None
    return wait


def notice(driver: Any, wait: Any, text: str) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec

    wait.until(ec.text_to_be_present_in_element((By.ID, "admin-notice"), text))
    assert not driver.find_element(By.ID, "admin-error").is_displayed()


def accept_confirm(driver: Any) -> None:
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(driver, 10).until(ec.alert_is_present())
    driver.switch_to.alert.accept()


def user_row(driver: Any, email: str) -> Any:
    from selenium.webdriver.common.by import By

    return driver.find_element(By.CSS_SELECTOR, f'#users-table tr[data-email="{email}"]')


def signed_in_client(base: str, email: str) -> httpx.Client:
    """Another browser, for the agent: signed in through the same form."""
    # A fresh connection per request: the browser steps between two of this client's requests
    # can outlast uvicorn's 5 s keep-alive, and a pooled connection the server closes at that
    # moment fails the request ("Server disconnected without sending a response").
    agent = httpx.Client(
        base_url=base,
        follow_redirects=False,
        timeout=60,
        limits=httpx.Limits(max_keepalive_connections=0),
    )
    page = agent.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert token
    res = agent.post(
        "/login",
        data={"email": email, "password": f"password-{email}", "csrf_token": token.group(1)},
    )
    assert res.status_code == 303
    return agent


def in_db(factory: sessionmaker[Session], read: Callable[[Session], Any]) -> Any:
    with session_scope(factory) as session:
        return read(session)


def test_admin_manages_users_in_the_browser(live: Served, chrome: object) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    driver = _driver(chrome)
    base, factory = live
    with session_scope(factory) as session:
        admin = make_user(session, Role.admin, display_name="Ada Admin").email
        agent = make_user(session, Role.agent, display_name="Alice Agent").email
        session.add(Team(name="Returns", business_hours="", timezone="UTC"))
    agent_browser = signed_in_client(base, agent)
    assert agent_browser.get("/api/v1/canned-responses").status_code == 200
    driver.set_window_size(1400, 1000)
    sign_in(driver, f"{base}/login?next=/admin", admin)
    wait = open_admin(driver, base, "users")
    assert driver.find_element(By.CSS_SELECTOR, ".admin-tabs .active").text == "Users"

    # Invite a marketer: the one-time password is shown once.
    driver.find_element(By.ID, "invite-email").send_keys("mia@shop.example")
    Select(driver.find_element(By.ID, "invite-role")).select_by_value("marketer")
    driver.find_element(By.ID, "invite-submit").click()
    notice(driver, wait, "mia@shop.example invited as marketer")
    password = driver.find_element(By.ID, "one-time-password").text
    assert len(password) >= 12
    assert "must set password" in user_row(driver, "mia@shop.example").text

    # The agent: capacity, team, role.
    row = user_row(driver, agent)
    capacity = row.find_element(By.CSS_SELECTOR, ".capacity-input")
    capacity.clear()
    capacity.send_keys("2")
    row.find_element(By.CSS_SELECTOR, ".capacity-save").click()
    notice(driver, wait, f"{agent} takes up to 2 conversations")
    Select(
        user_row(driver, agent).find_element(By.CSS_SELECTOR, ".team-select")
    ).select_by_visible_text("Returns")
    notice(driver, wait, f"{agent} joined Returns")
    Select(user_row(driver, agent).find_element(By.CSS_SELECTOR, ".role-select")).select_by_value(
        "admin"
    )
    notice(driver, wait, f"{agent} is now admin")
    Select(user_row(driver, agent).find_element(By.CSS_SELECTOR, ".role-select")).select_by_value(
        "agent"
    )
    notice(driver, wait, f"{agent} is now agent")

    # Disable: the agent's session ends at once; enable; reset the password.
    user_row(driver, agent).find_element(By.CSS_SELECTOR, ".toggle-active").click()
    accept_confirm(driver)
    notice(driver, wait, f"{agent} is disabled; their sessions ended")
    assert "disabled" in user_row(driver, agent).text
    assert agent_browser.get("/api/v1/canned-responses").status_code == 401
    user_row(driver, agent).find_element(By.CSS_SELECTOR, ".toggle-active").click()
    notice(driver, wait, f"{agent} can sign in again")
    user_row(driver, agent).find_element(By.CSS_SELECTOR, ".reset-password").click()
    accept_confirm(driver)
    notice(driver, wait, f"Password of {agent} reset")
    assert driver.find_element(By.ID, "one-time-password").text != password

    # The admin cannot disable themself: no button on their own row.
    assert not user_row(driver, admin).find_elements(By.CSS_SELECTOR, ".toggle-active")
    ARTIFACTS.mkdir(exist_ok=True)
    driver.save_screenshot(str(ARTIFACTS / "admin-users.png"))
    assert csp_violations(driver) == []

    stored = in_db(
        factory,
        lambda s: s.scalars(select(User).where(User.email == agent)).one(),
    )
    assert stored.max_concurrent == 2 and stored.role is Role.agent and stored.is_active
    assert stored.team_id is not None and stored.password_change_required
    logged = in_db(factory, lambda s: list(s.scalars(select(AuditEntry.action))))
    for action in ("user.invite", "user.update", "user.team", "user.disable", "user.enable"):
        assert action in logged, action
    assert "user.reset_password" in logged


def test_admin_routes_intents_to_teams_and_manages_members(live: Served, chrome: object) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    driver = _driver(chrome)
    base, factory = live
    with session_scope(factory) as session:
        admin = make_user(session, Role.admin).email
        make_user(session, Role.agent, display_name="Alice Agent", email="alice@shop.example")
        make_user(session, Role.marketer, display_name="Mia Marketer")
    driver.set_window_size(1400, 1000)
    sign_in(driver, f"{base}/login?next=/admin/teams", admin)
    wait = open_admin(driver, base, "teams")
    assert driver.find_element(By.ID, "teams-empty").is_displayed()

    driver.find_element(By.ID, "team-name").send_keys("Billing")
    driver.find_element(By.ID, "team-intents").send_keys("payment_problem")
    driver.find_element(By.ID, "team-submit").click()
    notice(driver, wait, "Team Billing created")
    card = driver.find_element(By.CSS_SELECTOR, '.team-card[data-name="Billing"]')
    intents = card.find_element(By.CSS_SELECTOR, ".team-intents")
    intents.send_keys(", refund_return")
    card.find_element(By.CSS_SELECTOR, ".save-intents").click()
    notice(driver, wait, "Billing: intents saved")

    card = driver.find_element(By.CSS_SELECTOR, '.team-card[data-name="Billing"]')
    options = [o.text for o in Select(card.find_element(By.CSS_SELECTOR, ".add-member")).options]
    assert not any("Mia Marketer" in o for o in options), "marketers do not join teams"
    Select(card.find_element(By.CSS_SELECTOR, ".add-member")).select_by_visible_text(
        "Alice Agent (alice@shop.example)"
    )
    notice(driver, wait, "Member added to Billing")
    card = driver.find_element(By.CSS_SELECTOR, '.team-card[data-name="Billing"]')
    assert "alice@shop.example" in card.find_element(By.CSS_SELECTOR, ".members").text
    team = in_db(factory, lambda s: s.scalars(select(Team)).one())
    assert team.intents == ["payment_problem", "refund_return"]

    card.find_element(By.CSS_SELECTOR, ".remove-member").click()
    notice(driver, wait, "alice@shop.example left Billing")
    driver.find_element(By.CSS_SELECTOR, ".delete-team").click()
    accept_confirm(driver)
    notice(driver, wait, "Billing deleted")
    assert driver.find_element(By.ID, "teams-empty").is_displayed()
    assert csp_violations(driver) == []
    logged = in_db(factory, lambda s: list(s.scalars(select(AuditEntry.action))))
    assert logged == ["team.create", "team.update", "user.team", "user.team", "team.delete"]


def test_admin_sets_sla_targets_business_hours_and_holidays(live: Served, chrome: object) -> None:
    from selenium.webdriver.common.by import By

    driver = _driver(chrome)
    base, factory = live
    with session_scope(factory) as session:
        admin = make_user(session, Role.admin).email
        session.add(Team(name="Support", business_hours="", timezone="UTC"))
    driver.set_window_size(1400, 1100)
    sign_in(driver, f"{base}/login?next=/admin/sla", admin)
    wait = open_admin(driver, base, "sla")
    assert "mon-fri" in driver.find_element(By.ID, "shop-hours").text

    default = driver.find_element(By.ID, "policy-default")
    first = default.find_element(By.NAME, "first_response_minutes")
    first.clear()
    first.send_keys("20")
    default.find_element(By.CSS_SELECTOR, ".save-policy").click()
    notice(driver, wait, "Default SLA policy saved")

    card = driver.find_element(By.CSS_SELECTOR, '.sla-card[data-name="Support"]')
    hours = card.find_element(By.CSS_SELECTOR, ".hours-form")
    hours.find_element(By.NAME, "business_hours").send_keys("mon-fri 08:00-17:00")
    zone = hours.find_element(By.NAME, "timezone")
    zone.clear()
    zone.send_keys("Europe/Berlin")
    hours.find_element(By.NAME, "holidays").send_keys("2026-12-24, 2026-12-25")
    hours.find_element(By.CSS_SELECTOR, ".save-hours").click()
    notice(driver, wait, "Support: hours saved")

    # A wrong value is refused with the reason, and nothing changes.
    card = driver.find_element(By.CSS_SELECTOR, '.sla-card[data-name="Support"]')
    hours = card.find_element(By.CSS_SELECTOR, ".hours-form")
    field = hours.find_element(By.NAME, "business_hours")
    field.clear()
    field.send_keys("weekdays")
    hours.find_element(By.CSS_SELECTOR, ".save-hours").click()
    from selenium.webdriver.support import expected_conditions as ec

    wait.until(ec.visibility_of_element_located((By.ID, "admin-error")))
    assert "weekdays" in driver.find_element(By.ID, "admin-error").text

    card = driver.find_element(By.CSS_SELECTOR, '.sla-card[data-name="Support"]')
    policy = card.find_element(By.CSS_SELECTOR, ".policy-form")
    for name, value in (("first_response_minutes", "10"), ("resolution_minutes", "120")):
        box = policy.find_element(By.NAME, name)
        box.clear()
        box.send_keys(value)
    policy.find_element(By.CSS_SELECTOR, ".save-policy").click()
    notice(driver, wait, "Support: SLA policy saved")
    assert csp_violations(driver) == []

    team = in_db(factory, lambda s: s.scalars(select(Team)).one())
    assert team.business_hours == "mon-fri 08:00-17:00" and team.timezone == "Europe/Berlin"
    assert team.holidays == ["2026-12-24", "2026-12-25"]
    policies = in_db(
        factory,
        lambda s: {
            p.team_id: (p.first_response_minutes, p.resolution_minutes)
            for p in s.scalars(select(SlaPolicy))
        },
    )
    assert policies[team.id] == (10, 120) and policies[None][0] == 20


def test_admin_edits_canned_responses_and_the_agent_uses_them(live: Served, chrome: object) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import Select, WebDriverWait

    from tests.factories import make_conversation, make_customer

    driver = _driver(chrome)
    base, factory = live
    with session_scope(factory) as session:
        admin = make_user(session, Role.admin).email
        agent = make_user(session, Role.agent, display_name="Alice Agent")
        conversation = make_conversation(
            session,
            make_customer(session),
            status=ConversationStatus.assigned,
            resolved_at=None,
            resolved_by=None,
            assigned_agent_id=agent.id,
        )
        agent_email, conversation_id = agent.email, conversation.id
    driver.set_window_size(1400, 1000)
    sign_in(driver, f"{base}/login?next=/admin/canned", admin)
    wait = open_admin(driver, base, "canned")
    seeded = driver.find_elements(By.CSS_SELECTOR, "#canned-table tbody tr")
    assert len(seeded) == 4

    driver.find_element(By.ID, "canned-shortcut").send_keys("delay")
    driver.find_element(By.ID, "canned-title").send_keys("Courier delay")
    driver.find_element(By.ID, "canned-text").send_keys("The courier is late, sorry.")
    driver.find_element(By.ID, "canned-submit").click()
    notice(driver, wait, "Added Courier delay")
    row = driver.find_element(By.CSS_SELECTOR, '#canned-table tr[data-shortcut="delay"]')
    text = row.find_element(By.CSS_SELECTOR, ".canned-body")
    text.clear()
    text.send_keys("The courier is running late; it arrives tomorrow.")
    row.find_element(By.CSS_SELECTOR, ".canned-save").click()
    notice(driver, wait, "Saved Courier delay")
    row = driver.find_element(By.CSS_SELECTOR, '#canned-table tr[data-shortcut="photo"]')
    row.find_element(By.CSS_SELECTOR, ".canned-delete").click()
    accept_confirm(driver)
    notice(driver, wait, "Deleted")
    assert csp_violations(driver) == []

    # The agent picks it in the conversation view; a private note's box unticks after sending.
    driver.delete_all_cookies()
    sign_in(driver, f"{base}/login?next=/inbox/conversations/{conversation_id}", agent_email)
    wait = WebDriverWait(driver, 20)
    wait.until(lambda d: len(Select(d.find_element(By.ID, "canned")).options) == 5)
    labels = [o.text for o in Select(driver.find_element(By.ID, "canned")).options]
    assert "Courier delay" in labels and "Ask for a photo" not in labels
    Select(driver.find_element(By.ID, "canned")).select_by_visible_text("Courier delay")
    reply = driver.find_element(By.ID, "reply-text")
    assert reply.get_attribute("value") == "The courier is running late; it arrives tomorrow."
    driver.find_element(By.ID, "reply-private").click()
    driver.find_element(By.ID, "reply-send").click()
    wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, ".hmsg-note")))
    assert not driver.find_element(By.ID, "reply-private").is_selected()
    assert reply.get_attribute("value") == ""
    assert csp_violations(driver) == []
    logged = in_db(factory, lambda s: list(s.scalars(select(AuditEntry.action))))
    assert logged == ["canned.create", "canned.update", "canned.delete"]
    assert in_db(factory, lambda s: len(list(s.scalars(select(CannedResponse))))) == 4


def test_admin_previews_publishes_and_restores_the_response_book(
    live: Served, chrome: object, keep_book: BotEngine
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec

    driver = _driver(chrome)
    base, factory = live
    with session_scope(factory) as session:
        admin = make_user(session, Role.admin).email
    driver.set_window_size(1400, 1200)
    sign_in(driver, f"{base}/login?next=/admin/responses", admin)
    wait = open_admin(driver, base, "responses")
    assert "shipped file" in driver.find_element(By.ID, "book-status").text
    assert driver.find_element(By.ID, "versions-empty").is_displayed()
    source = driver.find_element(By.ID, "book-source")
    original = source.get_attribute("value")
    assert "greet:" in original

    # Edit the greeting in the editor (the page's textarea), preview, publish.
    edited = original.replace("! I'm the {{ shop.name }} assistant.", "! Ahoy from the shop.", 1)
    driver.execute_script("arguments[0].value = arguments[1];", source, edited)
    driver.find_element(By.ID, "book-preview-btn").click()
    wait.until(ec.text_to_be_present_in_element((By.ID, "book-check"), "The text is fine"))
    greet = driver.find_element(By.CSS_SELECTOR, '#book-preview tr[data-key="greet"]')
    assert "Hi Sam! Ahoy from the shop." in greet.text and "Where is my order?" in greet.text

    broken = edited.replace("{{ order.ref }}", "{{ order.ref ", 1)
    driver.execute_script("arguments[0].value = arguments[1];", source, broken)
    driver.find_element(By.ID, "book-publish-btn").click()
    wait.until(ec.visibility_of_element_located((By.ID, "admin-error")))
    assert "template" in driver.find_element(By.ID, "admin-error").text

    driver.execute_script("arguments[0].value = arguments[1];", source, edited)
    driver.find_element(By.ID, "book-comment").send_keys("pirate greeting")
    driver.find_element(By.ID, "book-publish-btn").click()
    notice(driver, wait, "Version 1 published")
    assert "Version 1 is active" in driver.find_element(By.ID, "book-status").text
    assert "pirate greeting" in driver.find_element(By.ID, "book-versions").text

    # A customer gets the new greeting at once, without a restart.
    chat = httpx.post(
        f"{base}/api/v1/chat/messages",
        json={"session_id": "book-visitor", "text": "hello there"},
        timeout=60,
    ).json()
    assert any("Ahoy from the shop." in r["text"] for r in chat["replies"])

    # Back to the original as version 2, then restore version 1 as version 3.
    source = driver.find_element(By.ID, "book-source")
    driver.execute_script("arguments[0].value = arguments[1];", source, original)
    driver.find_element(By.ID, "book-publish-btn").click()
    notice(driver, wait, "Version 2 published")
    row = driver.find_element(By.CSS_SELECTOR, '#book-versions tr[data-version="1"]')
    row.find_element(By.CSS_SELECTOR, ".restore-version").click()
    notice(driver, wait, "Version 1 restored as a new version")
    assert "Version 3 is active" in driver.find_element(By.ID, "book-status").text
    assert "Ahoy from the shop." in driver.find_element(By.ID, "book-source").get_attribute("value")
    driver.find_element(By.ID, "book-reload-btn").click()
    notice(driver, wait, "Reloaded")
    ARTIFACTS.mkdir(exist_ok=True)
    driver.save_screenshot(str(ARTIFACTS / "admin-response-book.png"))
    assert csp_violations(driver) == []
    assert keep_book.responses.version == 3


def test_the_audit_log_page_lists_and_filters_admin_changes(live: Served, chrome: object) -> None:
    from selenium.webdriver.common.by import By

    driver = _driver(chrome)
    base, factory = live
    with session_scope(factory) as session:
        admin = make_user(session, Role.admin).email
        agent = make_user(session, Role.agent).email
    driver.set_window_size(1400, 1000)
    sign_in(driver, f"{base}/login?next=/admin/users", admin)
    wait = open_admin(driver, base, "users")
    capacity = user_row(driver, agent).find_element(By.CSS_SELECTOR, ".capacity-input")
    capacity.clear()
    capacity.send_keys("7")
    user_row(driver, agent).find_element(By.CSS_SELECTOR, ".capacity-save").click()
    notice(driver, wait, "takes up to 7")
    user_row(driver, agent).find_element(By.CSS_SELECTOR, ".toggle-active").click()
    accept_confirm(driver)
    notice(driver, wait, "is disabled")

    wait = open_admin(driver, base, "audit")
    rows = driver.find_elements(By.CSS_SELECTOR, "#audit-table tbody tr")
    assert [r.get_attribute("data-action") for r in rows] == ["user.disable", "user.update"]
    assert admin in rows[0].text and "sessions_ended: 0" in rows[0].text
    assert "max_concurrent: 5 → 7" in rows[1].text
    driver.find_element(By.ID, "audit-action").send_keys("user.update")
    driver.find_element(By.CSS_SELECTOR, "#audit-filter button").click()
    wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#audit-table tbody tr")) == 1)
    assert csp_violations(driver) == []


def test_other_roles_get_a_403_page_naming_it_and_unknown_pages_a_404(
    live: Served, chrome: object
) -> None:
    from selenium.webdriver.common.by import By

    driver = _driver(chrome)
    base, factory = live
    with session_scope(factory) as session:
        agent = make_user(session, Role.agent).email
    driver.set_window_size(1200, 900)
    sign_in(driver, f"{base}/login", agent)
    for path, name in (
        ("/admin/teams", "the admin console (Teams)"),
        ("/analytics/segments", "the Segments page"),
    ):
        driver.get(base + path)
        text = driver.find_element(By.ID, "forbidden").text
        assert f"cannot open {name}" in text, path
        assert "Admin" not in driver.find_element(By.CSS_SELECTOR, ".staff-nav").text
    for path in ("/admin/x", "/users", "/settings"):
        driver.get(base + path)
        assert "Page not found" in driver.find_element(By.ID, "not-found").text, path
        assert driver.find_element(By.CSS_SELECTOR, "link[rel=stylesheet]")
    assert csp_violations(driver) == []

"""The web chat page in a real headless Chromium against a real server on 127.0.0.1."""

from __future__ import annotations

import datetime as dt
import os
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import uvicorn
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from bot.engine import Engine as BotEngine
from careloop.config import Settings
from crm.db import create_db_engine, create_session_factory, session_scope
from crm.models import Role
from migrations.runner import upgrade
from tests.factories import make_user
from web.app import create_app

pytestmark = pytest.mark.browser

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"


def sign_in(browser: object, login_url: str, email: str) -> None:
    """Sign in through the login form (factory users' password is ``password-<email>``)."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.remote.webdriver import WebDriver
    from selenium.webdriver.support.ui import WebDriverWait

    assert isinstance(browser, WebDriver)
    browser.get(login_url)
    browser.find_element(By.ID, "login-email").send_keys(email)
    browser.find_element(By.ID, "login-password").send_keys(f"password-{email}")
    browser.find_element(By.ID, "login-submit").click()
    # The form's POST sets the session cookie; a page asked for before its answer arrives
    # would abort it (and find the visitor signed out), so wait until the login page is left.
    WebDriverWait(browser, 15).until(lambda b: urlsplit(b.current_url).path != "/login")


@pytest.fixture
def server(served: tuple[str, sessionmaker[Session]]) -> str:
    return served[0]


@pytest.fixture
def served(tmp_path: Path, bot: BotEngine) -> Iterator[tuple[str, sessionmaker[Session]]]:
    """A real uvicorn server on 127.0.0.1 and a session factory on its database."""
    url = f"sqlite:///{tmp_path / 'browser.db'}"
    upgrade(url)
    engine: Engine = create_db_engine(url)
    port = _free_port()
    factory = create_session_factory(engine)
    app = create_app(
        Settings(env="test", data_dir=tmp_path, database_url=url),
        bot=bot,
        db_engine=engine,
        session_factory=factory,
        run_scheduler=False,
    )
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}", factory
    server.should_exit = True
    thread.join(timeout=10)
    engine.dispose()


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[object]:
    if not (shutil.which(CHROMIUM) and shutil.which(CHROMEDRIVER)):
        message = "Debian chromium + chromium-driver not installed"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        f"--user-data-dir={tmp_path / 'chrome-profile'}",
    ):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})  # for console checks
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    yield driver
    driver.quit()


def test_customer_chats_in_the_browser(server: str, browser: object) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.remote.webdriver import WebDriver
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    assert isinstance(browser, WebDriver)
    browser.get(f"{server}/chat?session=browser-visitor")
    box = browser.find_element(By.ID, "chat-input")
    box.send_keys("where is my order?")
    browser.find_element(By.ID, "chat-send").click()
    wait = WebDriverWait(browser, 20)
    wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, ".msg-bot .bubble")))
    customer = browser.find_elements(By.CSS_SELECTOR, ".msg-customer .bubble")
    bot_replies = browser.find_elements(By.CSS_SELECTOR, ".msg-bot .bubble")
    assert customer[0].text == "where is my order?"
    assert "order number" in bot_replies[0].text
    assert box.get_attribute("value") == ""

    # A reload shows the history again (fetched through the public API).
    browser.refresh()
    wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, ".msg-bot .bubble")))
    assert len(browser.find_elements(By.CSS_SELECTOR, ".msg")) == 2


def test_a_tracking_link_in_a_reply_is_a_link(
    served: tuple[str, sessionmaker[Session]], browser: object
) -> None:
    """The carrier's tracking page in the order's status is a link that opens apart; what
    the customer typed stays text."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.remote.webdriver import WebDriver
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    from crm.models import OrderStatus
    from tests.factories import make_customer, make_order

    assert isinstance(browser, WebDriver)
    base, factory = served
    with session_scope(factory) as session:
        anna = make_customer(session, email="anna@example.com")
        make_order(
            session,
            anna,
            external_id="O0001234",
            status=OrderStatus.shipped,
            carrier="DHL",
            tracking_number="JJD0001234",
        )
    browser.get(f"{base}/chat?session=tracking-visitor")
    box = browser.find_element(By.ID, "chat-input")
    box.send_keys("where is O0001234? anna@example.com https://example.com/mine")
    browser.find_element(By.ID, "chat-send").click()
    wait = WebDriverWait(browser, 20)
    link = wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, ".msg-bot .bubble a")))
    assert link.get_attribute("href").endswith("piececode=JJD0001234")
    assert link.get_attribute("target") == "_blank" and "noopener" in link.get_attribute("rel")
    assert "Track it here" in browser.find_element(By.CSS_SELECTOR, ".msg-bot .bubble").text
    assert not browser.find_elements(By.CSS_SELECTOR, ".msg-customer .bubble a")


def test_quick_reply_buttons_in_the_browser(server: str, browser: object) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.remote.webdriver import WebDriver
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    assert isinstance(browser, WebDriver)
    browser.get(f"{server}/chat?session=browser-buttons")
    wait = WebDriverWait(browser, 20)
    # the greeting (with its own quick replies) is drawn first; the reply replaces them
    wait.until(ec.element_to_be_clickable((By.CSS_SELECTOR, ".quick-reply")))

    def bot_bubbles() -> int:
        return len(browser.find_elements(By.CSS_SELECTOR, ".msg-bot .bubble"))

    before = bot_bubbles()
    browser.find_element(By.ID, "chat-input").send_keys("hello")
    browser.find_element(By.ID, "chat-send").click()
    wait.until(lambda d: bot_bubbles() > before)
    wait.until(ec.element_to_be_clickable((By.CSS_SELECTOR, ".quick-reply")))
    labels = [b.text for b in browser.find_elements(By.CSS_SELECTOR, ".quick-reply")]
    assert "Where is my order?" in labels
    next(
        b
        for b in browser.find_elements(By.CSS_SELECTOR, ".quick-reply")
        if b.text == "Where is my order?"
    ).click()
    wait.until(lambda d: bot_bubbles() >= before + 2)
    customer = [e.text for e in browser.find_elements(By.CSS_SELECTOR, ".msg-customer .bubble")]
    assert customer == ["hello", "Where is my order?"]
    assert not browser.find_elements(By.CSS_SELECTOR, ".quick-reply"), "buttons go once used"


def test_agent_takes_a_complaint_live_and_the_customer_gets_the_reply(
    served: tuple[str, sessionmaker[Session]], browser: object
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.remote.webdriver import WebDriver
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    assert isinstance(browser, WebDriver)
    base, factory = served
    with session_scope(factory) as session:
        agent = make_user(session, Role.agent, display_name="Alice Agent")
        email = agent.email
    wait = WebDriverWait(browser, 20)
    ARTIFACTS.mkdir(exist_ok=True)

    # The agent signs in and watches the queue.
    browser.set_window_size(1400, 900)
    sign_in(browser, f"{base}/login", email)
    wait.until(ec.text_to_be_present_in_element((By.ID, "live-state"), "live"))
    agent_tab = browser.current_window_handle

    # A customer complains on the web chat, in another tab.
    browser.switch_to.new_window("tab")
    customer_tab = browser.current_window_handle
    browser.get(f"{base}/chat?session=e2e-customer")
    browser.find_element(By.ID, "chat-input").send_keys(
        "This is unacceptable, my order arrived broken and I want to complain"
    )
    browser.find_element(By.ID, "chat-send").click()
    wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, ".msg-bot .bubble")))

    # It appears in the agent's queue without a reload; the agent claims it.
    browser.switch_to.window(agent_tab)
    wait.until(ec.element_to_be_clickable((By.CSS_SELECTOR, ".queue-row .claim")))
    row = browser.find_element(By.CSS_SELECTOR, ".queue-row")
    assert "complaint" in row.text
    browser.save_screenshot(str(ARTIFACTS / "inbox-queue.png"))
    row.find_element(By.CSS_SELECTOR, ".claim").click()
    wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, ".hmsg-customer")))
    wait.until(ec.text_to_be_present_in_element((By.ID, "conv-status"), "assigned"))
    assert "complaint" in browser.find_element(By.CSS_SELECTOR, ".hmsg-customer .nlu").text

    # The agent replies; the customer sees it in the web chat.
    browser.find_element(By.ID, "reply-text").send_keys(
        "I'm so sorry! A replacement is on its way."
    )
    browser.find_element(By.ID, "reply-send").click()
    wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, ".hmsg-agent")))
    browser.save_screenshot(str(ARTIFACTS / "inbox-conversation.png"))
    browser.switch_to.window(customer_tab)
    wait.until(
        ec.text_to_be_present_in_element((By.CSS_SELECTOR, ".msg-agent .bubble"), "replacement")
    )

    # The agent resolves the conversation.
    browser.switch_to.window(agent_tab)
    browser.find_element(By.ID, "resolve-btn").click()
    wait.until(ec.text_to_be_present_in_element((By.ID, "conv-status"), "resolved"))
    assert "SLA" not in browser.find_element(By.ID, "conv-status").text  # no countdown now
    assert (ARTIFACTS / "inbox-queue.png").stat().st_size > 0

    # Closing the loop: the CSAT question reaches the customer's chat with answer buttons.
    from crm.surveys import service as surveys

    settings = Settings()
    with session_scope(factory) as session:
        assert surveys.dispatch(session, settings).sent == 1
    browser.switch_to.window(customer_tab)
    wait.until(ec.element_to_be_clickable((By.CSS_SELECTOR, ".answer-button")))
    scale = browser.find_elements(By.CSS_SELECTOR, ".answer-button")
    assert [b.text for b in scale] == ["1", "2", "3", "4", "5"]
    browser.save_screenshot(str(ARTIFACTS / "chat-csat.png"))
    scale[1].click()
    wait.until(ec.text_to_be_present_in_element((By.CSS_SELECTOR, ".answer-button"), "Skip"))
    browser.find_element(By.ID, "chat-input").send_keys(
        "Terrible experience, nobody told me anything and I had to wait for days"
    )
    browser.find_element(By.ID, "chat-send").click()
    wait.until(
        lambda d: any("get in touch" in e.text for e in d.find_elements(By.CSS_SELECTOR, ".bubble"))
    )

    # The follow-up lands in the agent's queue, live.
    browser.switch_to.window(agent_tab)
    browser.get(f"{base}/inbox")
    wait.until(
        ec.text_to_be_present_in_element((By.CSS_SELECTOR, ".queue-row"), "survey follow up")
    )


def test_marketer_sees_satisfaction_charts(
    served: tuple[str, sessionmaker[Session]], browser: object
) -> None:
    import datetime as dt

    from selenium.webdriver.common.by import By
    from selenium.webdriver.remote.webdriver import WebDriver
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    from crm.db import utcnow
    from crm.models import SurveyKind
    from tests.factories import make_customer, make_survey

    assert isinstance(browser, WebDriver)
    base, factory = served
    with session_scope(factory) as session:
        marketer = make_user(session, Role.marketer, display_name="Mia Marketer")
        agent = make_user(session, Role.agent, display_name="Alice Agent")
        email = marketer.email
        when = utcnow() - dt.timedelta(days=3)
        for score in (5, 4, 2):
            make_survey(
                session, make_customer(session), score=score, answered_at=when, agent_id=agent.id
            )
        for score in (10, 3):
            make_survey(session, make_customer(session), SurveyKind.nps, score, answered_at=when)
    wait = WebDriverWait(browser, 20)
    browser.set_window_size(1400, 1000)
    sign_in(browser, f"{base}/login", email)
    wait.until(ec.url_contains("/analytics/satisfaction"))  # where marketers land
    wait.until(lambda d: d.find_element(By.ID, "satisfaction").get_attribute("data-loaded"))
    assert browser.find_element(By.ID, "kpi-csat").text == "66.7%"
    assert browser.find_element(By.ID, "kpi-nps").text == "0"
    assert browser.execute_script("return typeof Chart") == "function"  # vendored, no CDN
    for chart in ("chart-trend", "chart-csat-dist", "chart-nps-dist", "chart-agents"):
        canvas = browser.find_element(By.ID, chart)
        assert int(canvas.get_attribute("data-points") or 0) >= 1, chart
        assert canvas.size["width"] > 100
    assert "Alice Agent" in browser.find_element(By.ID, "agents-body").text
    assert "Inbox" not in browser.find_element(By.CSS_SELECTOR, ".staff-nav").text
    ARTIFACTS.mkdir(exist_ok=True)
    browser.save_screenshot(str(ARTIFACTS / "satisfaction.png"))


def test_marketer_explores_segments_and_opens_a_customer(
    served: tuple[str, sessionmaker[Session]], browser: object
) -> None:
    from decimal import Decimal

    from selenium.webdriver.common.by import By
    from selenium.webdriver.remote.webdriver import WebDriver
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    from crm.models import ChurnRisk
    from tests.factories import make_customer, make_order

    assert isinstance(browser, WebDriver)
    base, factory = served
    with session_scope(factory) as session:
        email = make_user(session, Role.marketer).email
        for i, (segment, score, risk) in enumerate(
            [("Champions", "555", ChurnRisk.low), ("At risk", "242", ChurnRisk.high)] * 3
        ):
            customer = make_customer(
                session,
                email=f"seg{i}@example.com",
                rfm_segment=segment,
                rfm_score=score,
                clv=Decimal(100 * (i + 1)),
                churn_probability=0.8 if risk is ChurnRisk.high else 0.1,
                churn_risk=risk,
                churn_reasons=["no order for 94 days, usually every 20 days"],
            )
            customer.scored_at = dt.datetime(2026, 11, 30, 2, 15, tzinfo=dt.UTC)
            make_order(session, customer)
    wait = WebDriverWait(browser, 20)
    browser.set_window_size(1400, 1200)
    sign_in(browser, f"{base}/login?next=/analytics/segments", email)
    wait.until(lambda d: d.find_element(By.ID, "segments").get_attribute("data-loaded"))
    assert browser.find_element(By.ID, "kpi-high").text == "3"
    for chart in ("chart-sizes", "chart-revenue", "chart-risk", "chart-churn-hist"):
        assert int(browser.find_element(By.ID, chart).get_attribute("data-points") or 0) >= 1
    assert "555" not in browser.find_element(By.ID, "clv-heatmap").text  # cells show CLV
    assert len(browser.find_elements(By.CSS_SELECTOR, "#clv-heatmap td.heat")) == 25
    ARTIFACTS.mkdir(exist_ok=True)
    browser.save_screenshot(str(ARTIFACTS / "segments.png"))

    row = next(
        r
        for r in browser.find_elements(By.CSS_SELECTOR, "#segments-table tbody tr")
        if r.text.startswith("At risk")
    )
    button = row.find_element(By.CSS_SELECTOR, "button")
    # the "members" button is readable: not white text (on a white page), and not the
    # colour of its own background
    color = button.value_of_css_property("color")
    assert color not in ("rgba(255, 255, 255, 1)", "rgb(255, 255, 255)")
    assert color != button.value_of_css_property("background-color")
    button.click()
    wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, "#members-table tbody a")))
    member = browser.find_element(By.CSS_SELECTOR, "#members-table tbody tr")
    assert "***@example.com" in member.text  # masked for marketers
    member.find_element(By.CSS_SELECTOR, "a").click()
    wait.until(lambda d: d.find_element(By.ID, "customer").get_attribute("data-loaded"))
    assert "no order for 94 days" in browser.find_element(By.ID, "customer-reasons").text
    facts = browser.find_element(By.ID, "customer-facts").text
    assert "***@example.com" in facts
    # "Scored" reads as a date, not as a raw ISO timestamp
    assert "2026" in facts and "2026-11-30T" not in facts
    browser.save_screenshot(str(ARTIFACTS / "customer.png"))


def test_marketer_creates_previews_activates_and_reads_a_campaign_report(
    served: tuple[str, sessionmaker[Session]], browser: object
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.remote.webdriver import WebDriver
    from selenium.webdriver.support.ui import WebDriverWait

    from crm.models import ChurnRisk
    from tests.factories import make_customer, make_telegram_identity

    assert isinstance(browser, WebDriver)
    base, factory = served
    with session_scope(factory) as session:
        email = make_user(session, Role.marketer).email
        for i in range(20):
            risk = ChurnRisk.high if i < 12 else ChurnRisk.low
            customer = make_customer(session, first_name=f"Cam{i}", churn_risk=risk)
            make_telegram_identity(session, customer, 880_000 + i)
    wait = WebDriverWait(browser, 20)
    browser.set_window_size(1400, 1600)
    sign_in(browser, f"{base}/login?next=/campaigns", email)
    wait.until(lambda d: d.find_element(By.ID, "campaigns").get_attribute("data-loaded"))
    browser.find_element(By.ID, "preview-audience").click()
    wait.until(lambda d: d.find_element(By.ID, "audience-size").get_attribute("data-size"))
    assert browser.find_element(By.ID, "audience-size").get_attribute("data-size") == "12"
    assert len(browser.find_elements(By.CSS_SELECTOR, "#audience-sample tbody tr")) == 10
    browser.find_element(By.ID, "preview-message").click()
    wait.until(lambda d: d.find_element(By.ID, "message-preview").text)
    assert browser.find_element(By.ID, "message-preview").text == (
        "Hi Cam0, we miss you! Use MISSYOU for 10% off."
    )
    template = browser.find_element(By.ID, "c-template")
    template.clear()
    template.send_keys("Hi {{ nickname }}")
    browser.find_element(By.ID, "save-campaign").click()
    wait.until(lambda d: d.find_element(By.ID, "campaign-error").text)
    assert "nickname" in browser.find_element(By.ID, "campaign-error").text
    template.clear()
    template.send_keys("Hi {{ name }}, {{ offer_code }} is yours.")
    browser.find_element(By.ID, "c-control").clear()
    browser.find_element(By.ID, "c-control").send_keys("25")
    browser.find_element(By.ID, "save-campaign").click()
    wait.until(lambda d: d.find_element(By.ID, "report").get_attribute("data-loaded"))
    assert browser.find_element(By.ID, "report-status").get_attribute("data-status") == "draft"
    browser.find_element(By.ID, "activate").click()  # asks first (tests/test_browser_campaigns.py)
    wait.until(lambda d: d.find_element(By.ID, "activate-dialog").get_attribute("data-audience"))
    browser.find_element(By.ID, "activate-confirm").click()
    wait.until(
        lambda d: d.find_element(By.ID, "report-status").get_attribute("data-status") == "finished"
    )
    treatment = int(browser.find_element(By.ID, "kpi-treatment").text)
    control = int(browser.find_element(By.ID, "kpi-control").text)
    assert browser.find_element(By.ID, "kpi-audience").text == "12" and treatment + control == 12
    assert browser.find_element(By.ID, "chart-funnel").get_attribute("data-points") == "5"
    actions = [r.text for r in browser.find_elements(By.CSS_SELECTOR, "#audit-table tbody tr")]
    assert any("activated" in a for a in actions) and any("run" in a for a in actions)
    ARTIFACTS.mkdir(exist_ok=True)
    browser.save_screenshot(str(ARTIFACTS / "campaign-report.png"))


def test_admin_follows_a_quality_chart_to_its_conversations(
    served: tuple[str, sessionmaker[Session]], browser: object
) -> None:
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.remote.webdriver import WebDriver
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    from crm.db import utcnow
    from crm.models import ConversationStatus
    from tests.factories import make_conversation, make_customer

    assert isinstance(browser, WebDriver)
    base, factory = served
    now = utcnow()
    with session_scope(factory) as session:
        admin = make_user(session, Role.admin, display_name="Ada Admin")
        email = admin.email
        complaints = []
        for text in ("my parcel is broken", "still no refund"):
            complaints.append(
                make_conversation(
                    session,
                    make_customer(session),
                    intent="complaint",
                    text=text,
                    status=ConversationStatus.waiting,
                    resolved_at=None,
                    resolved_by=None,
                    escalated_at=now,
                    escalation_reason="complaint",
                ).id
            )
        make_conversation(
            session,
            make_customer(session),
            intent="human_agent",
            status=ConversationStatus.waiting,
            resolved_at=None,
            resolved_by=None,
            escalated_at=now,
            escalation_reason="human_request",
        )
        make_conversation(session, make_customer(session))  # the bot handled this one
    wait = WebDriverWait(browser, 20)
    browser.set_window_size(1400, 1000)
    sign_in(browser, f"{base}/login", email)
    wait.until(ec.url_contains("/inbox"))
    browser.get(f"{base}/analytics/quality")
    wait.until(lambda d: d.find_element(By.ID, "quality").get_attribute("data-loaded"))
    kpi = browser.find_element(By.CSS_SELECTOR, "#kpi-handoff .kpi-value").text
    assert kpi == "75 %"  # 3 of 4 conversations went to a human
    canvas = browser.find_element(By.ID, "chart-reason")
    assert canvas.get_attribute("data-points") == "2"
    # Click the "complaint" bar where Chart.js drew it.
    x, y = browser.execute_script(
        "const bar = Chart.getChart(arguments[0]).getDatasetMeta(0).data[0];"
        "return [bar.x, (bar.y + bar.base) / 2];",
        canvas,
    )
    width, height = canvas.size["width"], canvas.size["height"]
    ActionChains(browser).move_to_element_with_offset(
        canvas, int(x - width / 2), int(y - height / 2)
    ).click().perform()
    wait.until(ec.url_contains("/analytics/conversations"))
    assert "reason=complaint" in browser.current_url
    wait.until(lambda d: d.find_element(By.ID, "drilldown").get_attribute("data-loaded"))
    rows = browser.find_elements(By.CSS_SELECTOR, "#drill-table .drill-row")
    assert sorted(int(r.get_attribute("data-id") or 0) for r in rows) == sorted(complaints)
    ARTIFACTS.mkdir(exist_ok=True)
    browser.save_screenshot(str(ARTIFACTS / "quality-drilldown.png"))
    rows[0].find_element(By.TAG_NAME, "a").click()
    wait.until(ec.url_contains("/inbox/conversations/"))
    wait.until(lambda d: "complaint" in d.find_element(By.ID, "conv-status").text)


def csp_violations(browser: object) -> list[str]:
    """Console messages about the content security policy since the last call."""
    from selenium.webdriver.remote.webdriver import WebDriver

    assert isinstance(browser, WebDriver)
    return [
        str(entry.get("message"))
        for entry in browser.get_log("browser")
        if "Content Security Policy" in str(entry.get("message"))
        or "Refused to" in str(entry.get("message"))
    ]


def test_pages_run_under_the_content_security_policy(
    served: tuple[str, sessionmaker[Session]], browser: object
) -> None:
    """Sign-in, every kind of staff page and the API docs work with the strict CSP: their
    scripts run (each page marks itself loaded) and the console reports no violation."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.remote.webdriver import WebDriver
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    from tests.factories import make_customer

    assert isinstance(browser, WebDriver)
    base, factory = served
    with session_scope(factory) as session:
        email = make_user(session, Role.admin).email
        customer_id = make_customer(session).id
    wait = WebDriverWait(browser, 20)
    browser.set_window_size(1400, 1000)

    browser.get(f"{base}/login")
    assert browser.find_element(By.NAME, "csrf_token").get_attribute("value")
    sign_in(browser, f"{base}/login", email)
    wait.until(ec.text_to_be_present_in_element((By.ID, "live-state"), "live"))
    assert csp_violations(browser) == []

    for path, root in [
        ("/analytics/satisfaction", "satisfaction"),
        ("/analytics/segments", "segments"),
        ("/analytics/quality", "quality"),
        ("/campaigns", "campaigns"),
        (f"/customers/{customer_id}", "customer"),
    ]:
        browser.get(base + path)
        wait.until(lambda d, r=root: d.find_element(By.ID, r).get_attribute("data-loaded"))
        assert csp_violations(browser) == [], path

    browser.get(f"{base}/docs")
    wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, ".swagger-ui .info .title")))
    assert "careloop" in browser.find_element(By.CSS_SELECTOR, ".swagger-ui .info .title").text
    wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, ".opblock")))
    ARTIFACTS.mkdir(exist_ok=True)
    browser.save_screenshot(str(ARTIFACTS / "api-docs.png"))
    assert csp_violations(browser) == [], "/docs"

    # Sign out through the nav's form: the old session is gone for good.
    browser.get(f"{base}/inbox")
    browser.find_element(By.CSS_SELECTOR, ".staff-nav form button").click()
    wait.until(ec.url_contains("/login"))
    browser.get(f"{base}/inbox")
    wait.until(ec.url_contains("/login"))

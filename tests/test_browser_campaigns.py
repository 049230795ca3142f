"""Campaign, chart and web-chat flows of a new user in a real headless Chromium: activating
asks first (audience, skips and why, warnings), triggered campaigns can include who already
matches, empty lists and charts say what to do, and the web chat greets with the shop's
name and names the agent who answers."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy.orm import Session, sessionmaker

from careloop.config import get_settings
from crm.conversations.routing import Office
from crm.db import session_scope
from crm.models import ChurnRisk, Role
from tests.factories import make_customer, make_user, make_web_identity
from tests.test_browser import browser, csp_violations, served, sign_in  # noqa: F401

pytestmark = pytest.mark.browser


def _wait(driver: Any) -> Any:
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, 20)


def _marketer_with_web_customers(factory: sessionmaker[Session], n: int) -> str:
    with session_scope(factory) as session:
        email = make_user(session, Role.marketer).email
        for i in range(n):
            customer = make_customer(session, first_name=f"Web{i}", churn_risk=ChurnRisk.high)
            make_web_identity(session, customer, f"browser-offer-{i}")
        make_customer(
            session, first_name="NoConsent", churn_risk=ChurnRisk.high, marketing_consent=False
        )
    return email


def test_activate_shows_who_is_reached_and_why_others_are_skipped_then_confirms(
    served: tuple[str, sessionmaker[Session]],  # noqa: F811
    browser: Any,  # noqa: F811
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    base, factory = served
    email = _marketer_with_web_customers(factory, 5)
    wait = _wait(browser)
    browser.set_window_size(1400, 1800)
    sign_in(browser, f"{base}/login?next=/campaigns", email)
    wait.until(lambda d: d.find_element(By.ID, "campaigns").get_attribute("data-loaded"))
    # An empty list says what to do next.
    empty = browser.find_element(By.ID, "campaign-empty")
    assert empty.is_displayed() and "Build one below" in empty.text
    # The default channel is one that is configured (no Telegram token here).
    channel = Select(browser.find_element(By.ID, "c-channel"))
    assert channel.first_selected_option.get_attribute("value") == "web"
    assert "(not configured)" in channel.options[0].text
    assert "next opens the chat" in browser.find_element(By.ID, "channel-note").text
    # Only the fields of the chosen schedule type show.
    kind = Select(browser.find_element(By.ID, "c-kind"))
    rows = ("at-row", "cron-row", "trigger-row")
    assert not any(browser.find_element(By.ID, r).is_displayed() for r in rows)
    kind.select_by_value("recurring")
    assert browser.find_element(By.ID, "cron-row").is_displayed()
    assert not browser.find_element(By.ID, "trigger-row").is_displayed()
    kind.select_by_value("triggered")
    assert browser.find_element(By.ID, "trigger-row").is_displayed()
    assert not browser.find_element(By.ID, "trigger-days-row").is_displayed()
    Select(browser.find_element(By.ID, "c-trigger")).select_by_value("days_after_last_order")
    assert browser.find_element(By.ID, "trigger-days-row").is_displayed()
    kind.select_by_value("once-at")
    assert browser.find_element(By.ID, "at-row").is_displayed()
    assert "Europe/Berlin" in browser.find_element(By.ID, "at-zone").text
    kind.select_by_value("once")
    browser.find_element(By.ID, "save-campaign").click()

    wait.until(lambda d: d.find_element(By.ID, "report").get_attribute("data-loaded"))
    assert "Not activated yet" in browser.find_element(By.ID, "report-empty").text
    assert browser.find_element(By.ID, "kpi-uplift").text == "not enough data"
    browser.find_element(By.ID, "activate").click()
    dialog = browser.find_element(By.ID, "activate-dialog")
    wait.until(
        lambda d: dialog.get_attribute("open") is not None and dialog.get_attribute("data-audience")
    )
    counts = {
        r.find_element(By.TAG_NAME, "th").text: r.find_element(By.TAG_NAME, "td").text
        for r in dialog.find_elements(By.CSS_SELECTOR, "#activate-counts tr")
    }
    assert counts["audience"] == "6"
    treatment = int(counts["treatment group"])
    assert treatment + int(counts["control group (not messaged)"]) == 6
    skipped = {k: int(v) for k, v in counts.items() if k.startswith("skipped: ")}
    assert set(skipped) <= {"skipped: no marketing consent"}
    assert int(counts["messages to send"]) == treatment - sum(skipped.values())
    warnings = dialog.find_element(By.ID, "activate-warnings").text
    assert "too few to measure uplift" in warnings
    assert "next opens the chat" in warnings
    # Cancel: nothing happens.
    browser.find_element(By.ID, "activate-cancel").click()
    assert browser.find_element(By.ID, "report-status").get_attribute("data-status") == "draft"
    browser.find_element(By.ID, "activate").click()
    wait.until(lambda d: dialog.get_attribute("open") is not None)
    assert browser.find_element(By.ID, "activate-confirm").text.startswith("Send now to ")
    browser.find_element(By.ID, "activate-confirm").click()
    wait.until(
        lambda d: d.find_element(By.ID, "report-status").get_attribute("data-status") == "finished"
    )
    assert browser.find_element(By.ID, "kpi-audience").text == "6"
    assert browser.find_element(By.ID, "kpi-uplift").text == "not enough data"
    assert browser.find_element(By.ID, "kpi-waiting-box").is_displayed()
    assert "waiting for the customer" in browser.find_element(By.ID, "report-channel-note").text
    assert csp_violations(browser) == []


def test_triggered_campaign_offers_to_include_who_already_matches(
    served: tuple[str, sessionmaker[Session]],  # noqa: F811
    browser: Any,  # noqa: F811
) -> None:
    from selenium.webdriver.common.by import By

    from crm.campaigns import service
    from tests.factories import campaign_fields

    base, factory = served
    email = _marketer_with_web_customers(factory, 3)
    with session_scope(factory) as session:
        fields = campaign_fields(
            channel="web",
            schedule_kind="triggered",
            schedule={"trigger": "churn_high"},
            control_percent=0,
        )
        campaign_id = service.create_campaign(session, fields, None).id
    wait = _wait(browser)
    browser.set_window_size(1400, 1800)
    sign_in(browser, f"{base}/login?next=/campaigns/{campaign_id}", email)
    wait.until(lambda d: d.find_element(By.ID, "report").get_attribute("data-loaded"))
    browser.find_element(By.ID, "activate").click()
    dialog = browser.find_element(By.ID, "activate-dialog")
    wait.until(
        lambda d: dialog.get_attribute("open") is not None and dialog.get_attribute("data-audience")
    )
    assert dialog.get_attribute("data-audience") == "0"
    reason = browser.find_element(By.ID, "activate-empty").text
    assert "only customers whose trigger fires after activation" in reason
    assert "4 customer(s) match already" in reason  # the one without consent matches too
    assert browser.find_element(By.ID, "already-matching").text == "4"
    browser.find_element(By.ID, "include-existing").click()
    wait.until(lambda d: dialog.get_attribute("data-audience") == "4")
    assert not browser.find_element(By.ID, "activate-empty").is_displayed()
    browser.find_element(By.ID, "activate-confirm").click()
    wait.until(
        lambda d: d.find_element(By.ID, "report-status").get_attribute("data-status") == "active"
    )
    wait.until(lambda d: d.find_element(By.ID, "kpi-audience").text == "4")
    assert not browser.find_element(By.ID, "report-empty").is_displayed()


def test_empty_charts_say_why_and_count_axes_use_whole_numbers(
    served: tuple[str, sessionmaker[Session]],  # noqa: F811
    browser: Any,  # noqa: F811
) -> None:
    from selenium.webdriver.common.by import By

    base, factory = served
    with session_scope(factory) as session:
        email = make_user(session, Role.marketer).email
    wait = _wait(browser)
    browser.set_window_size(1400, 1800)
    sign_in(browser, f"{base}/login?next=/analytics/satisfaction", email)
    wait.until(lambda d: d.find_element(By.ID, "satisfaction").get_attribute("data-loaded"))
    churn = browser.find_element(By.ID, "chart-churn")
    note = churn.find_element(By.XPATH, "..").find_element(By.CLASS_NAME, "chart-empty")
    assert note.is_displayed() and "No CSAT answers" in note.text
    assert not churn.is_displayed()
    browser.get(f"{base}/analytics/quality")
    wait.until(lambda d: d.find_element(By.ID, "quality").get_attribute("data-loaded"))
    csat = browser.find_element(By.ID, "chart-csat")
    note = csat.find_element(By.XPATH, "..").find_element(By.CLASS_NAME, "chart-empty")
    assert note.is_displayed() and "No CSAT answers" in note.text
    # A count chart with data: its axis ticks are whole numbers (no 0.1 … 1.0).
    reason = browser.find_element(By.ID, "chart-resolution")
    ticks = browser.execute_script(
        "return Chart.getChart(arguments[0]).scales.y.ticks.map(t => t.value);", reason
    )
    assert ticks and all(float(t).is_integer() for t in ticks)
    assert csp_violations(browser) == []


def test_web_chat_greets_with_the_shop_name_and_names_the_agent(
    served: tuple[str, sessionmaker[Session]],  # noqa: F811
    browser: Any,  # noqa: F811
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec

    from crm.conversations import inbox
    from crm.customers import service as customers
    from crm.models import Channel, Conversation

    base, factory = served
    wait = _wait(browser)
    browser.get(f"{base}/chat?session=browser-greeting")
    assert browser.find_element(By.ID, "chat-shop").text == "careloop demo shop"
    wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, ".msg-greeting .bubble")))
    greeting = browser.find_element(By.CSS_SELECTOR, ".msg-greeting .bubble").text
    assert "careloop demo shop assistant" in greeting
    buttons = browser.find_elements(By.CSS_SELECTOR, ".msg-greeting .quick-reply")
    assert "Talk to a person" in [b.text for b in buttons]
    browser.find_element(By.ID, "chat-input").send_keys("I want to talk to a real person")
    browser.find_element(By.ID, "chat-send").click()
    wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, ".msg-bot .bubble")))
    with session_scope(factory) as session:
        agent = make_user(session, Role.agent, display_name="Alice Agent")
        identity = customers.find_identity(
            session, channel=Channel.web, external_id="browser-greeting"
        )
        assert identity is not None
        from sqlalchemy import select

        conversation_id = session.scalars(
            select(Conversation.id).where(Conversation.channel_identity_id == identity.id)
        ).one()
        inbox.claim(session, conversation_id=conversation_id, agent=agent)
        inbox.reply(
            session,
            conversation_id=conversation_id,
            agent=agent,
            text="Alice here",
            office=Office.of(get_settings()),
        )
    wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, ".msg-agent .msg-author")))
    assert browser.find_element(By.CSS_SELECTOR, ".msg-agent .msg-author").text == "Alice Agent"
    assert browser.find_element(By.CSS_SELECTOR, ".msg-agent .bubble").text == "Alice here"
    assert csp_violations(browser) == []


def test_marketer_drill_down_opens_a_masked_read_only_conversation(
    served: tuple[str, sessionmaker[Session]],  # noqa: F811
    browser: Any,  # noqa: F811
) -> None:
    from selenium.webdriver.common.by import By

    from tests.factories import make_conversation

    base, factory = served
    with session_scope(factory) as session:
        email = make_user(session, Role.marketer).email
        customer = make_customer(session, first_name="Nina")
        conversation_id = make_conversation(
            session, customer, text="where is order O0012345? write to nina.k@example.com"
        ).id
    wait = _wait(browser)
    browser.set_window_size(1400, 1200)
    sign_in(browser, f"{base}/login?next=/analytics/conversations", email)
    wait.until(lambda d: d.find_element(By.ID, "drilldown").get_attribute("data-loaded"))
    link = browser.find_element(By.CSS_SELECTOR, f'.drill-row[data-id="{conversation_id}"] a')
    assert link.get_attribute("href").endswith(f"/analytics/conversations/{conversation_id}")
    link.click()
    wait.until(lambda d: d.find_element(By.ID, "transcript").get_attribute("data-loaded"))
    text = browser.find_element(By.CSS_SELECTOR, "#transcript-log .bubble").text
    assert "O0012345" not in text and "nina.k@example.com" not in text
    assert "n***@example.com" in text
    assert "Nina" in browser.find_element(By.ID, "transcript-title").text
    assert "Not allowed" not in browser.page_source
    assert csp_violations(browser) == []

"""The web chat page in a real headless Chromium against a real server on 127.0.0.1."""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn
from sqlalchemy import Engine

from bot.engine import Engine as BotEngine
from careloop.config import Settings
from crm.db import create_db_engine, create_session_factory
from crm.migrate import upgrade
from web.app import create_app

pytestmark = pytest.mark.browser

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def server(tmp_path: Path, bot: BotEngine) -> Iterator[str]:
    url = f"sqlite:///{tmp_path / 'browser.db'}"
    upgrade(url)
    engine: Engine = create_db_engine(url)
    port = _free_port()
    app = create_app(
        Settings(env="test", data_dir=tmp_path, database_url=url),
        bot=bot,
        db_engine=engine,
        session_factory=create_session_factory(engine),
        run_scheduler=False,
    )
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
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

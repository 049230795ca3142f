"""Sign-in under attack, through a real uvicorn server on 127.0.0.1.

1. Failed sign-in time for a known email against an unknown one (taking turns) (the unknown one is
   checked against a dummy hash, so the two should take about as long); the baseline is
   the old unknown-email path, a lookup alone.
2. Web-chat messages per second while 6 threads post wrong passwords as fast as they
   can: with the hashing gate (CARELOOP_PASSWORD_HASH_CONCURRENCY=1) and with no bound
   (the obvious way: every request hashes at once), both with throttling off; and with
   the defaults (throttling on), against a quiet server.

    .venv/bin/python -m bench.login_security [--seconds 10] [--attackers 6]
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import uvicorn

from bot.engine import Engine as BotEngine
from bot.factory import build_engine
from careloop.config import Settings
from crm.db import create_db_engine, create_session_factory, session_scope
from crm.models import Role
from crm.users.service import create_user, find_user_by_email
from migrations.runner import upgrade
from web.app import create_app

EMAIL = "bench.agent@shop.example"
PASSWORD = "a long bench passphrase"  # noqa: S105 (a scratch database)
NO_LIMIT = 1_000_000_000


@contextmanager
def serve(settings: Settings, bot: BotEngine) -> Iterator[str]:
    engine = create_db_engine(settings.effective_database_url)
    app = create_app(
        settings,
        bot=bot,
        db_engine=engine,
        session_factory=create_session_factory(engine),
        run_scheduler=False,
    )
    with socket_port() as port:
        server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning")
        )
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        while not server.started:
            time.sleep(0.05)
        try:
            yield f"http://127.0.0.1:{port}"
        finally:
            server.should_exit = True
            thread.join(timeout=10)
            engine.dispose()


@contextmanager
def socket_port() -> Iterator[int]:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    yield port


def post_login(http: httpx.Client, email: str, password: str) -> httpx.Response:
    page = http.get("/login").text
    match = re.search(r'name="csrf_token" value="([^"]+)"', page)
    return http.post(
        "/login",
        data={"email": email, "password": password, "csrf_token": match.group(1) if match else ""},
    )


def failed_sign_in_ms(base: str, emails: list[str], n: int) -> list[float]:
    """Median time of a failed sign-in per email, the emails taking turns."""
    times: list[list[float]] = [[] for _ in emails]
    with httpx.Client(base_url=base) as http:
        for _ in range(n):
            for i, email in enumerate(emails):
                started = time.perf_counter()
                status = post_login(http, email, "not the password at all").status_code
                times[i].append(1000 * (time.perf_counter() - started))
                assert status == 401, status
    return [round(statistics.median(t), 1) for t in times]


def chat_rate(base: str, seconds: float, attackers: int) -> dict[str, Any]:
    stop = threading.Event()
    answers: dict[int, int] = {}
    lock = threading.Lock()

    def attack(n: int) -> None:
        with httpx.Client(base_url=base, timeout=30) as http:
            while not stop.is_set():
                status = post_login(http, f"guess{n}@shop.example", "guessing-password").status_code
                with lock:
                    answers[status] = answers.get(status, 0) + 1

    threads = [threading.Thread(target=attack, args=(n,)) for n in range(attackers)]
    for t in threads:
        t.start()
    sent = 0
    with httpx.Client(base_url=base, timeout=30) as http:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            body = {"session_id": f"bench-{sent % 20}", "text": "where is my order?"}
            http.post("/api/v1/chat/messages", json=body).raise_for_status()
            sent += 1
    stop.set()
    for t in threads:
        t.join()
    return {"chat_msgs_per_s": round(sent / seconds, 2), "login_answers": answers}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--attackers", type=int, default=6)
    parser.add_argument("--tries", type=int, default=10)
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="careloop-bench-"))
    url = f"sqlite:///{tmp / 'bench.db'}"
    upgrade(url)
    base_settings = Settings(env="test", data_dir=tmp, database_url=url, model_dir=tmp / "m")
    engine = create_db_engine(url)
    factory = create_session_factory(engine)
    with session_scope(factory) as session:
        create_user(session, email=EMAIL, password=PASSWORD, role=Role.agent)
    lookups = []
    with factory() as session:
        for _ in range(args.tries):
            started = time.perf_counter()
            find_user_by_email(session, "nobody@shop.example")
            lookups.append(1000 * (time.perf_counter() - started))
    engine.dispose()
    bot = build_engine(base_settings)

    open_door = {"login_max_failures": NO_LIMIT, "login_max_failures_per_address": NO_LIMIT}
    report: dict[str, Any] = {"attackers": args.attackers, "seconds": args.seconds}
    with serve(base_settings.model_copy(update=open_door), bot) as base:
        known, unknown = failed_sign_in_ms(base, [EMAIL, "nobody@shop.example"], args.tries)
        report["failed_sign_in_ms"] = {
            "known_email": known,
            "unknown_email": unknown,
            "ratio_unknown_to_known": round(unknown / known, 2),
            "baseline_unknown_lookup_only_ms": round(statistics.median(lookups), 2),
        }
        report["quiet"] = chat_rate(base, args.seconds, 0)
        report["gate_1_no_throttle"] = chat_rate(base, args.seconds, args.attackers)
    unbounded = {**open_door, "password_hash_concurrency": 64}
    with serve(base_settings.model_copy(update=unbounded), bot) as base:
        report["baseline_no_bound_no_throttle"] = chat_rate(base, args.seconds, args.attackers)
    with serve(base_settings, bot) as base:
        report["defaults_throttle_on"] = chat_rate(base, args.seconds, args.attackers)
    quiet = report["quiet"]["chat_msgs_per_s"]
    for key in ("gate_1_no_throttle", "baseline_no_bound_no_throttle", "defaults_throttle_on"):
        report[key]["ratio_to_quiet"] = round(report[key]["chat_msgs_per_s"] / quiet, 2)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()

"""Latency of one web-chat message through the real app (HTTP → NLU → DB → reply).

Prints p50/p90/p99 for the full round trip and, as the baseline measured in the same
process (one raw encode of the same text after each message), the raw encoder's time for
one message, with the ratio between them, the SQL statements one message costs and the
CPU time of what is not the model (see :func:`non_model_cpu`). ``--profile N`` then
profiles N more messages (cProfile) and prints where their time goes, by cumulative time.

    .venv/bin/python -m bench.chat_latency [--messages 300] [--database-url URL] [--profile N]
"""

from __future__ import annotations

import argparse
import cProfile
import json
import pstats
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import event

from bot.factory import build_engine
from careloop.config import Settings
from crm.db import create_db_engine, create_session_factory
from migrations.runner import upgrade
from web.api import chat as chat_api
from web.api.schemas import ChatMessageIn
from web.app import create_app

MESSAGES = [
    "where is my order?",
    "hi there",
    "I want to return my shoes",
    "my card was charged twice",
    "how many loyalty points do I have",
    "what are your opening hours",
    "can I change the delivery address",
    "thanks a lot!",
]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def non_model_cpu(bot: Any, settings: Settings, factory: Any, n: int) -> float:
    """p50 CPU time (ms, of the calling thread) of everything of a message but the model
    and HTTP: the endpoint's function called here, with the model's answers computed
    beforehand (the ORM, the database driver, the dialogue and the replies). CPU time,
    unlike wall time, hardly moves when other work shares the machine."""
    understand = bot.nlu.understand
    answers = {text: understand(text) for text in MESSAGES}
    bot.nlu.understand = answers.__getitem__
    try:
        cpu: list[float] = []
        for i in range(n):
            body = ChatMessageIn(session_id=f"cpu-{i % 50}", text=MESSAGES[i % len(MESSAGES)])
            started = time.thread_time()
            with factory() as session:
                chat_api.answer_message(body, session, bot, settings)
            cpu.append(1000 * (time.thread_time() - started))
    finally:
        bot.nlu.understand = understand
    return statistics.median(cpu)


def profile(bot: Any, settings: Settings, factory: Any, n: int) -> None:
    """cProfile of ``n`` messages through the endpoint's function, called in this thread
    (the app runs requests in other threads, which cProfile does not see): everything of
    a message but HTTP and JSON. Printed to stderr, by cumulative time."""
    profiler = cProfile.Profile()
    for i in range(n):
        body = ChatMessageIn(session_id=f"prof-{i % 50}", text=MESSAGES[i % len(MESSAGES)])
        with factory() as session:
            profiler.runcall(chat_api.answer_message, body, session, bot, settings)
    stats = pstats.Stats(profiler, stream=sys.stderr)
    stats.sort_stats("cumulative").print_stats(70)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--messages", type=int, default=300)
    parser.add_argument("--database-url", default="")
    parser.add_argument("--profile", type=int, default=0, metavar="N")
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="careloop-bench-"))
    url = args.database_url or f"sqlite:///{tmp / 'bench.db'}"
    upgrade(url)
    settings = Settings(env="test", data_dir=tmp, database_url=url, model_dir=tmp / "models")
    bot = build_engine(settings)
    engine = create_db_engine(url)
    app = create_app(
        settings,
        bot=bot,
        db_engine=engine,
        session_factory=create_session_factory(engine),
        run_scheduler=False,
    )

    encoder = bot.nlu.encoder
    for text in MESSAGES:  # warm-up
        encoder.encode([text])
    raw: list[float] = []

    statements = [0]

    @event.listens_for(engine, "before_cursor_execute")
    def count(*_: object) -> None:
        statements[0] += 1

    chat: list[float] = []
    with TestClient(app) as client:
        for i in range(10):
            client.post(
                "/api/v1/chat/messages", json={"session_id": "warm", "text": MESSAGES[i % 8]}
            )
        statements[0] = 0
        for i in range(args.messages):
            text = MESSAGES[i % len(MESSAGES)]
            started = time.perf_counter()
            res = client.post(
                "/api/v1/chat/messages", json={"session_id": f"bench-{i % 50}", "text": text}
            )
            chat.append(1000 * (time.perf_counter() - started))
            res.raise_for_status()
            # The raw encode of the same text right after: a machine whose load changes
            # during the run slows both alike.
            started = time.perf_counter()
            encoder.encode([text])
            raw.append(1000 * (time.perf_counter() - started))
        per_message = statements[0] / args.messages
    non_model = non_model_cpu(bot, settings, create_session_factory(engine), args.messages)
    if args.profile:
        profile(bot, settings, create_session_factory(engine), args.profile)
    engine.dispose()

    report = {
        "database": url.split(":", 1)[0],
        "messages": args.messages,
        "chat_ms": {
            "p50": round(statistics.median(chat), 2),
            "p90": round(percentile(chat, 0.9), 2),
            "p99": round(percentile(chat, 0.99), 2),
        },
        "baseline_encode_one_ms": {
            "p50": round(statistics.median(raw), 2),
            "p99": round(percentile(raw, 0.99), 2),
        },
        "ratio_chat_p50_to_encode_p50": round(statistics.median(chat) / statistics.median(raw), 2),
        "sql_statements_per_message": round(per_message, 1),
        "non_model_cpu_ms_p50": round(non_model, 2),
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()

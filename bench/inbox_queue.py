"""Inbox response times with 10,000 open conversations and 1,000,000 messages.

Creates a scratch PostgreSQL database (dropped afterwards), fills it with COPY, then times
the queue API (first page and a deep page), the conversation API (100 messages + customer
360) and the queue page through the real app. Baseline in the same process: ``/healthz``
(the app plus one database round trip).

    .venv/bin/python -m bench.inbox_queue [--conversations 10000] [--messages-each 100]
        [--admin-url postgresql+psycopg://postgres@127.0.0.1:5432/test]
"""

from __future__ import annotations

import argparse
import datetime as dt
import io
import json
import random
import re
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from bot.engine import Engine as BotEngine
from bot.responses import ResponseBook
from careloop.config import Settings
from crm.conversations.service import queue_rank
from crm.db import create_db_engine, create_session_factory, session_scope
from crm.models import Role
from crm.users.service import create_api_token, create_user
from migrations.runner import upgrade
from nlp.encoder import SentenceEncoder
from nlp.pipeline import NLUConfig, load_nlu
from web.app import create_app

DEFAULT_ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def copy_rows(raw: object, table: str, columns: str, rows: list[str]) -> None:
    buffer = io.StringIO("".join(rows))
    with raw.cursor() as cur, cur.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:  # type: ignore[attr-defined]
        while chunk := buffer.read(1 << 20):
            copy.write(chunk)


def fill(url: str, conversations: int, messages_each: int) -> float:
    started = time.perf_counter()
    engine = create_db_engine(url)
    rng = random.Random(7)
    segments = ["Champions", "Loyal", "At risk", "Hibernating", "New", None]
    risks = ["low", "medium", "high", None]
    with engine.begin() as conn:
        raw = conn.connection.dbapi_connection
        copy_rows(
            raw,
            "customers",
            "id, first_name, last_name, email, tags, attributes, rfm_segment, churn_risk",
            [
                f"{i}\tFirst{i}\tLast{i}\tc{i}@example.com\t[]\t{{}}\t"
                f"{rng.choice(segments) or chr(92) + 'N'}\t{rng.choice(risks) or chr(92) + 'N'}\n"
                for i in range(1, conversations + 1)
            ],
        )
        copy_rows(
            raw,
            "channel_identities",
            "id, customer_id, channel, external_id",
            [f"{i}\t{i}\tweb\tbench-{i}\n" for i in range(1, conversations + 1)],
        )
        escalated = dt.datetime(2026, 11, 20, 10, 0, tzinfo=dt.UTC)
        conversation_rows = []
        for i in range(1, conversations + 1):
            at = escalated + dt.timedelta(seconds=i)
            prio = rng.randint(10, 90)
            conversation_rows.append(
                f"{i}\t{i}\tweb\t{i}\t{'waiting' if i % 3 else 'assigned'}\t{prio}\t"
                f"{queue_rank(prio, at)}\tcomplaint\t{at.isoformat()}\t"
                f"2026-11-20 11:00:00+00\n"
            )
        copy_rows(
            raw,
            "conversations",
            "id, customer_id, channel, channel_identity_id, status, priority, queue_rank, "
            "escalation_reason, escalated_at, last_message_at",
            conversation_rows,
        )
        for start in range(1, conversations + 1, 1000):
            rows = []
            for c in range(start, min(conversations + 1, start + 1000)):
                for k in range(messages_each):
                    inbound = k % 2 == 0
                    rows.append(
                        f"{c}\t{c}\tweb\t{'inbound' if inbound else 'outbound'}\t"
                        f"{'customer' if inbound else 'bot'}\tmessage {k} of {c}\t{{}}\t"
                        f"{'complaint' if inbound else chr(92) + 'N'}\t"
                        f"{'-0.5' if inbound else chr(92) + 'N'}\tf\t0\t"
                        f"2026-11-20 10:00:00+00\n"
                    )
            copy_rows(
                raw,
                "messages",
                "conversation_id, customer_id, channel, direction, sender, text, payload, "
                "intent, sentiment_score, is_private_note, delivery_attempts, created_at",
                rows,
            )
        for table in ("customers", "channel_identities", "conversations"):
            conn.execute(
                text(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "  # noqa: S608
                    f"(SELECT max(id) FROM {table}))"
                )
            )
        conn.execute(text("ANALYZE"))
    engine.dispose()
    return time.perf_counter() - started


def timed(call: Callable[[], object], n: int) -> dict[str, float]:
    for _ in range(5):
        call()
    samples = []
    for _ in range(n):
        started = time.perf_counter()
        call()
        samples.append(1000 * (time.perf_counter() - started))
    samples.sort()
    return {
        "p50_ms": round(statistics.median(samples), 2),
        "p99_ms": round(samples[min(len(samples) - 1, int(0.99 * len(samples)))], 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--conversations", type=int, default=10_000)
    parser.add_argument("--messages-each", type=int, default=100)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--admin-url", default=DEFAULT_ADMIN)
    args = parser.parse_args()

    admin = create_engine(args.admin_url, isolation_level="AUTOCOMMIT")
    name = f"careloop_bench_{uuid.uuid4().hex[:8]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(args.admin_url).set(database=name).render_as_string(hide_password=False)
    try:
        upgrade(url)
        fill_seconds = fill(url, args.conversations, args.messages_each)
        tmp = Path(tempfile.mkdtemp(prefix="careloop-bench-"))
        settings = Settings(env="test", data_dir=tmp, database_url=url, model_dir=tmp / "m")
        engine = create_db_engine(url)
        factory = create_session_factory(engine)
        with session_scope(factory) as session:
            agent = create_user(
                session,
                email="bench@staff.example",
                password="queue-timing-pass",  # noqa: S106 (a scratch database)
                role=Role.agent,
            )
            token, _ = create_api_token(session, user=agent, name="bench")
        bot = BotEngine(
            load_nlu(SentenceEncoder(), NLUConfig(model_dir=tmp / "m")), ResponseBook.load()
        )
        app = create_app(
            settings, bot=bot, db_engine=engine, session_factory=factory, run_scheduler=False
        )
        headers = {"Authorization": f"Bearer {token}"}
        with TestClient(app) as client:
            results = {
                "healthz_baseline": timed(lambda: client.get("/healthz"), args.requests),
                "queue_api_first_page": timed(
                    lambda: client.get("/api/v1/inbox/conversations?limit=50", headers=headers),
                    args.requests,
                ),
                "queue_api_page_100": timed(
                    lambda: client.get(
                        "/api/v1/inbox/conversations?limit=50&offset=5000", headers=headers
                    ),
                    args.requests,
                ),
                "conversation_api": timed(
                    lambda: client.get(
                        f"/api/v1/inbox/conversations/{random.randint(1, args.conversations)}",
                        headers=headers,
                    ),
                    args.requests,
                ),
            }
            form = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/login").text)
            client.post(
                "/login",
                data={
                    "email": "bench@staff.example",
                    "password": "queue-timing-pass",
                    "csrf_token": form.group(1) if form else "",
                },
            )
            results["queue_page_html"] = timed(lambda: client.get("/inbox"), args.requests)
        engine.dispose()
        base = results["healthz_baseline"]["p50_ms"]
        for key, value in results.items():
            if key != "healthz_baseline":
                value["ratio_p50_to_healthz"] = round(value["p50_ms"] / base, 2)
        print(
            json.dumps(
                {
                    "database": "postgresql",
                    "conversations": args.conversations,
                    "messages": args.conversations * args.messages_each,
                    "fill_seconds": round(fill_seconds, 1),
                    **results,
                },
                indent=2,
            )
        )
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


if __name__ == "__main__":
    main()

"""Survey dispatch and satisfaction analytics at volume, on a scratch SQLite database.

* **Dispatch**: 20,000 conversations resolved at once (each with a customer, a web identity
  and a customer message). Times ``surveys.dispatch`` runs (as the scheduler job would
  call them, up to 1,000 surveys a run) until every survey is asked. Baseline in the same process:
  writing the same number of question messages straight into the outbox with
  ``add_message``, no rules: the ratio is what the rules and bookkeeping cost.
* **Analytics**: ``satisfaction_report`` over 200,000 answered surveys (a year, 10 agents,
  6 topics). Baseline: one ``GROUP BY kind, score`` over the same rows.

    .venv/bin/python -m bench.surveys [--conversations 20000] [--answers 200000]
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import tempfile
import time
from pathlib import Path

from sqlalchemy import func, insert, select

from careloop.config import Settings
from crm.conversations.service import add_message
from crm.db import create_db_engine, create_session_factory, session_scope, utcnow
from crm.models import (
    Channel,
    ChannelIdentity,
    Conversation,
    ConversationStatus,
    Customer,
    Direction,
    Message,
    Role,
    Sender,
    SurveyKind,
    SurveyResponse,
    SurveyStatus,
    User,
)
from crm.surveys import analytics
from crm.surveys import service as surveys
from migrations.runner import upgrade


def fill_conversations(
    factory: object, n: int, first_customer: int, *, resolved_days_ago: int = 0
) -> list[int]:
    now = utcnow() - dt.timedelta(days=resolved_days_ago)
    with session_scope(factory) as session:  # type: ignore[arg-type]
        session.execute(
            insert(Customer),
            [{"id": first_customer + i, "first_name": f"C{i}"} for i in range(n)],
        )
        session.execute(
            insert(ChannelIdentity),
            [
                {
                    "id": first_customer + i,
                    "customer_id": first_customer + i,
                    "channel": Channel.web,
                    "external_id": f"web-{first_customer + i}",
                }
                for i in range(n)
            ],
        )
        session.execute(
            insert(Conversation),
            [
                {
                    "id": first_customer + i,
                    "customer_id": first_customer + i,
                    "channel": Channel.web,
                    "channel_identity_id": first_customer + i,
                    "status": ConversationStatus.resolved,
                    "resolved_at": now,
                    "resolved_by": Sender.bot,
                    "last_message_at": now,
                }
                for i in range(n)
            ],
        )
        session.execute(
            insert(Message),
            [
                {
                    "conversation_id": first_customer + i,
                    "customer_id": first_customer + i,
                    "channel": Channel.web,
                    "direction": Direction.inbound,
                    "sender": Sender.customer,
                    "text": "where is my order?",
                    "intent": "order_status",
                    "payload": {},
                    "created_at": now,
                }
                for i in range(n)
            ],
        )
    return [first_customer + i for i in range(n)]


def bench_dispatch(factory: object, n: int, settings: Settings) -> None:
    # Resolved two days ago: too old for the survey job, so only the baseline uses them.
    ids = fill_conversations(factory, n, 1, resolved_days_ago=2)
    started = time.perf_counter()
    with session_scope(factory) as session:  # type: ignore[arg-type]
        for conversation_id in ids:
            add_message(
                session,
                conversation=session.get_one(Conversation, conversation_id),
                direction=Direction.outbound,
                sender=Sender.bot,
                text=settings.survey_csat_question,
            )
    baseline = time.perf_counter() - started

    fill_conversations(factory, n, 1_000_001)
    started = time.perf_counter()
    runs = asked = 0
    while True:
        with session_scope(factory) as session:  # type: ignore[arg-type]
            result = surveys.dispatch(session, settings)
        runs += 1
        asked += result.sent
        if result.sent == 0 and not result.skipped:
            break
    elapsed = time.perf_counter() - started
    print(
        f"dispatch: {asked:,} surveys asked in {runs} runs, {elapsed:.1f} s "
        f"({asked / elapsed:,.0f} surveys/s); baseline (bare outbox writes, no rules): "
        f"{n / baseline:,.0f} messages/s; ratio {elapsed / baseline:.2f}x the baseline time"
    )


def bench_analytics(factory: object, n: int) -> None:
    rng = random.Random(7)
    now = utcnow()
    with session_scope(factory) as session:  # type: ignore[arg-type]
        agents = [
            session.execute(
                insert(User)
                .values(
                    email=f"a{i}@bench.example",
                    display_name=f"Agent {i}",
                    role=Role.agent,
                    password_hash="!",  # noqa: S106 (no password: cannot sign in)
                )
                .returning(User.id)
            ).scalar_one()
            for i in range(10)
        ]
        customers = n // 4
        session.execute(
            insert(Customer),
            [{"id": 5_000_001 + i, "first_name": f"S{i}"} for i in range(customers)],
        )
        topics = ["order_status", "delivery_problem", "refund_return", "complaint", None, "x"]
        rows = []
        for i in range(n):
            kind = SurveyKind.nps if i % 4 == 0 else SurveyKind.csat
            when = now - dt.timedelta(minutes=rng.randint(0, 365 * 24 * 60))
            rows.append(
                {
                    "customer_id": 5_000_001 + rng.randrange(customers),
                    "agent_id": rng.choice(agents) if kind is SurveyKind.csat else None,
                    "kind": kind,
                    "channel": Channel.web,
                    "status": SurveyStatus.answered,
                    "topic": rng.choice(topics),
                    "score": rng.randint(0, 10) if kind is SurveyKind.nps else rng.randint(1, 5),
                    "sent_at": when - dt.timedelta(minutes=2),
                    "answered_at": when,
                }
            )
        for chunk in range(0, n, 20_000):
            session.execute(insert(SurveyResponse), rows[chunk : chunk + 20_000])
    with session_scope(factory) as session:  # type: ignore[arg-type]
        started = time.perf_counter()
        session.execute(
            select(SurveyResponse.kind, SurveyResponse.score, func.count())
            .where(SurveyResponse.status == SurveyStatus.answered)
            .group_by(SurveyResponse.kind, SurveyResponse.score)
        ).all()
        baseline = time.perf_counter() - started
        started = time.perf_counter()
        report = analytics.satisfaction_report(
            session, start=(now - dt.timedelta(days=365)).date(), end=now.date(), bucket="week"
        )
        elapsed = time.perf_counter() - started
    print(
        f"analytics: report over {report['csat']['responses'] + report['nps']['responses']:,} "
        f"answers in {elapsed * 1000:,.0f} ms (CSAT {report['csat']['csat_pct']} %, NPS "
        f"{report['nps']['nps']}, {len(report['over_time'])} weeks); baseline GROUP BY: "
        f"{baseline * 1000:,.0f} ms; ratio {elapsed / baseline:.1f}x"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--conversations", type=int, default=20_000)
    parser.add_argument("--answers", type=int, default=200_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'bench.db'}"
        upgrade(url)
        engine = create_db_engine(url)
        factory = create_session_factory(engine)
        settings = Settings(env="test", data_dir=Path(tmp), database_url=url)
        bench_dispatch(factory, args.conversations, settings)
        bench_analytics(factory, args.answers)
        engine.dispose()


if __name__ == "__main__":
    main()

"""Planning a campaign run for a big audience, on SQLite and PostgreSQL.

A synthetic customer base (default 1,000,000: scores, consent for 85 %, opt-outs for 2 %,
a Telegram identity for 90 %) is written straight into a scratch database. Then one
campaign run is planned for everyone: audience query, control group (10 %), guards
(opt-out, consent, reachability, frequency cap) and the outbox rows. Reported: seconds and
rows per second, against a straightforward per-customer ORM loop (load the customer, check
consent and identity, draw the group, add a delivery) on a 10,000-customer sample in the
same process, extrapolated.

    .venv/bin/python -m bench.campaign_plan [--customers 1000000] [--backend sqlite|postgresql|both]

PostgreSQL: a scratch database on $CARELOOP_TEST_POSTGRES_URL (default
postgresql+psycopg://postgres@127.0.0.1:5432/test), dropped afterwards.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import os
import random
import tempfile
import time
import uuid
from pathlib import Path

from sqlalchemy import create_engine, insert, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from careloop.config import Settings
from crm.campaigns import runs, service
from crm.db import (
    create_db_engine,
    create_session_factory,
    session_scope,
    utcnow,
)
from crm.models import (
    CampaignDelivery,
    CampaignStatus,
    Channel,
    ChannelIdentity,
    ChurnRisk,
    Customer,
    DeliveryGroup,
    OutboxStatus,
)
from migrations.runner import upgrade

SAMPLE = 10_000
PG_DEFAULT = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def seed(session: Session, n: int) -> None:
    """Customers and Telegram identities (SQLAlchemy's bulk INSERT, insertmanyvalues)."""
    rng = random.Random(7)
    now = utcnow()
    risks = [ChurnRisk.low, ChurnRisk.medium, ChurnRisk.high]
    segments = ["Champions", "Loyal", "At risk", "Hibernating", "Lost", "New"]
    batch = 100_000
    for start in range(1, n + 1, batch):
        ids = list(range(start, min(start + batch, n + 1)))
        session.execute(
            insert(Customer),
            [
                {
                    "id": i,
                    "first_name": f"C{i}",
                    "email": f"c{i}@example.com",
                    "marketing_consent": rng.random() < 0.85,
                    "opted_out_at": now if rng.random() < 0.02 else None,
                    "rfm_segment": rng.choice(segments),
                    "churn_risk": rng.choice(risks),
                    "churn_probability": rng.random(),
                    "tags": [],
                    "attributes": {},
                    "created_at": now,
                    "updated_at": now,
                }
                for i in ids
            ],
        )
        reachable = [i for i in ids if rng.random() < 0.9]
        session.execute(
            insert(ChannelIdentity),
            [
                {
                    "customer_id": i,
                    "external_id": str(10_000_000 + i),
                    "channel": Channel.telegram,
                    "created_at": now,
                    "updated_at": now,
                }
                for i in reachable
            ],
        )
        session.commit()
    if session.get_bind().dialect.name == "postgresql":  # explicit ids: move the sequence on
        session.execute(text("SELECT setval('customers_id_seq', (SELECT max(id) FROM customers))"))
        session.commit()
    # Fresh statistics, as autovacuum would have them by the time a marketer plans a run
    # (without them PostgreSQL's first plans for the per-customer baseline are seq scans).
    session.execute(text("ANALYZE"))
    session.commit()


def orm_baseline(session: Session, campaign_id: int, settings: Settings) -> float:
    """Seconds per customer for the straightforward loop (rolled back afterwards)."""
    started = time.perf_counter()
    for customer in session.scalars(select(Customer).order_by(Customer.id).limit(SAMPLE)):
        identity = session.scalars(
            select(ChannelIdentity).where(
                ChannelIdentity.customer_id == customer.id,
                ChannelIdentity.channel == Channel.telegram,
                ChannelIdentity.reachable.is_(True),
            )
        ).first()
        digest = hashlib.sha256(f"{campaign_id}:{customer.id}".encode()).digest()
        control = int.from_bytes(digest[:4], "big") % 100 < 10
        if control:
            status, reason = OutboxStatus.held_out, None
        elif customer.opted_out_at is not None:
            status, reason = OutboxStatus.skipped, "opted_out"
        elif not customer.marketing_consent:
            status, reason = OutboxStatus.skipped, "no_consent"
        elif identity is None:
            status, reason = OutboxStatus.skipped, "unreachable"
        else:
            status, reason = OutboxStatus.pending, None
        session.add(
            CampaignDelivery(
                campaign_id=campaign_id,
                customer_id=customer.id,
                occurrence_key="baseline",
                group=DeliveryGroup.control if control else DeliveryGroup.treatment,
                status=status,
                skip_reason=reason,
                offer_code=None if control else "MISSYOU",
            )
        )
        session.flush()
    seconds = time.perf_counter() - started
    session.rollback()
    return seconds / SAMPLE


def run(url: str, n: int, label: str) -> dict[str, object]:
    upgrade(url)
    engine = create_db_engine(url)
    factory = create_session_factory(engine)
    settings = Settings(env="test", database_url=url, campaign_quiet_hours="")
    started = time.perf_counter()
    with factory() as session:
        seed(session, n)
    seed_s = time.perf_counter() - started
    with session_scope(factory) as session:
        campaign = service.create_campaign(
            session,
            {
                "name": "Bench",
                "channel": "telegram",
                "audience": {},
                "template": "Hi {{ name }}, {{ offer_code }}",
                "offer_code": "MISSYOU",
                "schedule_kind": "once",
                "control_percent": 10,
            },
            None,
        )
        campaign.status = CampaignStatus.scheduled
        campaign_id = campaign.id
    with factory() as session:
        per_customer = orm_baseline(session, campaign_id, settings)
    with session_scope(factory) as session:
        campaign = service.get_campaign(session, campaign_id)
        started = time.perf_counter()
        result = runs.plan_run(
            session, campaign, settings, occurrence_key="bench", now=dt.datetime.now(dt.UTC)
        )
        session.flush()
    plan_s = time.perf_counter() - started  # includes the commit
    engine.dispose()
    baseline_s = per_customer * n
    return {
        "backend": label,
        "customers": n,
        "seed_s": round(seed_s, 1),
        "plan_s": round(plan_s, 2),
        "rows_per_s": round(result.audience / plan_s),
        "treatment": result.treatment,
        "control": result.control,
        "skipped": result.skipped,
        "orm_loop_s_extrapolated": round(baseline_s, 1),
        "speedup_vs_orm_loop": round(baseline_s / plan_s, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="both")
    args = parser.parse_args()
    if args.backend in ("sqlite", "both"):
        with tempfile.TemporaryDirectory() as tmp:
            result = run(f"sqlite:///{Path(tmp) / 'plan.db'}", args.customers, "sqlite")
            print(json.dumps(result), flush=True)
    if args.backend in ("postgresql", "both"):
        admin_url = os.environ.get("CARELOOP_TEST_POSTGRES_URL", PG_DEFAULT)
        admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
        name = f"careloop_bench_{uuid.uuid4().hex[:8]}"
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        url = make_url(admin_url).set(database=name).render_as_string(hide_password=False)
        try:
            print(json.dumps(run(url, args.customers, "postgresql")), flush=True)
        finally:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            admin.dispose()


if __name__ == "__main__":
    main()

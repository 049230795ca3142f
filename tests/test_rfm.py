"""RFM scores and segments on a tiny hand-checked data set (worked out in the comments)."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from app.cli import app
from crm.db import create_db_engine, create_session_factory, session_scope
from crm.models import Customer, OrderStatus
from crm.scoring.history import OrderHistory, ScoreWrites
from crm.scoring.rfm import SEGMENT_NAMES, SEGMENTS, quintile_scores, score_rfm, segment
from tests.conftest import migrated_database
from tests.factories import make_customer, make_order
from tests.test_cli import cli_env  # noqa: F401 (a fixture)

NOW = dt.datetime(2026, 6, 1, 12, tzinfo=dt.UTC)

# name: (days since last order, orders in the 365-day window, spend in the window,
#        orders before the window)
SHOP = {
    "c1": (2, 10, 1000, 0),
    "c2": (5, 1, 20, 0),
    "c3": (10, 3, 150, 0),
    "c4": (40, 6, 600, 0),
    "c5": (60, 2, 80, 0),
    "c6": (100, 1, 30, 0),
    "c7": (200, 8, 900, 0),
    "c8": (300, 2, 50, 0),
    "c9": (400, 0, 0, 1),
    "c10": (700, 0, 0, 3),
}
# R ranks by recency: c10 c9 | c8 c7 | c6 c5 | c4 c3 | c2 c1 → 1 1 2 2 3 3 4 4 5 5.
# F (ties share the lowest rank): 0,0 → 1; 1,1 (rank 3) → 2; 2,2 (rank 5) → 3; 3 (7) → 4;
#   6 (8) → 4; 8 → 5; 10 → 5.  M: 0,0 → 1; 20, 30 → 2; 50, 80 → 3; 150, 600 → 4; 900, 1000 → 5.
EXPECTED = {
    "c1": ("555", "Champions"),
    "c2": ("522", "Potential loyalist"),
    "c3": ("444", "Loyal"),
    "c4": ("444", "Loyal"),
    "c5": ("333", "Need attention"),
    "c6": ("322", "About to sleep"),
    "c7": ("255", "Can't lose"),
    "c8": ("233", "At risk"),
    "c9": ("111", "Lost"),
    "c10": ("111", "Lost"),
}


def build_shop(session: Session) -> dict[str, Customer]:
    customers = {}
    for name, (days, in_window, spend, before) in SHOP.items():
        customer = make_customer(session, first_name=name)
        customers[name] = customer
        last = NOW - dt.timedelta(days=days)
        for k in range(in_window):
            make_order(
                session,
                customer,
                ordered_at=last - dt.timedelta(days=k),
                total_amount=Decimal(spend) / in_window,
            )
        for k in range(before):
            make_order(session, customer, ordered_at=last - dt.timedelta(days=30 * k))
    # Cancelled orders never count.
    make_order(
        session,
        customers["c9"],
        ordered_at=NOW - dt.timedelta(days=1),
        status=OrderStatus.cancelled,
        total_amount=Decimal("5000"),
    )
    customers["none"] = make_customer(session, first_name="none")
    return customers


def test_scores_and_segments_on_a_hand_checked_shop(session: Session) -> None:
    customers = build_shop(session)
    result = score_rfm(session, window_days=365, now=NOW)
    assert result.customers == 10
    session.expire_all()
    got = {
        name: (
            session.get_one(Customer, c.id).rfm_score,
            session.get_one(Customer, c.id).rfm_segment,
        )
        for name, c in customers.items()
    }
    assert got == {**EXPECTED, "none": (None, None)}
    assert result.segments == {
        "Champions": 1,
        "Potential loyalist": 1,
        "Loyal": 2,
        "Need attention": 1,
        "About to sleep": 1,
        "Can't lose": 1,
        "At risk": 1,
        "Lost": 2,
    }
    assert session.get_one(Customer, customers["c1"].id).scored_at == NOW


def test_quintiles_and_the_grid() -> None:
    assert quintile_scores(np.array([1, 1, 1, 2, 5])).tolist() == [1, 1, 1, 4, 5]
    assert quintile_scores(np.arange(10)).tolist() == [1, 1, 2, 2, 3, 3, 4, 4, 5, 5]
    assert quintile_scores(np.array([])).tolist() == []
    assert segment(5, 5, 4) == "Champions" and segment(1, 1, 1) == "Lost"
    assert segment(5, 1, 1) == "New" and segment(4, 1, 1) == "Promising"
    assert segment(2, 5, 5) == "Can't lose" and segment(3, 3, 2) == "Need attention"
    # Every cell of the grid is a documented segment, and all 11 appear.
    assert len(SEGMENT_NAMES) == 11
    assert all(len(row) == 5 for row in SEGMENTS.values())


def test_a_customer_whose_orders_are_gone_loses_the_segment(session: Session) -> None:
    customer = make_customer(session)
    order = make_order(session, customer, ordered_at=NOW - dt.timedelta(days=3))
    score_rfm(session, now=NOW)
    session.delete(order)
    session.flush()
    score_rfm(session, now=NOW)
    session.expire_all()
    assert session.get_one(Customer, customer.id).rfm_segment is None


def test_cli_score(cli_env: str, tmp_path: Path) -> None:  # noqa: F811
    runner = CliRunner()
    assert runner.invoke(app, ["db", "upgrade"]).exit_code == 0
    assert runner.invoke(app, ["demo-data", "--customers", "60"]).exit_code == 0
    res = runner.invoke(app, ["score"])
    assert res.exit_code == 0, res.output
    assert "customers scored" in res.output
    assert any(name in res.output for name in ("Champions", "Loyal", "Lost", "Hibernating"))


def test_order_history_reads_what_counts_sorted_by_customer_and_time(session: Session) -> None:
    first, second = make_customer(session), make_customer(session)
    at = NOW - dt.timedelta(days=3, seconds=7)
    make_order(session, second, ordered_at=at, total_amount=Decimal("12.50"))
    make_order(session, first, ordered_at=NOW - dt.timedelta(days=1), total_amount=20)
    make_order(session, first, ordered_at=NOW - dt.timedelta(days=9), total_amount=30)
    make_order(session, first, ordered_at=NOW - dt.timedelta(days=2), status=OrderStatus.cancelled)
    make_order(session, second, ordered_at=NOW + dt.timedelta(days=1))  # after "now"
    history = OrderHistory.load(session, until=NOW)
    assert history.customer_id.tolist() == [first.id, first.id, second.id]
    big = make_customer(session)
    make_order(session, big, ordered_at=NOW, total_amount=Decimal("9999999999.99"))
    assert OrderHistory.load(session, until=NOW).amount[-1] == 9999999999.99
    assert history.at.tolist() == [
        int((NOW - dt.timedelta(days=9)).timestamp()),
        int((NOW - dt.timedelta(days=1)).timestamp()),
        int(at.timestamp()),  # exact seconds, in UTC, on both databases
    ]
    assert history.amount.tolist() == [30.0, 20.0, 12.5]
    groups = history.groups()
    assert groups.ids.tolist() == [first.id, second.id]
    assert groups.total(history.amount).tolist() == [50.0, 12.5]
    assert len(history.before(NOW - dt.timedelta(days=2))) == 2
    assert history.customers_between(NOW - dt.timedelta(days=4), NOW).tolist() == [
        first.id,
        second.id,
    ]


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def own_database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A migrated database of this test's own (rows committed here reach no other test)."""
    with migrated_database(request.param, tmp_path) as url:
        yield url


def test_the_history_reads_the_same_in_a_new_session_and_inside_a_transaction(
    own_database: str,
) -> None:
    engine = create_db_engine(own_database)
    factory = create_session_factory(engine)
    with session_scope(factory) as session:
        first, second = make_customer(session), make_customer(session)
        make_order(session, second, ordered_at=NOW, total_amount=Decimal("12.50"))
        for days in (9, 1):
            make_order(session, first, ordered_at=NOW - dt.timedelta(days=days), total_amount=20)
        make_order(session, first, ordered_at=NOW, status=OrderStatus.cancelled)
        make_order(session, first, ordered_at=NOW + dt.timedelta(seconds=1))
    try:
        with factory() as session:  # nothing in flight: read on a new connection
            fresh = OrderHistory.load(session, until=NOW)
        with factory() as session:  # inside a transaction: its own rows count too
            earlier = NOW - dt.timedelta(hours=1)
            make_order(session, second, ordered_at=earlier, total_amount=Decimal("1.25"))
            inside = OrderHistory.load(session, until=NOW)
    finally:
        engine.dispose()
    assert fresh.customer_id.tolist() == [first.id, first.id, second.id]
    assert fresh.at.tolist() == [int((NOW - dt.timedelta(days=d)).timestamp()) for d in (9, 1, 0)]
    assert fresh.amount.tolist() == [20.0, 20.0, 12.5]
    assert inside.customer_id.tolist() == [*fresh.customer_id.tolist(), second.id]
    assert inside.amount.tolist() == [20.0, 20.0, 1.25, 12.5]


def test_steps_scoring_the_same_customers_are_written_together(session: Session) -> None:
    a, b, c = (make_customer(session) for _ in range(3))
    ids = np.array([a.id, b.id])
    pending = ScoreWrites()
    pending.add(ids, {"rfm_score": ["555", "111"], "rfm_segment": ["Champions", "Lost"]})
    pending.add(ids, {"clv": [12.5, 0.0]}, constants={"scored_at": NOW})
    pending.add(np.array([c.id]), {"clv": [3.0]})
    pending.add(np.array([c.id]), {"churn_reasons": [json.dumps([{"code": "x", "value": 1}])]})
    pending.write(session)
    session.expire_all()
    got = {
        x.id: (x.rfm_score, x.rfm_segment, float(x.clv or 0), x.scored_at, x.churn_reasons)
        for x in (session.get_one(Customer, cid) for cid in (a.id, b.id, c.id))
    }
    assert got == {
        a.id: ("555", "Champions", 12.5, NOW, None),
        b.id: ("111", "Lost", 0.0, NOW, None),
        c.id: (None, None, 3.0, None, [{"code": "x", "value": 1}]),
    }
    # Indexed columns change only where they differ; unchanged rows keep their value.
    pending.add(ids, {"rfm_segment": ["Champions", "At risk"]})
    pending.write(session)
    session.expire_all()
    assert session.get_one(Customer, b.id).rfm_segment == "At risk"
    assert session.get_one(Customer, a.id).rfm_segment == "Champions"
    # Rows whose indexed values stay and rows whose values change both get the rest.
    later = NOW + dt.timedelta(days=1)
    pending.add(
        ids,
        {"rfm_segment": ["Champions", "Lost"], "rfm_score": ["554", "112"]},
        constants={"scored_at": later},
    )
    pending.write(session)
    session.expire_all()
    assert [
        (x.rfm_segment, x.rfm_score, x.scored_at)
        for x in (session.get_one(Customer, cid) for cid in (a.id, b.id))
    ] == [("Champions", "554", later), ("Lost", "112", later)]

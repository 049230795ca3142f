"""How scoring reads and writes at scale: the order history read by a helper process,
and the scores of several steps written together."""

from __future__ import annotations

import datetime as dt
import sys
from decimal import Decimal

import numpy as np
import pytest
from sqlalchemy.orm import Session, sessionmaker

from crm.models import Customer, OrderStatus
from crm.scoring import history
from crm.scoring.history import OrderHistory, ScoreWrites
from tests.factories import make_customer, make_order

NOW = dt.datetime(2026, 6, 1, 12, tzinfo=dt.UTC)


def _shop(session: Session, customers: int = 12) -> None:
    for i in range(customers):
        customer = make_customer(session)
        for k in range(i % 4 + 1):
            make_order(
                session,
                customer,
                ordered_at=NOW - dt.timedelta(days=3 * k + i),
                total_amount=Decimal(10 + i) + Decimal(k) / 4,
                status=OrderStatus.cancelled if (i, k) == (5, 0) else OrderStatus.delivered,
            )
    # one order after the cut-off: never read
    make_order(session, customer, ordered_at=NOW + dt.timedelta(days=1))


def _same(a: OrderHistory, b: OrderHistory) -> bool:
    return (
        np.array_equal(a.customer_id, b.customer_id)
        and np.array_equal(a.at, b.at)
        and np.array_equal(a.amount, b.amount)
    )


@pytest.fixture
def committed_shop(db_url: str, live_session_factory: sessionmaker[Session]) -> None:
    """The shop, committed (a helper process sees only committed rows); SQLite only."""
    if not db_url.startswith("sqlite"):
        pytest.skip("the helper process reads SQLite files only")
    with live_session_factory() as session:
        _shop(session)
        session.commit()


@pytest.mark.usefixtures("committed_shop")
def test_a_big_shop_is_read_by_a_helper_process_with_the_same_result(
    live_session_factory: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch
) -> None:
    with live_session_factory() as session:
        alone = OrderHistory.load(session, until=NOW)
    started: list[int] = []
    original = history._Helper.__init__

    def spy(self: history._Helper, url: str, until: dt.datetime | None, first: int) -> None:
        started.append(first)
        original(self, url, until, first)

    monkeypatch.setattr(history._Helper, "__init__", spy)
    monkeypatch.setattr(history, "PARALLEL_ORDERS", 1)
    with live_session_factory() as session:
        shared = OrderHistory.load(session, until=NOW)
    assert len(started) == 1  # the helper ran, for the customers from started[0] on
    assert _same(shared, alone)
    assert len(alone) == sum(i % 4 + 1 for i in range(12)) - 1  # cancelled and future out
    assert started[0] in alone.customer_id and alone.customer_id.min() < started[0]

    # A helper that fails costs nothing but time: its part is read here instead.
    monkeypatch.setattr(sys, "executable", "/bin/false")
    with live_session_factory() as session:
        assert _same(OrderHistory.load(session, until=NOW), alone)
    assert len(started) == 2


@pytest.mark.usefixtures("committed_shop")
def test_rows_this_transaction_wrote_are_read_here_not_by_a_helper(
    live_session_factory: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch
) -> None:
    with live_session_factory() as session:
        before = len(OrderHistory.load(session, until=NOW))
        make_order(session, make_customer(session), ordered_at=NOW - dt.timedelta(days=1))
        monkeypatch.setattr(history, "PARALLEL_ORDERS", 1)
        monkeypatch.setattr(history._Helper, "__init__", lambda *a: pytest.fail("helper used"))
        assert len(OrderHistory.load(session, until=NOW)) == before + 1  # uncommitted, seen


def test_the_history_read_as_text_is_the_history_read_row_by_row(
    session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    _shop(session)
    big = make_customer(session)
    for amount in ("9999999999.99", "50", "0.10", "1234.5"):
        make_order(
            session, big, ordered_at=NOW - dt.timedelta(hours=1), total_amount=Decimal(amount)
        )
    session.flush()
    connection = session.connection()
    query = history._orders_query(NOW)
    rows = history._fetch_rows(connection, query)
    monkeypatch.setattr(history, "FETCH_CUSTOMERS", 3)  # several ranges, some without orders
    reads = [history._fetch(connection, NOW)]
    if connection.dialect.name == "sqlite":  # (_fetch reads this way on SQLite)
        reads.append(history._fetch_as_text(connection, NOW, None, None))
        # a range of customers, as the two processes read a big shop
        ids = np.unique(rows[:, 0])
        middle = int(ids[len(ids) // 2])
        halves = [history._fetch(connection, NOW, end=middle)]
        halves.append(history._fetch(connection, NOW, first=middle))
        reads.append(np.concatenate(halves))
    for read in reads:
        assert read.shape == rows.shape and np.array_equal(read, rows)
    assert 9999999999.99 in rows[:, 2] and 0.1 in rows[:, 2]
    if connection.dialect.name == "sqlite":
        # A date SQLite cannot read (not written by careloop): that range is read row by
        # row, as before (a NULL would be left out of the text and shift the columns).
        connection.exec_driver_sql("UPDATE orders SET ordered_at = '0000-bad' WHERE id = 1")
        rows = history._fetch_rows(connection, query)
        assert np.isnan(rows[:, 1]).sum() == 1
        assert np.array_equal(history._fetch(connection, NOW), rows, equal_nan=True)


def test_steps_scoring_the_same_customers_are_written_together(session: Session) -> None:
    a, b, c = (make_customer(session) for _ in range(3))
    ids = np.array([a.id, b.id])
    pending = ScoreWrites()
    pending.add(ids, {"rfm_score": ["555", "111"], "rfm_segment": ["Champions", "Lost"]})
    pending.add(ids, {"clv": [12.5, 0.0]}, constants={"scored_at": NOW})
    pending.add(np.array([c.id]), {"clv": [3.0]})
    assert len(pending._parts) == 2  # the first two share one update
    pending.write(session)
    session.expire_all()
    got = {
        x.id: (x.rfm_score, x.rfm_segment, float(x.clv or 0), x.scored_at)
        for x in (session.get_one(Customer, cid) for cid in (a.id, b.id, c.id))
    }
    assert got == {
        a.id: ("555", "Champions", 12.5, NOW),
        b.id: ("111", "Lost", 0.0, NOW),
        c.id: (None, None, 3.0, None),
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

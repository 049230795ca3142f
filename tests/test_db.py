"""The bulk writers in crm.db, on SQLite and PostgreSQL (COPY)."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from crm.db import bulk_insert_columns
from crm.models import ChannelIdentity, Customer, CustomerEvent
from tests.factories import make_customer


def test_bulk_insert_columns_round_trips_awkward_values_and_fills_defaults(
    session: Session,
) -> None:
    owner = make_customer(session)
    when = dt.datetime(2026, 3, 29, 1, 30, tzinfo=dt.UTC)
    texts = ["tab\there", "line\nbreak", "back\\slash", "carriage\rreturn", "", "ümlaut ✓"]
    bulk_insert_columns(
        session,
        CustomerEvent.__table__,  # type: ignore[arg-type]
        len(texts),
        {"kind": texts, "data": [{"n": i, "text": t} for i, t in enumerate(texts)]},
        {"customer_id": owner.id, "created_at": when},
    )
    events = session.scalars(
        select(CustomerEvent)
        .where(CustomerEvent.customer_id == owner.id)
        .order_by(CustomerEvent.id)
    ).all()
    assert [e.kind for e in events] == texts
    assert [e.data for e in events] == [{"n": i, "text": t} for i, t in enumerate(texts)]
    assert all(e.created_at == when for e in events)

    # Left-out columns with a Python default get it (reachable=True, created_at now).
    bulk_insert_columns(
        session,
        ChannelIdentity.__table__,  # type: ignore[arg-type]
        2,
        {"external_id": ["bulk-1", "bulk-2"], "channel": ["telegram", "web"]},
        {"customer_id": owner.id},
    )
    identities = session.scalars(
        select(ChannelIdentity).where(ChannelIdentity.customer_id == owner.id)
    ).all()
    assert {(i.channel.value, i.reachable, i.unreachable_reason) for i in identities} == {
        ("telegram", True, None),
        ("web", True, None),
    }
    assert all(i.created_at is not None for i in identities)


def test_bulk_insert_columns_refuses_ragged_columns(session: Session) -> None:
    with pytest.raises(ValueError, match="2 values for 3 rows"):
        bulk_insert_columns(
            session,
            Customer.__table__,  # type: ignore[arg-type]
            3,
            {"first_name": ["a", "b"]},
        )


def test_json_columns_written_in_bulk_read_back_as_written(session: Session) -> None:
    """The JSON fast path (lists of strings, empty defaults, None) writes what json.dumps
    would: quotes, backslashes and non-ASCII text included."""
    owner = make_customer(session)
    values: list[object] = [
        ["no order for 94 days", 'a "quoted" \\ reason', "Grüße ✓"],
        [],
        {},
        ["plain"],
        [1, "mixed"],
        {"nested": ["x"]},
    ]
    bulk_insert_columns(
        session,
        CustomerEvent.__table__,  # type: ignore[arg-type]
        len(values),
        {"data": values},
        {"customer_id": owner.id, "kind": "json_check"},
    )
    stored = session.scalars(
        select(CustomerEvent.data)
        .where(CustomerEvent.customer_id == owner.id)
        .order_by(CustomerEvent.id)
    ).all()
    assert stored == values

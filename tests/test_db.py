"""The one bulk-write mechanism in crm.db (``staged_rows``: a temporary table filled by
COPY on PostgreSQL and ``executemany`` on SQLite), on both databases."""

from __future__ import annotations

import json

from sqlalchemy import JSON, BigInteger, Column, Integer, Text, func, insert, literal, select
from sqlalchemy.orm import Session

from crm.db import staged_rows
from crm.models import CustomerEvent
from tests.factories import make_customer

AWKWARD = ["tab\there", "line\nbreak", "back\\slash", "carriage\rreturn", "", "ümlaut ✓", None]


def test_staged_rows_hold_awkward_text_and_big_numbers_as_given(session: Session) -> None:
    rows = [(i, text, 2**62 + i) for i, text in enumerate(AWKWARD)]
    columns = [Column("n", Integer), Column("text", Text), Column("big", BigInteger)]
    with staged_rows(session.connection(), "careloop_test_stage", columns, rows) as temp:
        back = session.execute(select(temp.c.n, temp.c.text, temp.c.big).order_by("n")).all()
    assert [tuple(row) for row in back] == rows


def test_staged_rows_move_on_with_one_insert_select_and_are_dropped(session: Session) -> None:
    owner = make_customer(session)
    data = [{"text": text, "n": i} for i, text in enumerate(AWKWARD)]
    rows = [(f"kind-{i}", json.dumps(d)) for i, d in enumerate(data)]
    columns = [Column("kind", Text), Column("data", JSON)]  # JSON text in, as scoring does
    connection = session.connection()
    with staged_rows(connection, "careloop_test_events", columns, rows) as temp:
        moved = select(literal(owner.id), temp.c.kind, temp.c.data)
        session.execute(insert(CustomerEvent).from_select(["customer_id", "kind", "data"], moved))
    events = session.scalars(
        select(CustomerEvent).where(CustomerEvent.customer_id == owner.id).order_by("kind")
    ).all()
    assert [(e.kind, e.data) for e in events] == [(f"kind-{i}", d) for i, d in enumerate(data)]
    # A second use of the same name finds no table left over from the first.
    again = [Column("kind", Text)]
    with staged_rows(connection, "careloop_test_events", again, []) as temp:
        assert session.scalar(select(func.count()).select_from(temp)) == 0


def test_no_rows_make_an_empty_table(session: Session) -> None:
    columns = [Column("n", Integer)]
    with staged_rows(session.connection(), "careloop_test_empty", columns, iter(())) as temp:
        assert session.scalar(select(func.count()).select_from(temp)) == 0

"""The bulk writers in crm.db, on SQLite and PostgreSQL (COPY)."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session

from crm.db import (
    PreparedInsert,
    among,
    bulk_insert_columns,
    json_objects,
    utc_texts,
)
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
        ["mixed", 2.5, None],
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


def test_columns_of_one_value_become_literals_and_read_back(session: Session) -> None:
    names = ["O'Brien", "Nul\\l", "ümlaut"]
    for first, external_ids in ((names[0], ["u1", "u2", "u3"]), (None, ["n1", "n2", "n3"])):
        insert = PreparedInsert(
            session.get_bind().dialect,
            Customer.__table__,  # type: ignore[arg-type]
            3,
            {
                "external_id": external_ids,
                "first_name": [first] * 3,  # one value throughout
                "last_name": names,
                "marketing_consent": [True, True, True],
                "tags": [[], [], []],
            },
            {"locale": "de", "timezone": "Europe/Berlin", "attributes": {}},
        )
        if session.get_bind().dialect.name == "sqlite":  # the literals are in the statement
            assert "'de'" in insert.statement and "'Europe/Berlin'" in insert.statement
            assert ("'O''Brien'" if first else "NULL") in insert.statement
            # only the varying columns are bound; three rows go in one statement
            assert [len(parameters) for _, parameters in insert.statements] == [0, 3]
            assert all(len(row) == 4 for row in insert.statements[1][1])
        insert.execute(session)
        stored = session.scalars(
            select(Customer).where(Customer.external_id.in_(external_ids)).order_by(Customer.id)
        ).all()
        assert [c.first_name for c in stored] == [first] * 3
        assert [c.last_name for c in stored] == names
        assert {(c.locale, c.timezone, c.marketing_consent) for c in stored} == {
            ("de", "Europe/Berlin", True)
        }
        assert all(c.tags == [] and c.attributes == {} for c in stored)


def test_among_takes_any_number_of_values_in_one_parameter(session: Session) -> None:
    for external_id in ("a'b", "é", "plain", "x,y"):
        make_customer(session, external_id=external_id)
    session.flush()
    dialect = session.get_bind().dialect

    def found(values: list[str]) -> list[str | None]:
        query = select(Customer.external_id).where(among(Customer.external_id, values, dialect))
        return sorted(session.scalars(query).all(), key=str)

    assert found(["a'b", "é", "x,y", "missing"]) == ["a'b", "x,y", "é"]
    assert found([]) == []
    assert found([f"k{i}" for i in range(5000)] + ["plain"]) == ["plain"]


@pytest.mark.parametrize("length", [3, 250])
def test_rows_whose_every_column_is_one_value_are_all_written(
    session: Session, length: int
) -> None:
    owner = make_customer(session)
    bulk_insert_columns(
        session,
        CustomerEvent.__table__,  # type: ignore[arg-type]
        length,
        {"kind": ["same"] * length},
        {"customer_id": owner.id, "data": {}},
    )
    kinds = session.scalars(select(CustomerEvent.kind).where(CustomerEvent.customer_id == owner.id))
    assert list(kinds) == ["same"] * length


@pytest.mark.parametrize("length", [100, 250, 1001])
def test_many_rows_go_in_file_order_whatever_the_statement_size(
    session: Session, length: int
) -> None:
    # SQLite takes up to 100 rows a statement (fewer for wide rows); the rest row by row.
    owner = make_customer(session)
    columns: dict[str, list[Any]] = {
        "kind": [f"k{i}" for i in range(length)],
        "data": [{"i": i} for i in range(length)],
        "created_at": [
            dt.datetime(2026, 1, 1, tzinfo=dt.UTC) + dt.timedelta(minutes=i) for i in range(length)
        ],
    }
    insert = PreparedInsert(
        session.get_bind().dialect,
        CustomerEvent.__table__,  # type: ignore[arg-type]
        length,
        columns,
        {"customer_id": owner.id},
    )
    if session.get_bind().dialect.name == "sqlite":
        sizes = [len(p) for _, p in insert.statements]
        assert sizes == [length // 100, length % 100]
        assert all(len(chunk) == 300 for chunk in insert.statements[0][1])
    insert.execute(session)
    events = session.scalars(
        select(CustomerEvent)
        .where(CustomerEvent.customer_id == owner.id)
        .order_by(CustomerEvent.id)
    ).all()
    assert [(e.kind, e.data, e.created_at) for e in events] == list(
        zip(columns["kind"], columns["data"], columns["created_at"], strict=True)
    )


def test_wide_rows_keep_a_statement_within_the_parameter_limit(session: Session) -> None:
    names = ["external_id", "first_name", "last_name", "email", "phone", "locale", "timezone"]
    names += ["rfm_segment", "rfm_score", "nps_category", "csat_last", "nps_last"]
    length = 300
    columns = {
        name: [f"{i}" if "_last" not in name else i % 10 for i in range(length)] for name in names
    }
    insert = PreparedInsert(
        session.get_bind().dialect,
        Customer.__table__,  # type: ignore[arg-type]
        length,
        columns,
        {"tags": [], "attributes": {}},
    )
    if session.get_bind().dialect.name == "sqlite":
        bound = len(insert.statements[1][1][0])
        assert bound == len(names)
        assert all(len(chunk) <= 999 for chunk in insert.statements[0][1])
        assert (
            len(insert.statements[0][1]) * (999 // bound) + len(insert.statements[1][1]) == length
        )
    insert.execute(session)
    stored = session.execute(
        select(Customer.external_id, Customer.csat_last).order_by(Customer.id)
    ).all()
    assert [tuple(row) for row in stored] == [(f"{i}", i % 10) for i in range(length)]


def test_utc_texts_are_stored_and_compared_like_orm_timestamps(session: Session) -> None:
    owner = make_customer(session)
    session.flush()
    cells = [
        "2026-03-01T10:00:00+00:00",
        "2026-03-01T10:00:00Z",
        "2026-03-01 10:00:00",
        "2026-03-01T10:00:00",
        "2024-02-29",
    ]
    texts = utc_texts(session.get_bind().dialect, cells)
    assert texts is not None
    bulk_insert_columns(
        session,
        CustomerEvent.__table__,  # type: ignore[arg-type]
        len(cells),
        {"kind": [f"k{i}" for i in range(len(cells))], "created_at": texts},
        {"customer_id": owner.id, "data": {}},
    )
    query = select(CustomerEvent.created_at).where(CustomerEvent.customer_id == owner.id)
    ten = dt.datetime(2026, 3, 1, 10, tzinfo=dt.UTC)
    assert list(session.scalars(query.order_by(CustomerEvent.kind))) == [ten] * 4 + [
        dt.datetime(2024, 2, 29, tzinfo=dt.UTC)
    ]
    # Compared in SQL with a bound datetime, as every query does.
    assert len(session.scalars(query.where(CustomerEvent.created_at == ten)).all()) == 4
    assert len(session.scalars(query.where(CustomerEvent.created_at < ten)).all()) == 1


@pytest.mark.parametrize("dialect_name", ["sqlite", "postgresql"])
def test_utc_texts_of_one_form_are_rewritten_like_each_cell(dialect_name: str) -> None:
    # A column of one form is rewritten in its joined text; the result is each cell's.
    url = "sqlite://" if dialect_name == "sqlite" else "postgresql+psycopg://"
    dialect = create_engine(url).dialect  # (no connection is made)
    forms = [
        ["2026-03-01", "2025-12-31"],
        ["2026-03-01T10:00:00", "2025-12-31 23:59:59"],
        ["2026-03-01T10:00:00Z", "2025-12-31 23:59:59Z"],
        ["2026-03-01T10:00:00+00:00", "2025-12-31 23:59:59+00:00"],
        ["2026-03-01", "2025-12-31T23:59:59Z", "2025-12-30 01:02:03"],  # mixed
    ]
    for cells in forms:
        one_by_one = [utc_texts(dialect, [cell]) for cell in cells]
        assert utc_texts(dialect, cells) == [texts[0] for texts in one_by_one if texts]
    end = ".000000" if dialect_name == "sqlite" else "+00"
    assert utc_texts(dialect, forms[3]) == [
        "2026-03-01 10:00:00" + end,
        "2025-12-31 23:59:59" + end,
    ]
    assert utc_texts(dialect, forms[0]) == [
        "2026-03-01 00:00:00" + end,
        "2025-12-31 00:00:00" + end,
    ]
    assert utc_texts(dialect, []) == []


@pytest.mark.parametrize(
    "cell",
    [
        "2026-02-30",  # no such day
        "2026-02-29T10:00:00",
        "0000-01-01",
        "2026-13-01",
        "2026-03-01T24:00:00",
        "2026-03-01T10:00",  # no seconds: another form (parsed by the caller)
        "2026-03-01T10:00:00.5Z",
        "2026-03-01T10:00:00+02:00",  # not UTC
        " 2026-03-01",
        "",
    ],
)
def test_utc_texts_leave_other_forms_to_the_caller(session: Session, cell: str) -> None:
    dialect = session.get_bind().dialect
    assert utc_texts(dialect, ["2026-03-01", cell]) is None
    assert utc_texts(dialect, ["2026-03-01"]) is not None


def test_json_objects_are_what_json_dumps_makes_and_read_back(session: Session) -> None:
    columns: dict[str, list[object]] = {
        "from": [None, "low", 'a "quote" \\ and é', "low"],
        "to": ["high", "high", "x", "y"],
        "n": [1, 1.0, True, 0.7100000000000001],
        "p": [0.1, 1e-07, 12345678901234.5, 0.0],  # floats only: by repr
        "{odd} key": [-0.0, 2.5, 1.0, 3.0],
    }
    rows = [
        dict(zip(columns, values, strict=True)) for values in zip(*columns.values(), strict=True)
    ]
    texts = json_objects(columns)
    assert texts == [json.dumps(row) for row in rows]
    not_finite = [float("nan"), float("inf"), 1.5]  # (not JSON; written as json.dumps does)
    assert json_objects({"x": not_finite}) == [json.dumps({"x": x}) for x in not_finite]
    owner = make_customer(session)
    bulk_insert_columns(
        session,
        CustomerEvent.__table__,  # type: ignore[arg-type]
        len(rows),
        {"kind": [f"k{i}" for i in range(len(rows))], "data": texts},
        {"customer_id": owner.id},
    )
    query = select(CustomerEvent.data).where(CustomerEvent.customer_id == owner.id)
    assert list(session.scalars(query.order_by(CustomerEvent.kind))) == rows

"""CSV import of customers and orders: mapping, validation, merging, idempotency, errors."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from decimal import Decimal
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from app.cli import app
from careloop.errors import ValidationFailed
from crm.imports.service import ImportReport, import_csv, import_file
from crm.models import Customer, Order, OrderStatus, User
from tests.factories import make_customer
from tests.test_cli import cli_env  # noqa: F401 (a fixture)
from tests.test_inbox import login

CUSTOMERS = (
    ("Customer ID,E-Mail,Phone Number,First Name,Last Name,Birthday,Newsletter,Tags,Shoe size\n")
    + """C1,Anna@Example.com,030 1234567,Anna,Becker,1990-04-01,yes,vip;newsletter,38
C2,ben@example.com,+44 20 7946 0958,Ben,Smith,,no,,44
C3,clara@example.com,,Clara,Novak,01.02.1985,1,,
"""
)


def run(factory: sessionmaker[Session], kind: str, text: str | bytes, **kw: object) -> ImportReport:
    data = text.encode() if isinstance(text, str) else text
    return import_csv(factory, kind, io.BytesIO(data), **kw)  # type: ignore[arg-type]


def customers(session: Session) -> dict[str | None, Customer]:
    session.expire_all()
    return {c.external_id: c for c in session.scalars(select(Customer))}


def test_customers_are_mapped_normalised_and_reported(
    session_factory: sessionmaker[Session], session: Session
) -> None:
    report = run(session_factory, "customers", CUSTOMERS)
    assert (report.rows, report.created, report.rejected_count) == (3, 3, 0)
    assert report.columns["email"] == "E-Mail" and report.columns["phone"] == "Phone Number"
    assert report.ignored_columns == ["Shoe size"]
    rows = customers(session)
    anna = rows["C1"]
    assert anna.email == "anna@example.com" and anna.phone == "+49301234567"
    assert anna.birthday is not None and anna.birthday.isoformat() == "1990-04-01"
    assert anna.marketing_consent is True and anna.tags == ["newsletter", "vip"]
    assert rows["C2"].phone == "+442079460958" and rows["C2"].marketing_consent is False
    assert rows["C3"].birthday is not None and rows["C3"].birthday.isoformat() == "1985-02-01"


def test_the_same_file_twice_changes_nothing(
    session_factory: sessionmaker[Session], session: Session
) -> None:
    run(session_factory, "customers", CUSTOMERS)
    before = {k: (c.updated_at, c.email, c.phone) for k, c in customers(session).items()}
    again = run(session_factory, "customers", CUSTOMERS)
    assert (again.created, again.updated, again.unchanged, again.merged) == (0, 0, 3, 0)
    after = {k: (c.updated_at, c.email, c.phone) for k, c in customers(session).items()}
    assert after == before


def test_bad_rows_are_rejected_with_line_and_reason_and_the_rest_imported(
    session_factory: sessionmaker[Session], session: Session
) -> None:
    text = (
        b"id,email,phone,birthday,timezone,consent\n"
        b"G1,good@example.com,,1980-01-01,Europe/Berlin,yes\n"  # line 2
        b"B1,not-an-email,,,,\n"  # 3
        b"B2,b2@example.com,12,,,\n"  # 4
        b"B3,b3@example.com,,31/02/1990,,\n"  # 5
        b"B4,b4@example.com,,,Mars/Olympus,\n"  # 6
        b"B5,b5@example.com,,,,maybe\n"  # 7
        b",,,1990-01-01,,\n"  # 8
        b"B6,b6@example.com\n"  # 9
        b"G2,good2@example.com,,,,\n"  # 10
    ) + "B7,caf\xe9@example.com,,,,\n".encode("latin-1")  # 11
    report = run(session_factory, "customers", text)
    assert report.rows == 10 and report.created == 2
    reasons = dict(report.rejected)
    assert set(reasons) == {3, 4, 5, 6, 7, 8, 9, 11}
    assert "not an email address" in reasons[3]
    assert "phone '12'" in reasons[4]
    assert "not a date" in reasons[5]
    assert "time zone" in reasons[6]
    assert "yes/no" in reasons[7]
    assert "no external id, email or phone" in reasons[8]
    assert "has 2 fields, the header has 6" in reasons[9]
    assert "UTF-8" in reasons[11]
    assert set(customers(session)) == {"G1", "G2"}


def test_duplicates_in_the_file_and_in_the_database_are_merged(
    session_factory: sessionmaker[Session], session: Session
) -> None:
    known = make_customer(session, external_id=None, email="dora@example.com", first_name=None)
    session.commit()
    text = (
        "email,first_name,phone\n"
        "DORA@example.com,Dora,\n"  # the known customer, by email
        "eve@example.com,Eve,0301234568\n"
        "Eve@Example.com,Evelyn,\n"  # the same as the row before, in this file
        ",Eve again,+49 30 1234568\n"  # the same again, by phone
    )
    report = run(session_factory, "customers", text)
    assert (report.created, report.updated, report.merged) == (1, 1, 3)
    session.expire_all()
    assert session.get_one(Customer, known.id).first_name == "Dora"
    eve = session.scalars(select(Customer).where(Customer.email == "eve@example.com")).one()
    assert eve.first_name == "Eve again" and eve.phone == "+49301234568"


def test_an_email_that_belongs_to_another_customer_id_is_refused(
    session_factory: sessionmaker[Session],
) -> None:
    run(session_factory, "customers", "id,email\nA1,shared@example.com\n")
    report = run(session_factory, "customers", "id,email\nA2,shared@example.com\n")
    assert report.created == 0 and "belongs to customer A1" in report.rejected[0][1]


def test_stored_ids_with_new_emails_update_their_customers(
    session_factory: sessionmaker[Session], session: Session
) -> None:
    # A stored id with a new email: matched by the id, and the email is updated.
    run(session_factory, "customers", "id,email,first_name\nA1,a@example.com,Anna\n")
    text = "id,email,first_name\nN1,n@example.com,Nora\nA1,anna@example.com,Anna B\n"
    report = run(session_factory, "customers", text)
    assert (report.created, report.updated, report.merged, report.rejected_count) == (1, 1, 0, 0)
    stored = customers(session)
    assert set(stored) == {"A1", "N1"}
    assert (stored["A1"].email, stored["A1"].first_name) == ("anna@example.com", "Anna B")
    assert run(session_factory, "customers", text).unchanged == 2


def test_small_batches_give_the_same_result(
    session_factory: sessionmaker[Session], session: Session
) -> None:
    rows = "".join(f"X{i},x{i % 7}@example.com\n" for i in range(20))
    report = run(session_factory, "customers", "id,email\n" + rows, batch_rows=3)
    # x0..x6 are shared by several ids: the first id per email wins, the others conflict.
    assert report.created == 7 and report.rejected_count == 13
    assert len(customers(session)) == 7


def test_a_file_without_identifying_columns_is_refused_before_writing(
    session_factory: sessionmaker[Session], session: Session
) -> None:
    with pytest.raises(ValidationFailed, match="external_id, email or phone"):
        run(session_factory, "customers", "name,city\nAnna,Berlin\n")
    with pytest.raises(ValidationFailed, match="empty"):
        run(session_factory, "customers", "")
    with pytest.raises(ValidationFailed, match="amount"):
        run(session_factory, "orders", "order_id,customer_id,order_date\n1,C1,2026-01-01\n")
    assert customers(session) == {}


ORDERS = """order_id,customer_id,customer_email,order_date,amount,currency,status,items,coupon
O1,C1,,2026-03-01,49.90,eur,delivered,2,
O2,,ben@example.com,2026-03-02T10:15:00+01:00,"1234,50",EUR,shipped,1,SPRING
O3,C9,,2026-03-03,10.00,EUR,delivered,1,
O4,C1,,2026-03-04,-5,EUR,delivered,1,
O5,C1,,2026-03-05,12.00,EUR,lost,1,
O6,C1,,not a date,12.00,EUR,,1,
O7,C3,,2026-03-07,€7.5,,,,
"""


def test_orders_link_to_customers_and_reimport_is_idempotent(
    session_factory: sessionmaker[Session], session: Session
) -> None:
    run(session_factory, "customers", CUSTOMERS)
    report = run(session_factory, "orders", ORDERS)
    assert (report.rows, report.created) == (7, 3)
    reasons = dict(report.rejected)
    assert "customer 'C9' is unknown" in reasons[4]
    assert "negative" in reasons[5]
    assert "status 'lost'" in reasons[6]
    assert "not a date" in reasons[7]
    orders = {o.external_id: o for o in session.scalars(select(Order))}
    assert orders["O1"].currency == "EUR" and orders["O1"].items_count == 2
    assert orders["O2"].total_amount == Decimal("1234.50") and orders["O2"].offer_code == "SPRING"
    assert orders["O2"].ordered_at.isoformat() == "2026-03-02T09:15:00+00:00"
    assert orders["O2"].status is OrderStatus.shipped
    assert orders["O7"].total_amount == Decimal("7.50")
    assert orders["O7"].status is OrderStatus.delivered  # the default

    again = run(session_factory, "orders", ORDERS)
    assert (again.created, again.updated, again.unchanged) == (0, 0, 3)
    changed = run(
        session_factory,
        "orders",
        "order_id,customer_id,order_date,amount\nO1,C1,2026-03-01,59.90\n",
    )
    assert (changed.updated, changed.unchanged) == (1, 0)
    session.expire_all()
    assert session.scalars(select(Order).where(Order.external_id == "O1")).one().total_amount == (
        Decimal("59.90")
    )


def test_new_and_stored_orders_mixed_across_batches_are_counted_and_written(
    session_factory: sessionmaker[Session], session: Session
) -> None:
    run(session_factory, "customers", "customer_id,email\nC1,a@example.com\nC2,b@example.com\n")

    def orders(numbers: range, amount: str = "10.00") -> str:
        rows = [f"O{n},C{n % 2 + 1},2026-03-01T10:00:00Z,{amount}" for n in numbers]
        return "order_id,customer_id,order_date,amount\n" + "\n".join(rows) + "\n"

    first = run(session_factory, "orders", orders(range(40)), batch_rows=10)
    assert (first.created, first.unchanged) == (40, 0)
    # New orders, then stored ones (one changed), then new ones again.
    mixed = orders(range(40, 50)) + orders(range(0, 10), "12.00").split("\n", 1)[1]
    mixed += orders(range(10, 20)).split("\n", 1)[1] + orders(range(50, 60)).split("\n", 1)[1]
    again = run(session_factory, "orders", mixed, batch_rows=10)
    assert (again.created, again.updated, again.unchanged) == (20, 10, 10)
    assert not again.rejected
    session.expire_all()
    stored = session.scalars(select(Order)).all()
    assert len(stored) == 60 and len({o.external_id for o in stored}) == 60
    assert {o.total_amount for o in stored if o.external_id in {f"O{n}" for n in range(10)}} == {
        Decimal("12.00")
    }
    assert {o.customer_id for o in stored} == {c.id for c in customers(session).values()}


def test_cli_import_prints_the_report(cli_env: str, tmp_path: Path) -> None:  # noqa: F811
    runner = CliRunner()
    assert runner.invoke(app, ["db", "upgrade"]).exit_code == 0
    source = tmp_path / "customers.csv"
    source.write_text(CUSTOMERS + "C4,broken,,,,,,,\n")
    report_path = tmp_path / "report.json"
    res = runner.invoke(app, ["import", "customers", str(source), "--report", str(report_path)])
    assert res.exit_code == 3, res.output  # a row was rejected (the others are imported)
    assert "4 rows" in res.output and "3 accepted (3 new" in res.output
    assert "line 5: email 'broken' is not an email address" in res.output
    assert json.loads(report_path.read_text())["rejected"] == 1
    missing = runner.invoke(app, ["import", "customers", str(tmp_path / "nope.csv")])
    assert missing.exit_code == 1 and "no such file" in missing.output
    wrong = runner.invoke(app, ["import", "products", str(source)])
    assert wrong.exit_code == 2


def test_import_api_is_for_admins(
    client: TestClient, session: Session, staff: dict[str, User]
) -> None:
    login(client, staff["agent"])
    refused = client.post(
        "/api/v1/imports/customers",
        content=CUSTOMERS,
        headers={"Content-Type": "text/csv", "X-CSRF-Token": "x"},
    )
    assert refused.status_code == 403
    token = login(client, staff["admin"])
    res = client.post(
        "/api/v1/imports/customers",
        content=CUSTOMERS,
        headers={"Content-Type": "text/csv", "X-CSRF-Token": token},
    )
    assert res.status_code == 200, res.text
    assert res.json()["created"] == 3 and res.json()["ignored_columns"] == ["Shoe size"]
    bad = client.post(
        "/api/v1/imports/customers",
        content="name\nx\n",
        headers={"Content-Type": "text/csv", "X-CSRF-Token": token},
    )
    assert bad.status_code == 422


def _orders_file(path: Path, customers: list[str], rows: int) -> dict[int, str]:
    """An orders file with bad rows and quoted fields with a newline; returns the bad rows'
    lines and the expected reason words."""
    bad: dict[int, str] = {}
    lines = ["Order ID,Customer ID,Order Date,Amount,Note"]
    line_number = 1
    for i in range(rows):
        line_number += lines[-1].count("\n") + 1  # the line this row starts on
        date, amount = f"2025-{i % 12 + 1:02d}-{i % 27 + 1:02d}", f"{10 + i % 90}.50"
        if i % 97 == 13:
            date, bad[line_number] = "someday", "not a date"
        elif i % 89 == 40:
            amount, bad[line_number] = "lots", "not an amount"
        note = '"two\nlines"' if i % 50 == 7 else "ok"
        lines.append(f"O{i},{customers[i % len(customers)]},{date},{amount},{note}")
    path.write_text("\n".join(lines) + "\n")
    return bad


def test_a_big_orders_file_reports_true_lines_and_progress(
    live_session_factory: sessionmaker[Session], tmp_path: Path
) -> None:
    with live_session_factory() as session:
        ids = [f"K{i}" for i in range(7)]
        for external_id in ids:
            make_customer(session, external_id=external_id)
        session.commit()
    path = tmp_path / "orders.csv"
    bad = _orders_file(path, ids, 3000)
    seen: list[int] = []
    report = import_file(live_session_factory, "orders", path, progress=seen.append, batch_rows=500)
    assert (report.rows, report.created, report.rejected_count) == (3000, 3000 - len(bad), len(bad))
    assert [line for line, _ in report.rejected] == sorted(bad)
    assert all(bad[line] in reason for line, reason in report.rejected)
    assert sum(seen) == path.stat().st_size
    with live_session_factory() as session:
        orders = session.scalars(select(Order)).all()
        assert len(orders) == 3000 - len(bad)
        assert len({o.external_id for o in orders}) == len(orders)
    again = import_file(live_session_factory, "orders", path, batch_rows=500)
    assert (again.created, again.unchanged) == (0, 3000 - len(bad))


def _customers_file(path: Path, rows: int) -> tuple[dict[int, str], int]:
    """A customers file with bad rows, repeated customers (the same email in another case,
    on the next line) and quoted names over two lines; returns the bad rows' lines with the
    expected reason words, and the number of repeats."""
    bad: dict[int, str] = {}
    lines = ["Customer ID,Email,First Name,Signup Date"]
    line_number, repeats = 1, 0
    for i in range(rows):
        line_number += lines[-1].count("\n") + 1  # the line this row starts on
        external_id, email, date = f"K{i}", f"k{i}@example.com", f"2025-{i % 12 + 1:02d}-01"
        name = '"Ann\nMarie"' if i % 50 == 7 else "Ann"
        if i % 97 == 13:
            email, bad[line_number] = "nobody", "not an email"
        elif i % 89 == 40:
            date, bad[line_number] = "someday", "not a date"
        elif i % 101 == 50:  # the customer of the row before, again
            external_id, email, repeats = "", f"K{i - 1}@Example.com", repeats + 1
        lines.append(f"{external_id},{email},{name},{date}")
    path.write_text("\n".join(lines) + "\n")
    return bad, repeats


@pytest.mark.parametrize("batch_rows", [500, 100_000])
def test_a_big_customers_file_merges_repeats_and_later_rows_win(
    live_session_factory: sessionmaker[Session], tmp_path: Path, batch_rows: int
) -> None:
    path = tmp_path / "customers.csv"
    bad, repeats = _customers_file(path, 3000)
    report = import_file(live_session_factory, "customers", path, batch_rows=batch_rows)
    accepted = 3000 - len(bad)
    assert (report.rows, report.rejected_count) == (3000, len(bad))
    assert (report.created, report.merged) == (accepted - repeats, repeats)
    assert [line for line, _ in report.rejected] == sorted(bad)
    assert all(bad[line] in reason for line, reason in report.rejected)
    with live_session_factory() as session:
        stored = session.scalars(select(Customer)).all()
        assert len(stored) == accepted - repeats  # no customer twice
        assert len({c.email for c in stored}) == len(stored)
        # Later rows win: a repeat's name replaces the one of the row before.
        names: dict[str | None, str] = {}
        for external_id, email, name, date in list(csv.reader(io.StringIO(path.read_text())))[1:]:
            if "@" in email and date != "someday":
                names[external_id or email.split("@")[0].upper()] = name
        assert {c.external_id: c.first_name for c in stored} == names
    again = import_file(live_session_factory, "customers", path, batch_rows=batch_rows)
    assert (again.created, again.updated, again.rejected_count) == (0, 0, len(bad))
    with live_session_factory() as session:
        assert {c.external_id: c.first_name for c in session.scalars(select(Customer))} == names


# Rows in the common forms and in every other accepted form, and rows with one mistake each.
MIXED_ORDERS = """order_id,customer_id,order_date,amount,currency,status,items,coupon
F1,C1,2026-03-01T10:00:00+00:00,49.90,EUR,delivered,2,SPRING
F2,C1,2026-03-01,12,usd,PAID,,
F3,C2,2026-03-01 08:30,7.5,,,1,
S1, C2 ,01.03.2026,"1 234,50 €",eur,Shipped,01,
S2,C3,2026-03-01T12:00:00+02:00,  9.99 ,GBP,cancelled,3,"  CODE  "
S3,C1,2026-02-30,10.00,EUR,paid,1,
S4,C1,2026-03-01,10.999,EUR,paid,1,
S5,C1,2026-03-01,-5,EUR,paid,1,
S6,C1,2026-03-01,5,EURO,paid,1,
S7,C1,2026-03-01,5,EUR,lost,1,
S8,C1,2026-03-01,5,EUR,paid,0,
S9,C9,2026-03-01,5,EUR,paid,1,
S10,C1,2026-03-01,5,EUR
,C1,2026-03-01,5,EUR,paid,1,
F1,C2,2026-03-02T10:00:00Z,50.00,EUR,returned,2,
"""


@pytest.mark.parametrize("batch_rows", [2000, 3])
def test_orders_in_every_accepted_form_are_stored_and_mistakes_named(
    session_factory: sessionmaker[Session], session: Session, batch_rows: int
) -> None:
    run(session_factory, "customers", CUSTOMERS)
    report = run(session_factory, "orders", MIXED_ORDERS, batch_rows=batch_rows)
    rejected = dict(report.rejected)
    assert sorted(rejected) == [7, *range(9, 16)]  # S3, S5 .. the row without an order id
    assert "not a date" in rejected[7]
    assert "negative" in rejected[9] and "3-letter" in rejected[10]
    assert "status 'lost'" in rejected[11] and "item count" in rejected[12]
    assert "'C9' is unknown" in rejected[13] and "has 5 fields" in rejected[14]
    assert "no order id" in rejected[15]
    together = batch_rows > 15  # F1 twice in one batch: merged
    assert (report.created, report.merged, report.updated) == (6, 1, 0) if together else (6, 0, 1)
    session.expire_all()
    orders = {o.external_id: o for o in session.scalars(select(Order))}
    assert set(orders) == {"F1", "F2", "F3", "S1", "S2", "S4"}
    utc = dt.UTC
    assert orders["F1"].status is OrderStatus.returned and orders["F1"].items_count == 2
    assert orders["F1"].offer_code == "SPRING"  # kept from the first F1 row
    assert orders["F1"].ordered_at == dt.datetime(2026, 3, 2, 10, tzinfo=utc)
    assert orders["F1"].total_amount == Decimal("50.00")
    assert orders["F2"].currency == "USD" and orders["F2"].status is OrderStatus.paid
    assert orders["F2"].ordered_at == dt.datetime(2026, 3, 1, tzinfo=utc)
    assert orders["F2"].items_count == 1 and orders["F2"].offer_code is None
    assert orders["F3"].total_amount == Decimal("7.50") and orders["F3"].currency == "EUR"
    assert orders["F3"].ordered_at == dt.datetime(2026, 3, 1, 8, 30, tzinfo=utc)
    assert orders["S1"].total_amount == Decimal("1234.50") and orders["S1"].items_count == 1
    assert orders["S1"].ordered_at == dt.datetime(2026, 3, 1, tzinfo=utc)
    assert orders["S1"].currency == "EUR" and orders["S1"].status is OrderStatus.shipped
    assert orders["S2"].ordered_at.isoformat() == "2026-03-01T10:00:00+00:00"
    assert orders["S2"].total_amount == Decimal("9.99") and orders["S2"].offer_code == "CODE"
    assert orders["S2"].status is OrderStatus.cancelled and orders["S2"].currency == "GBP"
    assert orders["S4"].total_amount == Decimal("11.00")  # rounded to cents
    again = run(session_factory, "orders", MIXED_ORDERS, batch_rows=batch_rows)
    # (F1 in two batches: set to its first row's values, then back to its last row's)
    assert (again.created, again.updated) == (0, 0) if together else (0, 2)
    session.expire_all()
    assert session.get(Order, orders["F1"].id).status is OrderStatus.returned  # type: ignore[union-attr]


MIXED_CUSTOMERS = """id,email,phone,first_name,last_name,birthday,tz,locale,consent,tags,signup_date
F1,Fast@Example.com,,Anna,Becker,1990-04-01,Europe/Berlin,de,YES,b;a|b,2024-01-02
F2,,,,,,,,,,
,only-email@example.com,,,,,,,no,,2024-01-02T10:00:00Z
S1,s1@example.com,030 1234567,Sam,,,,,,,
S2, s2@example.com ,,  Padded  ,,01.02.1985,,,,,
S3,s3@example.com,,,,1850-01-01,,,,,
S4,s4@example.com,,,,2024-02-30,,,,,
S5,s5@example.com,,,,,Mars/Olympus,,,,
S6,s6@example.com,,,,,,,maybe,,
S7,not-an-email,,,,,,,,,
,,,Nobody,,,,,,,
S8,s8@example.com,,,,,,,,,2024-13-01
"""


@pytest.mark.parametrize("batch_rows", [2000, 3])
def test_customers_in_every_accepted_form_are_stored_and_mistakes_named(
    session_factory: sessionmaker[Session], session: Session, batch_rows: int
) -> None:
    report = run(session_factory, "customers", MIXED_CUSTOMERS, batch_rows=batch_rows)
    rejected = dict(report.rejected)
    assert sorted(rejected) == [7, 8, 9, 10, 11, 12, 13]
    assert "not plausible" in rejected[7] and "not a date" in rejected[8]
    assert "time zone" in rejected[9] and "yes/no" in rejected[10]
    assert "not an email" in rejected[11] and "no external id" in rejected[12]
    assert "not a date" in rejected[13]
    session.expire_all()
    stored = {c.external_id or c.email: c for c in session.scalars(select(Customer))}
    assert set(stored) == {"F1", "F2", "only-email@example.com", "S1", "S2"}
    anna = stored["F1"]
    assert (anna.email, anna.timezone, anna.locale) == ("fast@example.com", "Europe/Berlin", "de")
    assert (anna.first_name, anna.last_name) == ("Anna", "Becker")
    assert anna.birthday == dt.date(1990, 4, 1)
    assert anna.marketing_consent is True and anna.tags == ["a", "b"]
    assert anna.created_at.isoformat() == "2024-01-02T00:00:00+00:00"
    bare = stored["F2"]
    assert (bare.email, bare.phone, bare.timezone, bare.locale, bare.tags) == (
        None,
        None,
        "UTC",
        "en",
        [],
    )
    only = stored["only-email@example.com"]
    assert only.external_id is None and only.marketing_consent is False
    assert only.created_at == dt.datetime(2024, 1, 2, 10, tzinfo=dt.UTC)
    assert stored["S1"].phone == "+49301234567" and stored["S1"].first_name == "Sam"
    assert stored["S2"].first_name == "Padded" and stored["S2"].email == "s2@example.com"
    assert stored["S2"].birthday == dt.date(1985, 2, 1)
    again = run(session_factory, "customers", MIXED_CUSTOMERS, batch_rows=batch_rows)
    assert (again.created, again.updated, again.unchanged) == (0, 0, 5)


def test_timestamps_in_every_form_read_back_through_the_orm(
    session_factory: sessionmaker[Session], session: Session
) -> None:
    """Imported timestamps are stored as the ORM stores them: read back equal, and a
    re-import (which compares with the stored rows) changes nothing."""
    customers_csv = "id,email,first_name,signup_date\n" + "".join(
        f"K{i},k{i}@Example.com,Kim,2024-0{1 + i % 9}-1{i % 10}\n" for i in range(9)
    )
    report = run(session_factory, "customers", customers_csv, batch_rows=4)
    assert (report.created, report.rejected_count) == (9, 0)
    utc = dt.UTC
    stamps = {
        "2026-03-01T10:00:00+00:00": dt.datetime(2026, 3, 1, 10, tzinfo=utc),
        "2026-03-01T10:00:01Z": dt.datetime(2026, 3, 1, 10, 0, 1, tzinfo=utc),
        "2026-03-01 10:00:02": dt.datetime(2026, 3, 1, 10, 0, 2, tzinfo=utc),
        "2026-03-01T23:59:59": dt.datetime(2026, 3, 1, 23, 59, 59, tzinfo=utc),
        "2026-03-02": dt.datetime(2026, 3, 2, tzinfo=utc),
        "2026-03-01T10:00:00.250000+00:00": dt.datetime(2026, 3, 1, 10, 0, 0, 250000, tzinfo=utc),
        "2026-03-01T12:00:00+02:00": dt.datetime(2026, 3, 1, 10, tzinfo=utc),
        "03.01.2026": dt.datetime(2026, 1, 3, tzinfo=utc),
    }
    orders_csv = "order_id,customer_id,order_date,amount,status\n" + "".join(
        f"Q{i},K{i},{stamp},{i}.5,{'PAID' if i % 2 else ''}\n" for i, stamp in enumerate(stamps)
    )
    report = run(session_factory, "orders", orders_csv, batch_rows=4)
    assert (report.created, report.rejected_count) == (8, 0)
    session.expire_all()
    orders = {o.external_id: o for o in session.scalars(select(Order))}
    for i, expected in enumerate(stamps.values()):
        order = orders[f"Q{i}"]
        assert order.ordered_at == expected, i
        assert order.total_amount == Decimal(f"{i}.50") and order.currency == "EUR"
        assert order.status is (OrderStatus.paid if i % 2 else OrderStatus.delivered)
        assert order.created_at == order.updated_at and order.created_at.tzinfo is not None
    kim = customers(session)["K3"]
    assert (kim.email, kim.locale, kim.marketing_consent, kim.tags) == (
        "k3@example.com",
        "en",
        False,
        [],
    )
    assert kim.created_at == dt.datetime(2024, 4, 13, tzinfo=dt.UTC)
    again = run(session_factory, "orders", orders_csv, batch_rows=4)
    assert (again.created, again.updated, again.unchanged) == (0, 0, 8)
    again = run(session_factory, "customers", customers_csv, batch_rows=4)
    assert (again.created, again.updated, again.unchanged) == (0, 0, 9)


def test_phones_in_every_form_are_stored_as_e164_and_invalid_ones_named(
    session_factory: sessionmaker[Session], session: Session
) -> None:
    text = (
        "id,phone\n"
        "P1,+49 30 1234567\n"  # international, with spaces
        "P2,+4930 1234568\n"
        "P3,0049 30 1234569\n"  # the international prefix of the region
        "P4,030/1234570\n"  # national
        "P5,(030) 123-4571\n"
        "P6,+44 20 7946 0958\n"
        "P7,+1 650-253-0000\n"
        "P8,+39 06 6982 1234\n"  # (Italian numbers keep their leading zero)
        "B1,+49 12\n"  # too short
        "B2,+999 1234567\n"  # no such country code
        "B3,call me\n"
        "B4,00000\n"
        "P9,+1 416 555 0143\n"  # (+1, +44, +7: one code, several regions)
        "P10,+44 1624 756789\n"
        "P11,+7 701 123 4567\n"
        "P12,+800 1234 5678\n"  # (no region)
        "P13,+\u0664\u0669 30 1234572\n"  # (Arabic-Indic digits)
        "B5,+1 800 123 4567\n"  # not valid in the region its first digits name
        "B6,+44 1624 056789\n"
    )
    report = run(session_factory, "customers", text, default_region="DE")
    assert report.created == 13, report.rejected
    reasons = dict(report.rejected)
    assert sorted(reasons) == [10, 11, 12, 13, 19, 20]
    assert reasons[19] == "phone '+1 800 123 4567' is not a valid number"
    assert reasons[20] == "phone '+44 1624 056789' is not a valid number"
    assert reasons[10] == "phone '+49 12' is not a valid number"
    assert reasons[11] == "phone '+999 1234567' is not a phone number"
    assert reasons[12] == "phone 'call me' is not a phone number"
    assert "phone '00000'" in reasons[13]
    phones = {k: c.phone for k, c in customers(session).items()}
    assert phones == {
        "P1": "+49301234567",
        "P2": "+49301234568",
        "P3": "+49301234569",
        "P4": "+49301234570",
        "P5": "+49301234571",
        "P6": "+442079460958",
        "P7": "+16502530000",
        "P8": "+390669821234",
        "P9": "+14165550143",
        "P10": "+441624756789",
        "P11": "+77011234567",
        "P12": "+80012345678",
        "P13": "+49301234572",
    }
    # A national number is read in the region given.
    other = run(session_factory, "customers", "id,phone\nG1,020 7946 0959\n", default_region="GB")
    assert other.created == 1 and customers(session)["G1"].phone == "+442079460959"
    # A customer found by phone, whatever form it is written in, is merged.
    merged = run(session_factory, "customers", "phone,first_name\n0301234567,Pia\n")
    assert (merged.updated, merged.merges) == (1, [(2, "stored customer P1 (same phone)")])


def test_rows_start_on_the_lines_the_file_shows(session_factory: sessionmaker[Session]) -> None:
    """Quoted line breaks (\\n, \\r\\n, \\r), blank lines and unreadable rows keep every
    later row's line number right."""
    text = (
        "id,email,first_name\n"
        'a,a@example.com,"two\nlines"\n'  # 2
        "\n"
        "   \n"
        ",\n"
        'b,b@example.com,"windows\r\nbreak"\r\n'  # 7
        'c,c@example.com,"old mac\rbreak"\n'  # 9
        "d,not-an-email,x\n"  # 11
        'e,e@example.com,"three\n\nlines"\n'  # 12
        "f,f@example.com,a NUL \0 here\n"  # 15
        "g,g@example.com,too,many\n"  # 16
        "h,h@example.com,last"  # 17 (no line break at the end)
    )
    report = run(session_factory, "customers", text)
    assert report.blank_lines == 3 and report.rows == 8
    assert [line for line, _ in report.rejected] == [11, 15, 16]
    assert "not an email" in report.rejected[0][1]
    assert "NUL" in report.rejected[1][1] and "has 4 fields" in report.rejected[2][1]
    assert report.created == 5


@pytest.mark.parametrize("chunk_bytes", [7, 64, 1024**2])
def test_the_reader_reads_whole_records_whatever_its_chunk_size(chunk_bytes: int) -> None:
    from crm.imports.reader import CsvFile

    text = 'id;note\r\na;"x;\ny"\r\nb;plain\r\n\r\nc;"q""uote"\r\nd;\xc3\xa4\r\ne;\xff\r\nf;last'
    source = CsvFile.open(io.BytesIO(text.encode("latin-1")), chunk_bytes=chunk_bytes)
    assert (source.header, source.delimiter) == (["id", "note"], ";")
    read = [
        row
        for frame, _ in source.batches({"id": 0, "note": 1}, ["id", "note"], 2)
        for row in frame.iter_rows()
    ]
    assert read == [
        (2, None, "a", "x;\ny"),
        (4, None, "b", "plain"),
        (6, None, "c", 'q"uote'),
        (7, None, "d", "\xe4"),
        (8, "is not valid UTF-8 (save the file as UTF-8)", "e", "\ufffd"),
        (9, None, "f", "last"),
    ]


def test_a_quote_inside_an_unquoted_cell_is_read_as_a_character(
    session_factory: sessionmaker[Session], session: Session
) -> None:
    text = (
        "id,email,first_name\n"
        "a,a@example.com,Ann\n"
        'b,b@example.com,5" Ben\n'  # (a quote that opens nothing)
        'c,c@example.com,"Cat\nCarla"\n'
        "d,not-an-email,Dan\n"  # 6
        "e,e@example.com,Eve\n"
    )
    report = run(session_factory, "customers", text)
    assert (report.rows, report.created) == (5, 4)
    assert [line for line, _ in report.rejected] == [6]
    names = {k: c.first_name for k, c in customers(session).items()}
    assert names == {"a": "Ann", "b": '5" Ben', "c": "Cat\nCarla", "e": "Eve"}
    last = run(session_factory, "customers", 'id,first_name\nf,Fay\ng,7" Gus')  # (at the end)
    assert (last.rows, last.created) == (2, 2) and customers(session)["g"].first_name == '7" Gus'

"""CSV import of customers and orders: mapping, validation, merging, idempotency, errors."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import sys
import tempfile
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from app.cli import app
from careloop.errors import ValidationFailed
from crm.imports.service import ImportReport, import_csv
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
    # No stored email matches, so the batch is first tried as all new: the unique index
    # refuses the stored ids, and the batch is matched with the stored customers instead.
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


def test_new_orders_are_written_without_a_lookup_until_a_stored_one_appears(
    session_factory: sessionmaker[Session], session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Batches that could be all new are written without looking their orders up; the
    # first batch holding a stored order is refused by the unique index and planned
    # again, and the rest of the file is looked up as before. The outcome is the same.
    from crm.imports import service

    run(session_factory, "customers", "customer_id,email\nC1,a@example.com\nC2,b@example.com\n")

    def orders(numbers: range, amount: str = "10.00") -> str:
        rows = [f"O{n},C{n % 2 + 1},2026-03-01T10:00:00Z,{amount}" for n in numbers]
        return "order_id,customer_id,order_date,amount\n" + "\n".join(rows) + "\n"

    planned: list[bool] = []
    plan = service._plan_order_batch

    def watched(*args: Any, hopeful: bool = False) -> Any:
        planned.append(hopeful)
        return plan(*args, hopeful=hopeful)

    monkeypatch.setattr(service, "_plan_order_batch", watched)
    first = run(session_factory, "orders", orders(range(40)), batch_rows=10)
    assert (first.created, first.unchanged) == (40, 0) and planned == [True] * 4
    planned.clear()
    # New orders, then stored ones (one changed), then new ones again.
    mixed = orders(range(40, 50)) + orders(range(0, 10), "12.00").split("\n", 1)[1]
    mixed += orders(range(10, 20)).split("\n", 1)[1] + orders(range(50, 60)).split("\n", 1)[1]
    again = run(session_factory, "orders", mixed, batch_rows=10)
    assert (again.created, again.updated, again.unchanged) == (20, 10, 10)
    assert planned == [True, True, False, False, False]
    assert not again.rejected
    session.expire_all()
    stored = session.scalars(select(Order)).all()
    assert len(stored) == 60 and len({o.external_id for o in stored}) == 60
    assert {o.total_amount for o in stored if o.external_id in {f"O{n}" for n in range(10)}} == {
        Decimal("12.00")
    }


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
    """An orders file with a few bad rows in both halves and a quoted field with a newline
    (never a split point); returns the bad rows' lines and the expected reason words."""
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


def _reported_from_both_halves(
    report: ImportReport, bad: dict[int, str], progress: list[int] | None, path: Path
) -> None:
    """The rejections of both halves carry their true lines and reasons, and the progress
    (when the file was split) covers the whole file."""
    assert [line for line, _ in report.rejected] == sorted(bad)
    assert all(bad[line] in reason for line, reason in report.rejected)
    if progress is not None:
        assert sum(progress) == path.stat().st_size


@pytest.mark.parametrize("split", [True, False])
def test_a_big_orders_file_in_two_processes_imports_like_one(
    live_session_factory: sessionmaker[Session],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    split: bool,
) -> None:
    from crm.imports import service

    with live_session_factory() as session:
        ids = [f"K{i}" for i in range(7)]
        for external_id in ids:
            make_customer(session, external_id=external_id)
        session.commit()
    path = tmp_path / "orders.csv"
    bad = _orders_file(path, ids, 3000)
    if split:
        monkeypatch.setattr(service, "PARALLEL_BYTES", 1)
    else:  # the helper process fails: its half is imported here instead
        monkeypatch.setattr(service, "PARALLEL_BYTES", 1)
        monkeypatch.setattr(sys, "executable", "/bin/false")
    seen: list[int] = []
    report = service.import_file(
        live_session_factory, "orders", path, progress=seen.append, batch_rows=500
    )
    assert (report.rows, report.created, report.rejected_count) == (3000, 3000 - len(bad), len(bad))
    _reported_from_both_halves(report, bad, seen if split else None, path)
    with live_session_factory() as session:
        orders = session.scalars(select(Order)).all()
        assert len(orders) == 3000 - len(bad)
        assert len({o.external_id for o in orders}) == len(orders)
    again = service.import_file(live_session_factory, "orders", path, batch_rows=500)
    assert (again.created, again.unchanged) == (0, 3000 - len(bad))
    assert not list(Path(tempfile.gettempdir()).glob("careloop-import-*.lock"))  # cleaned up


def _customers_file(path: Path, rows: int) -> tuple[dict[int, str], int]:
    """A customers file with bad rows and repeated customers (the same email in another
    case, on the next line) in both halves, and quoted names over two lines; returns the
    bad rows' lines with the expected reason words, and the number of repeats."""
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


@pytest.mark.parametrize("split", [True, False])
def test_a_big_customers_file_in_two_processes_imports_like_one(
    live_session_factory: sessionmaker[Session],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    split: bool,
) -> None:
    from crm.imports import service

    path = tmp_path / "customers.csv"
    bad, repeats = _customers_file(path, 3000)
    monkeypatch.setattr(service, "PARALLEL_BYTES", 1)
    if not split:  # the helper process fails: its half is imported here instead
        monkeypatch.setattr(sys, "executable", "/bin/false")
    seen: list[int] = []
    report = service.import_file(
        live_session_factory, "customers", path, progress=seen.append, batch_rows=500
    )
    accepted = 3000 - len(bad)
    assert (report.rows, report.rejected_count) == (3000, len(bad))
    assert (report.created, report.merged) == (accepted - repeats, repeats)
    _reported_from_both_halves(report, bad, seen if split else None, path)
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
    again = service.import_file(live_session_factory, "customers", path, batch_rows=500)
    assert (again.created, again.updated, again.rejected_count) == (0, 0, len(bad))
    with live_session_factory() as session:
        assert {c.external_id: c.first_name for c in session.scalars(select(Customer))} == names
    assert not list(Path(tempfile.gettempdir()).glob("careloop-import-*.lock"))  # cleaned up


def test_the_split_point_is_a_record_boundary(tmp_path: Path) -> None:
    from crm.imports.service import _split_point

    path = tmp_path / "quoted.csv"
    path.write_bytes(b'h\n"a\n\n\n\nb"\nc\nd\n')
    # The middle (byte 7) is inside the quoted field: the second half starts at "c".
    assert _split_point(path, path.stat().st_size) == (11, 7)


# Rows in the forms the column-wise fast path takes, and in every form it leaves to the
# row-by-row parser (which accepts or words the rejection); the order date column holds
# both, row by row.
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


# batch_rows=3: the first batch is all fast forms (written a column at a time), the
# others mix both; the second F1 row is then in a later batch (an update, not a merge).
@pytest.mark.parametrize("batch_rows", [2000, 3])
def test_the_fast_path_and_the_row_parser_agree_row_by_row(
    session_factory: sessionmaker[Session], session: Session, batch_rows: int
) -> None:
    from crm.imports.service import ORDER_COLUMNS, _cells, _mapping, _order_record

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
    # Every accepted row is stored as the row-by-row parser reads it.
    rows = list(csv.reader(io.StringIO(MIXED_ORDERS)))
    mapping = _mapping(rows[0], ORDER_COLUMNS, ImportReport("orders"))
    expected = {}
    for row in rows[1:]:
        if row[0].strip() in ("F1", "F2", "F3", "S1", "S2", "S4"):
            expected[row[0].strip()] = _order_record(_cells(row, mapping, len(rows[0])))
    session.expire_all()
    orders = {o.external_id: o for o in session.scalars(select(Order))}
    assert set(orders) == set(expected)
    for external_id, record in expected.items():
        order = orders[external_id]
        for name in (
            "ordered_at",
            "total_amount",
            "currency",
            "status",
            "items_count",
            "offer_code",
        ):
            if name in record:
                assert getattr(order, name) == record[name], (external_id, name)
    assert orders["F1"].status is OrderStatus.returned and orders["F1"].items_count == 2
    assert orders["F1"].offer_code == "SPRING"  # kept from the first F1 row
    assert orders["F2"].currency == "USD" and orders["F2"].status is OrderStatus.paid
    assert orders["F3"].total_amount == Decimal("7.50") and orders["F3"].currency == "EUR"
    assert orders["S1"].total_amount == Decimal("1234.50") and orders["S1"].items_count == 1
    assert orders["S2"].ordered_at.isoformat() == "2026-03-01T10:00:00+00:00"
    assert orders["S2"].total_amount == Decimal("9.99") and orders["S2"].offer_code == "CODE"
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


@pytest.mark.parametrize("batch_rows", [2000, 3])  # 3: the first batch is all fast forms
def test_customer_fast_path_and_row_parser_agree(
    session_factory: sessionmaker[Session], session: Session, batch_rows: int
) -> None:
    from crm.imports.service import CUSTOMER_COLUMNS, _cells, _customer_record, _mapping

    report = run(session_factory, "customers", MIXED_CUSTOMERS, batch_rows=batch_rows)
    rejected = dict(report.rejected)
    assert sorted(rejected) == [7, 8, 9, 10, 11, 12, 13]
    assert "not plausible" in rejected[7] and "not a date" in rejected[8]
    assert "time zone" in rejected[9] and "yes/no" in rejected[10]
    assert "not an email" in rejected[11] and "no external id" in rejected[12]
    assert "not a date" in rejected[13]
    rows = list(csv.reader(io.StringIO(MIXED_CUSTOMERS)))
    mapping = _mapping(rows[0], CUSTOMER_COLUMNS, ImportReport("customers"))
    session.expire_all()
    stored = {c.external_id or c.email: c for c in session.scalars(select(Customer))}
    assert set(stored) == {"F1", "F2", "only-email@example.com", "S1", "S2"}
    for row in rows[1:6]:
        record = _customer_record(_cells(row, mapping, len(rows[0])), "DE")
        customer = stored[record.get("external_id") or record["email"]]
        for name, value in record.items():
            assert getattr(customer, name) == value, (row[0], name)
    anna = stored["F1"]
    assert (anna.email, anna.timezone, anna.locale) == ("fast@example.com", "Europe/Berlin", "de")
    assert anna.marketing_consent is True and anna.tags == ["a", "b"]
    assert anna.created_at.isoformat() == "2024-01-02T00:00:00+00:00"
    assert stored["S1"].phone == "+49301234567" and stored["S2"].first_name == "Padded"
    again = run(session_factory, "customers", MIXED_CUSTOMERS, batch_rows=batch_rows)
    assert (again.created, again.updated, again.unchanged) == (0, 0, 5)


def test_batches_of_fast_forms_are_stored_as_the_row_parser_reads_them(
    session_factory: sessionmaker[Session], session: Session
) -> None:
    """Whole batches in the common forms go in a column at a time, UTC timestamps as text
    (no datetime each): every value as the row parser reads it, and a re-import (which
    compares with the stored rows) changes nothing."""
    from crm.imports.service import parse_datetime

    customers_csv = "id,email,first_name,signup_date\n" + "".join(
        f"K{i},k{i}@Example.com,Kim,2024-0{1 + i % 9}-1{i % 10}\n" for i in range(9)
    )
    report = run(session_factory, "customers", customers_csv, batch_rows=4)
    assert (report.created, report.rejected_count) == (9, 0)
    stamps = [
        "2026-03-01T10:00:00+00:00",
        "2026-03-01T10:00:01Z",
        "2026-03-01 10:00:02",
        "2026-03-01T23:59:59",
        "2026-03-02",
        "2026-03-01T10:00:00.250000+00:00",  # fraction: datetimes for this batch
        "2026-03-01T12:00:00+02:00",
        "2026-03-03",
    ]
    orders_csv = "order_id,customer_id,order_date,amount,status\n" + "".join(
        f"Q{i},K{i},{stamp},{i}.5,{'PAID' if i % 2 else ''}\n" for i, stamp in enumerate(stamps)
    )
    report = run(session_factory, "orders", orders_csv, batch_rows=4)
    assert (report.created, report.rejected_count) == (8, 0)
    session.expire_all()
    orders = {o.external_id: o for o in session.scalars(select(Order))}
    for i, stamp in enumerate(stamps):
        order = orders[f"Q{i}"]
        assert order.ordered_at == parse_datetime(stamp, "order date"), stamp
        assert order.total_amount == Decimal(f"{i}.50") and order.currency == "EUR"
        assert order.status is (OrderStatus.paid if i % 2 else OrderStatus.delivered)
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


@pytest.mark.parametrize("batch_rows", [1, 2, 3, 1000])
def test_rows_are_read_in_batches_with_the_lines_they_start_on(batch_rows: int) -> None:
    from crm.imports.service import _read

    text = (
        "id,note\n"
        'a,"two\nlines"\n'
        "\n"
        "   \n"
        ",\n"
        'b,"windows\r\nbreak"\r\n'
        'c,"old mac\rbreak"\n'
        f"d,{'x' * 140_000}\n"  # longer than the CSV reader's field limit: refused
        "e,after the refused one\n"
        'f,"three\n\nlines"\n'
        "h,a NUL \0 here\n"  # (lines without quotes are split without the reader)
        "i,after it\n"
        "g,last"
    )
    header, _delimiter, reads = _read(io.BytesIO(text.encode()), None, batch_rows)
    assert header == ["id", "note"]
    read = [pair for batch in reads for pair in zip(batch.lines, batch.rows, strict=True)]
    # ("\r" ends a line too)
    assert [line for line, _ in read] == [2, 7, 9, 11, 12, 13, 16, 17, 18]
    assert [row[0][:1] for _, row in read] == ["a", "b", "c", "\0", "e", "f", "h", "i", "g"]
    assert "field larger than field limit" in read[3][1][0]
    assert read[6][1] == ["h", "a NUL \0 here"]
    # A part of a file: the lines are counted on from the offset.
    _, _, reads = _read(io.BytesIO(b"id,note\nx,1\ny,2\n"), None, batch_rows, line_offset=10)
    assert [line for batch in reads for line in batch.lines] == [12, 13]
    # Whether a batch is all valid UTF-8 without a NUL is known from the read (else each
    # row is checked).
    data = "id,note\nx,ümlaut\ny,plain\n".encode() + b"z,\xff\n"
    _, _, reads = _read(io.BytesIO(data), None, batch_rows)
    flags = [(line, batch.storable) for batch in reads for line in batch.lines]
    if batch_rows == 1:
        assert flags == [(2, True), (3, True), (4, False)]
    else:
        assert [line for line, _ in flags] == [2, 3, 4] and not flags[-1][1]


def test_a_column_is_checked_in_one_match_as_each_cell_would_be() -> None:
    from crm.imports.service import _FAST_ID, _FAST_NAME

    assert _FAST_ID.column([]) and _FAST_ID.column(["C1", "C 2", "x" * 64])
    assert not _FAST_ID.column(["C1", " padded"]) and not _FAST_ID.column(["x" * 65])
    # A cell with a line break of its own fails, though each of its lines has the form.
    cells = ["Anna", "two\nlines"]
    assert not _FAST_NAME.column(cells) and [_FAST_NAME(c) for c in cells] == [True, False]
    assert not _FAST_NAME.column(["Anna", ""])  # (an empty cell is not a name)

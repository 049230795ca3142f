"""A new user's first hour: `careloop serve` says where to go once it answers, the demo
chats are the same on every run and each shows something, `demo-data` judges by its own
data, `import` explains itself, and `score` says when a CLV model could not be used."""

from __future__ import annotations

import csv
import importlib.util
import io
import os
import re
import signal
import socket
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from app.cli import app
from careloop.config import Settings
from crm.db import create_db_engine, create_session_factory, session_scope
from crm.demo import DEMO_CHATS, demo_chats, demo_logins, has_demo_data, seed_demo_data
from crm.imports.columns import (
    CUSTOMER_COLUMNS,
    DATE_FORMATS,
    ORDER_COLUMNS,
    ORDER_STATUSES,
)
from crm.imports.service import ImportReport, import_csv, sniff_delimiter
from crm.models import (
    ChannelIdentity,
    Conversation,
    ConversationStatus,
    Customer,
    Direction,
    Message,
    Order,
    OrderStatus,
    Sender,
    SurveyResponse,
    SurveyStatus,
)
from crm.scoring.clv import BetaGeo, FitError, Summary, predict_clv
from migrations.runner import upgrade
from nlp.pipeline import NLU
from tests.factories import make_customer
from tests.test_cli import cli_env  # noqa: F401 (a fixture)

runner = CliRunner()
ROOT = Path(__file__).resolve().parent.parent


def flat(text: str) -> str:
    """The text with its line wrapping undone (help output is wrapped to the terminal)."""
    return " ".join(text.split())


# -- import ----------------------------------------------------------------------------


def test_import_help_lists_every_column_and_format() -> None:
    res = runner.invoke(app, ["import", "--help"])
    assert res.exit_code == 0
    out = flat(res.output)
    for aliases in (*CUSTOMER_COLUMNS.values(), *ORDER_COLUMNS.values()):
        for alias in aliases:
            assert alias in out, alias
    assert flat(DATE_FORMATS) in out
    assert "49,90" in out and "E.164" in out and "yes/no" in out
    for status in ORDER_STATUSES:
        assert status in out
    assert "--delimiter" in out and "--allow-rejects" in out and "semicolon" in out
    assert "3 when some rows were rejected" in out


def test_the_help_names_the_order_statuses_the_model_knows() -> None:
    assert tuple(status.value for status in OrderStatus) == ORDER_STATUSES


@pytest.mark.parametrize(
    ("header", "delimiter"),
    [
        ("Customer ID,E-Mail,Phone\r\n", ","),
        ("Kunde;E-Mail;Telefon\n", ";"),
        ("order_id;customer_id;date;amount (EUR, gross)\n", ";"),  # (a comma in a name)
        ("id\temail\tphone\n", "\t"),
        ("id|email\n", "|"),
        ('"id","e-mail; work","name"\n', ","),  # (quotes respected)
        ("email\n", ","),  # one column: nothing to tell
    ],
)
def test_the_delimiter_is_found_from_the_header(header: str, delimiter: str) -> None:
    assert sniff_delimiter(header) == delimiter


# An export from a spreadsheet in a German locale: semicolons, dotted dates, national phone
# numbers, blank lines, a row with four mistakes, and a duplicate by email.
SPREADSHEET = (
    "Customer ID;E-Mail;Phone;First Name;Birthday;Newsletter\n"
    "K1;anna@example.com;030 1234567;Anna;31.12.1990;yes\n"
    "\n"
    "K2;ben@example;12;Ben;12/31/1990;maybe\n"
    "K3;clara@example.com;+44 20 7946 0958;Clara;1985-02-03;no\n"
    ";ANNA@example.com;;Anna B.;;\n"
    "\n"
)


def test_cli_import_of_a_semicolon_spreadsheet(cli_env: str, tmp_path: Path) -> None:  # noqa: F811
    assert runner.invoke(app, ["db", "upgrade"]).exit_code == 0
    source = tmp_path / "kunden.csv"
    source.write_text(SPREADSHEET, encoding="utf-8")
    report_path = tmp_path / "report.json"
    res = runner.invoke(app, ["import", "customers", str(source), "--report", str(report_path)])
    assert res.exit_code == 3, res.output  # a row was rejected
    out = res.output
    assert "4 rows" in out and "2 accepted (2 new" in out and "1 merged, 1 rejected" in out
    assert "2 blank lines skipped" in out and "read as semicolon-separated" in out
    assert "line 6: merged into line 2 (same email)" in out
    rejected = next(line for line in out.splitlines() if line.startswith("  line 4:"))
    for error in (
        "email 'ben@example' is not an email address",
        "phone '12' is not a valid number",
        "birthday '12/31/1990' is not a date",
        DATE_FORMATS,
        "consent 'maybe' is not yes/no",
    ):
        assert error in rejected, error
    assert "rejected: exit status 3" in out

    engine = create_db_engine(cli_env)
    with create_session_factory(engine)() as session:
        anna = session.scalars(select(Customer).where(Customer.external_id == "K1")).one()
        assert anna.phone == "+49301234567" and anna.first_name == "Anna B."
        assert anna.birthday is not None and anna.birthday.isoformat() == "1990-12-31"
        assert session.scalars(select(Customer).where(Customer.external_id == "K2")).first() is None
    engine.dispose()

    again = runner.invoke(app, ["import", "customers", str(source), "--allow-rejects"])
    assert again.exit_code == 0, again.output
    assert "1 rejected" in again.output and "exit status" not in again.output


def test_cli_import_delimiter_option(cli_env: str, tmp_path: Path) -> None:  # noqa: F811
    assert runner.invoke(app, ["db", "upgrade"]).exit_code == 0
    source = tmp_path / "customers.csv"
    source.write_text("email;phone\nanna@example.com;+49 30 1234567\n")
    forced = runner.invoke(app, ["import", "customers", str(source), "--delimiter", "comma"])
    assert forced.exit_code == 1
    assert "found: email;phone; read as comma-separated" in flat(forced.output)
    named = runner.invoke(app, ["import", "customers", str(source), "--delimiter", "semicolon"])
    assert named.exit_code == 0, named.output
    assert "1 accepted (1 new" in named.output
    tabs = tmp_path / "tabs.tsv"
    tabs.write_text("email\tphone\nben@example.com\t\n")
    assert (
        runner.invoke(app, ["import", "customers", str(tabs), "--delimiter", "tab"]).exit_code == 0
    )
    bad = runner.invoke(app, ["import", "customers", str(source), "--delimiter", "x"])
    assert bad.exit_code == 2 and "comma, semicolon, tab or pipe" in bad.output


def run(factory: sessionmaker[Session], kind: str, text: str) -> ImportReport:
    return import_csv(factory, kind, io.BytesIO(text.encode()))


def test_tab_separated_orders_report_every_error_and_name_merged_lines(
    session_factory: sessionmaker[Session], session: Session
) -> None:
    make_customer(session, external_id="K1")
    make_customer(session, external_id="K2")
    session.commit()
    text = (
        "order_id\tcustomer_id\torder_date\tamount\tstatus\tqty\n"
        "A-1\tK1\t03.11.2026\t49,90 €\tdelivered\t2\n"
        "\tK9\t2026-13-40\tlots\tlost\t-1\n"  # five mistakes in one row
        "A-2\tK2\t2026-11-04T10:15:00+01:00\t12.00\tshipped\t1\n"
        "   \t \t\t\t\t\n"  # blank, but for spaces
        "A-1\tK1\t2026-11-03\t59.90\treturned\t2\n"  # A-1 again: merged into line 2
    )
    report = run(session_factory, "orders", text)
    assert report.delimiter == "\t" and report.blank_lines == 1
    assert (report.rows, report.created, report.merged, report.rejected_count) == (4, 2, 1, 1)
    assert report.merges == [(6, "line 2 (same order id A-1)")]
    [(line, reason)] = report.rejected
    assert line == 3
    for error in (
        "has no order id",
        "order date '2026-13-40' is not a date (accepted: " + DATE_FORMATS,
        "amount 'lots' is not an amount",
        "status 'lost' is not one of",
        "item count '-1' is not a positive number",
    ):
        assert error in reason, error
    session.expire_all()
    a1 = session.scalars(select(Order).where(Order.external_id == "A-1")).one()
    assert str(a1.total_amount) == "59.90" and a1.status is OrderStatus.returned
    assert report.as_dict()["merges"] == [{"line": 6, "into": "line 2 (same order id A-1)"}]


def test_a_customer_merged_into_a_stored_one_names_it(
    session_factory: sessionmaker[Session], session: Session
) -> None:
    make_customer(session, external_id="C-7", email="mia@example.com")
    session.commit()
    report = run(session_factory, "customers", "email,first_name\nMia@Example.com,Mia\n")
    assert report.merges == [(2, "stored customer C-7 (same email)")]
    assert (report.updated, report.merged) == (1, 1)


# -- demo data ----------------------------------------------------------------------------


def test_demo_chats_are_the_same_on_every_run_and_each_shows_something(
    session: Session,
) -> None:
    # A chat visitor was here first: that is no demo data, so the demo is still seeded.
    make_customer(session, external_id=None, email=None)
    assert not has_demo_data(session)
    summary = seed_demo_data(session, settings=Settings(), customers=12, seed=3)
    assert not summary.skipped and has_demo_data(session)
    assert summary.web_sessions == list(DEMO_CHATS) == demo_chats(session)
    assert [chat.session_id for chat in DEMO_CHATS] == [
        "demo-order-dialogue",
        "demo-open-escalation",
        "demo-resolved-csat",
        "demo-new-chat",
    ]
    again = seed_demo_data(
        session, settings=Settings(), customers=40, seed=9
    )  # other options: same links
    assert again.skipped and again.web_sessions == list(DEMO_CHATS)

    def chat(session_id: str) -> tuple[Customer, list[Conversation]]:
        identity = session.scalars(
            select(ChannelIdentity).where(ChannelIdentity.external_id == session_id)
        ).one()
        found = session.scalars(
            select(Conversation).where(Conversation.channel_identity_id == identity.id)
        ).all()
        return session.get_one(Customer, identity.customer_id), list(found)

    def texts(conversation: Conversation, direction: Direction) -> list[str]:
        return list(
            session.scalars(
                select(Message.text)
                .where(Message.conversation_id == conversation.id, Message.direction == direction)
                .order_by(Message.id)
            )
        )

    customer, [dialogue] = chat("demo-order-dialogue")
    order = session.scalars(
        select(Order).where(Order.customer_id == customer.id).order_by(Order.ordered_at.desc())
    ).first()
    assert order is not None and order.tracking_number
    # (every demo order has a delivery address, so its postcode proves it in the chat)
    assert order.shipping_postcode and order.shipping_postcode in (order.shipping_address or "")
    assert f"where is my order {order.external_id}?" in texts(dialogue, Direction.inbound)
    assert order.tracking_number in texts(dialogue, Direction.outbound)[0]
    assert dialogue.status is ConversationStatus.resolved and dialogue.assigned_agent_id is None

    _customer, [waiting] = chat("demo-open-escalation")
    assert waiting.status is ConversationStatus.waiting and waiting.assigned_agent_id is None
    assert waiting.escalation_reason == "complaint" and waiting.escalated_at is not None

    customer, [solved] = chat("demo-resolved-csat")
    assert solved.status is ConversationStatus.resolved and solved.resolved_by is Sender.agent
    survey = session.scalars(
        select(SurveyResponse).where(SurveyResponse.conversation_id == solved.id)
    ).one()
    assert survey.status is SurveyStatus.answered and survey.score == 5 and survey.comment
    assert survey.comment in texts(solved, Direction.inbound)
    session.refresh(customer)
    assert customer.csat_last == 5

    customer, none = chat("demo-new-chat")
    assert none == [] and session.scalars(select(Order).where(Order.customer_id == customer.id))
    # No demo link opens a chat an agent holds.
    held = session.scalars(
        select(Conversation).where(Conversation.status == ConversationStatus.assigned)
    ).all()
    assert not held
    assert [role for role, _email, _password in demo_logins(session)] == [
        "agent",
        "marketer",
        "admin",
    ]


# -- score ------------------------------------------------------------------------------


def cdnow_histories() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    spec = importlib.util.find_spec("lifetimes")
    assert spec is not None and spec.origin is not None
    path = Path(spec.origin).parent / "datasets" / "cdnow_customers_summary.csv"
    with path.open() as handle:
        rows = list(csv.DictReader(handle))
    return tuple(np.array([float(r[k]) for r in rows]) for k in ("frequency", "recency", "T"))  # type: ignore[return-value]


def test_a_degenerate_gamma_gamma_fit_is_named_and_its_limit_used() -> None:
    # CDNOW's purchase histories, but every purchase's spend drawn from one distribution
    # for all customers (as in the demo data): averages differ only by chance.
    x, t_x, T = cdnow_histories()
    rng = np.random.default_rng(0)
    m = np.array([rng.uniform(9, 250, int(k)).mean() if k > 0 else 0.0 for k in x])
    aov = np.where(x > 0, m, 100.0)
    prediction = predict_clv(Summary(np.arange(len(x)), x, t_x, T, m, aov), 39)
    assert prediction.method == "bg/nbd + mean spend" and prediction.gamma_gamma is None
    [note] = prediction.notes
    assert "Gamma-Gamma not used" in note and "degenerate (q=" in note
    assert "differs no more than chance" in note and "mean spend per repeat purchase" in note
    mean = (x[x > 0] @ m[x > 0]) / x[x > 0].sum()
    assert f"({mean:.2f})" in note
    repeat = x > 0
    assert prediction.clv[repeat] == pytest.approx(prediction.purchases[repeat] * mean)
    assert prediction.clv[~repeat] == pytest.approx(prediction.purchases[~repeat] * 100.0)


def test_a_degenerate_bg_nbd_fit_falls_back_to_the_historical_estimate() -> None:
    # Everyone buys exactly every 30 days and nobody leaves: nothing for the model to fit.
    T = np.arange(200.0, 700.0, 5.0)
    x = np.floor(T / 30) - 1
    t_x = x * 30.0
    with pytest.raises(FitError, match="degenerate"):
        BetaGeo.fit(x, t_x, T)
    spend = np.full_like(T, 20.0)
    prediction = predict_clv(Summary(np.arange(len(x)), x, t_x, T, spend, spend), 365)
    assert prediction.method == "historical"
    [note] = prediction.notes
    assert note.startswith("BG/NBD not used: the BG/NBD fit is degenerate (")
    assert "Used instead: the historical estimate" in note
    assert prediction.purchases == pytest.approx((x + 1) / T * 365)


def test_score_prints_what_replaced_a_degenerate_model(
    cli_env: str,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert runner.invoke(app, ["db", "upgrade"]).exit_code == 0
    engine = create_db_engine(cli_env)
    with session_scope(create_session_factory(engine)) as session:
        seed_demo_data(session, settings=Settings(), customers=150, seed=7)
    engine.dispose()
    monkeypatch.setattr("crm.scoring.churn.MIN_TRAINING_CUSTOMERS", 10**6)  # (not the point)
    res = runner.invoke(app, ["score"])
    assert res.exit_code == 0, res.output
    # The demo's spends are drawn alike for everyone, and few of its 150 customers leave:
    # one of the CLV models has nothing to fit. The output says which, why, and what was
    # used instead, rather than print runaway parameters as if they meant something.
    notes = [line.strip() for line in res.output.splitlines() if " not used: " in line]
    assert notes, res.output
    assert all("degenerate" in note and "Used instead: " in note for note in notes)
    method = next(line for line in res.output.splitlines() if line.startswith("CLV over"))
    assert "mean spend" in method or "historical" in method
    # No runaway parameter printed for people (the log lines, for operators, keep them).
    printed = [
        line
        for line in res.output.splitlines()
        if " not used: " not in line and not re.match(r"\d\d:\d\d:\d\d ", line)
    ]
    assert not [line for line in printed if "e+0" in line], res.output


# -- serve ------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def served_demo(tmp_path: Path, model_dir: Path, nlu: NLU) -> Iterator[tuple[str, list[str]]]:
    """`careloop serve` on a demo database (models trained already: ``nlu``); the URL it
    serves and its output lines up to and including the banner."""
    url = f"sqlite:///{tmp_path / 'serve.db'}"
    upgrade(url)
    engine = create_db_engine(url)
    with session_scope(create_session_factory(engine)) as session:
        seed_demo_data(session, settings=Settings(), customers=8)
    engine.dispose()
    port = _free_port()
    env = {
        **os.environ,
        "CARELOOP_DATABASE_URL": url,
        "CARELOOP_DATA_DIR": str(tmp_path),
        "CARELOOP_MODEL_DIR": str(model_dir),
        "CARELOOP_NLU_RELOAD_SECONDS": "0",
        "PYTHONUNBUFFERED": "1",
    }
    serve = ["serve", "--port", str(port), "--no-scheduler"]
    process = subprocess.Popen(
        [sys.executable, "-c", "from app.cli import main; main()", *serve],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: list[str] = []
    try:
        assert process.stdout is not None
        for line in process.stdout:  # (the test's own timeout guards a hang)
            lines.append(line.rstrip("\n"))
            if "demo web chats:" in line:
                lines += [process.stdout.readline().rstrip("\n") for _ in DEMO_CHATS]
                break
        yield f"http://127.0.0.1:{port}", lines
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.mark.slow
def test_serve_prints_the_urls_and_logins_once_it_answers(
    served_demo: tuple[str, list[str]],
) -> None:
    base, lines = served_demo
    starts = [i for i, line in enumerate(lines) if "careloop is ready on" in line]
    assert starts, "\n".join(lines)
    ready = starts[0]
    # Printed after the app's startup (models loaded) and with the socket bound: it answers.
    assert any("Application startup complete" in line for line in lines[:ready])
    with urllib.request.urlopen(f"{base}/login") as response:  # noqa: S310 (127.0.0.1)
        assert response.status == 200
    banner = "\n".join(lines[ready:])
    for path in ("/chat", "/login", "/inbox", "/docs"):
        assert f"{base}{path}" in banner
    assert "agent@demo.careloop" in banner and "inbox-demo-pass" in banner
    for chat in DEMO_CHATS:
        assert f"{base}/chat?session={chat.session_id}" in banner and chat.label in banner


def test_the_banner_shows_a_reachable_address_for_all_interfaces() -> None:
    from app.cli.serve import _banner

    text = _banner(Settings(host="0.0.0.0"), 8123, ([], []))  # noqa: S104
    assert "http://127.0.0.1:8123/inbox" in text and "all interfaces" in text
    assert "demo" not in text

"""The ``careloop`` CLI, run in-process against a temporary SQLite database."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from app.cli import app
from careloop.config import get_settings
from crm.db import create_db_engine, create_session_factory
from crm.models import Customer, Order, Role, User
from migrations.runner import head_revision

runner = CliRunner()


@pytest.fixture
def cli_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, model_dir: Path) -> Iterator[str]:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    monkeypatch.setenv("CARELOOP_DATABASE_URL", url)
    monkeypatch.setenv("CARELOOP_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("CARELOOP_MODEL_DIR", str(model_dir))
    get_settings.cache_clear()
    yield url
    get_settings.cache_clear()


def test_help_lists_the_commands() -> None:
    res = runner.invoke(app, ["--help"])
    assert res.exit_code == 0
    for command in ("serve", "bot", "db", "demo-data", "create-user", "nlu", "telegram"):
        assert command in res.output
    serve_help = runner.invoke(app, ["serve", "--help"]).output
    assert "--host" in serve_help and "--port" in serve_help


def test_db_upgrade_demo_data_and_create_user(cli_env: str) -> None:
    res = runner.invoke(app, ["db", "upgrade"])
    assert res.exit_code == 0, res.output
    assert "up to date" in res.output
    res = runner.invoke(app, ["db", "current"])
    assert f"database: {head_revision()}" in res.output

    res = runner.invoke(app, ["demo-data", "--customers", "40"])
    assert res.exit_code == 0, res.output
    assert "agent@demo.careloop" in res.output and "admin@demo.careloop" in res.output
    engine = create_db_engine(cli_env)
    with create_session_factory(engine)() as s:
        assert s.scalar(select(func.count()).select_from(Customer)) == 40
        assert (s.scalar(select(func.count()).select_from(Order)) or 0) > 40
        roles = set(s.scalars(select(User.role)))
        assert roles == {Role.agent, Role.marketer, Role.admin}

    again = runner.invoke(app, ["demo-data", "--customers", "40"])
    assert again.exit_code == 0 and "already present" in again.output
    with create_session_factory(engine)() as s:
        assert s.scalar(select(func.count()).select_from(Customer)) == 40

    res = runner.invoke(
        app,
        ["create-user", "--email", "Sam@Shop.example", "--role", "agent", "--password-stdin"],
        input="correct horse battery\n",
    )
    assert res.exit_code == 0, res.output
    dup = runner.invoke(
        app,
        ["create-user", "--email", "sam@shop.example", "--role", "agent", "--password-stdin"],
        input="another password\n",
    )
    assert dup.exit_code == 1 and "already exists" in dup.output
    bad_role = runner.invoke(
        app, ["create-user", "--email", "x@y.example", "--role", "boss", "--password-stdin"]
    )
    assert bad_role.exit_code == 1 and "unknown role" in bad_role.output
    short = runner.invoke(
        app,
        ["create-user", "--email", "x@y.example", "--role", "admin", "--password-stdin"],
        input="short\n",
    )
    assert short.exit_code == 1 and "at least 12" in short.output
    engine.dispose()


def test_nlu_evaluate_prints_one_json_object(cli_env: str, tmp_path: Path) -> None:
    train = tmp_path / "train.csv"
    test = tmp_path / "test.csv"
    train.write_text(
        "text,label\n"
        + "\n".join(
            [
                f'"{t}",order_status'
                for t in (
                    "where is my order",
                    "has my parcel shipped",
                    "track my package",
                    "when will my order arrive",
                    "status of my order",
                    "is my delivery on its way",
                )
            ]
            + [
                f'"{t}",refund'
                for t in (
                    "I want a refund",
                    "can I get my money back",
                    "refund my purchase",
                    "how do I return this for a refund",
                    "please refund me",
                    "give me my money back",
                )
            ]
            + [f'"{t}",oos' for t in ("what is the weather", "who won the game", "write a poem")]
        )
    )
    test.write_text(
        'text,label\n"where is my parcel",order_status\n"money back please",refund\n'
        '"tell me a joke",oos\n'
    )
    res = runner.invoke(
        app,
        [
            "nlu",
            "evaluate",
            "--task",
            "intent",
            "--train",
            str(train),
            "--test",
            str(test),
            "--oos-label",
            "oos",
        ],
    )
    assert res.exit_code == 0, res.output
    report = json.loads(res.output.strip().splitlines()[-1])
    for key in ("accuracy", "macro_f1", "n_train", "n_test", "encode_ms_per_message"):
        assert key in report
    assert report["n_train"] == 12 and report["n_test"] == 3
    assert "oos_recall" in report and "in_scope_accuracy" in report
    assert report["in_scope_accuracy"] == 1.0
    assert 0.0 <= report["oos_recall"] <= 1.0 and 0.0 <= report["oos_auroc"] <= 1.0
    assert report["oos_method"] == "msp+knn" and isinstance(report["threshold"], float)


def test_nlu_evaluate_names_the_bad_line(cli_env: str, tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text('text,label\n"fine",a\n"too",many,fields\n')
    res = runner.invoke(
        app, ["nlu", "evaluate", "--task", "intent", "--train", str(bad), "--test", str(bad)]
    )
    assert res.exit_code == 1 and "line 3" in res.output


def test_nlu_predict(cli_env: str) -> None:
    res = runner.invoke(app, ["nlu", "predict", "I want my money back"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.output.strip().splitlines()[-1])
    assert out["intent"]["label"] == "refund_return"


def test_conversations_export_and_quality(cli_env: str, tmp_path: Path) -> None:
    assert runner.invoke(app, ["db", "upgrade"]).exit_code == 0
    assert runner.invoke(app, ["demo-data", "--customers", "40"]).exit_code == 0
    out = tmp_path / "conversations.jsonl"
    wide = ["--start", "2020-01-01"]
    res = runner.invoke(
        app, ["conversations", "export", *wide, "--format", "jsonl", "--out", str(out)]
    )
    assert res.exit_code == 0, res.output
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert rows and {"id", "intents", "sentiments", "first_response_hit", "csat"} <= set(rows[0])
    csv_out = runner.invoke(app, ["conversations", "export", *wide])
    assert csv_out.exit_code == 0 and csv_out.output.startswith("id,channel,started_at")
    assert len(csv_out.output.strip().splitlines()) == len(rows) + 1
    report = runner.invoke(app, ["conversations", "quality", *wide])
    assert report.exit_code == 0, report.output
    assert json.loads(report.output)["conversations"] == len(rows)
    bad = runner.invoke(app, ["conversations", "quality", "--start", "yesterday"])
    assert bad.exit_code == 2 and "--start" in bad.output
    assert runner.invoke(app, ["conversations", "export", "--format", "xml"]).exit_code == 2

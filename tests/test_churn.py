"""Churn: `careloop churn evaluate` on any table, and the shop's own early-warning model
(training on its history, risk levels, reasons in words, level-change events)."""

from __future__ import annotations

import csv
import datetime as dt
import json
import math
import random
from decimal import Decimal
from functools import partial
from pathlib import Path

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score
from sqlalchemy import select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from app.cli import app
from careloop.errors import ValidationFailed
from crm.models import ChurnRisk, Customer, CustomerEvent, Direction, Message, Sender
from crm.scoring.churn import FEATURES, build_features, score_churn, train
from crm.scoring.reasons import described, encoded, entries
from crm.scoring.tabular import BlendModel, cross_validate, read_table
from tests.factories import make_conversation, make_customer, make_order, make_survey

NOW = dt.datetime(2026, 6, 1, 12, tzinfo=dt.UTC)


def column(rows: np.ndarray, name: str) -> list[float]:
    """The customers' values of one feature (``rows`` in ``FEATURES`` order)."""
    values: list[float] = rows[:, FEATURES.index(name)].tolist()
    return values


def telco_like(path: Path, n: int = 1500, seed: int = 1) -> float:
    """A telecom-style table whose churn follows a known logistic model; returns the AUC
    of the true probabilities (the best any model can do on this sample)."""
    rng = random.Random(seed)
    truth, labels = [], []
    with path.open("w", newline="") as handle:
        out = csv.writer(handle)
        out.writerow(["customerID", "tenure", "Contract", "Internet", "Monthly", "Total", "Churn"])
        for i in range(n):
            tenure = rng.randint(0, 72)
            contract = rng.choice(["Month-to-month"] * 3 + ["One year", "Two year"])
            internet = rng.choice(["DSL", "Fiber optic", "No", ""])  # "" = missing
            monthly = round(rng.uniform(20, 110), 2)
            total = "" if tenure == 0 else round(monthly * tenure, 2)
            z = (
                -1.0
                - 0.05 * tenure
                + (1.8 if contract == "Month-to-month" else 0)
                + (0.9 if internet == "Fiber optic" else 0)
                + 0.01 * (monthly - 60)
            )
            p = 1 / (1 + math.exp(-z))
            churn = rng.random() < p
            truth.append(p)
            labels.append(int(churn))
            out.writerow(
                [
                    f"{i:04d}-XYZ",
                    tenure,
                    contract,
                    internet,
                    monthly,
                    total,
                    "Yes" if churn else "No",
                ]
            )
    return float(roc_auc_score(labels, truth))


def test_evaluate_comes_close_to_the_best_possible_auc(tmp_path: Path) -> None:
    path = tmp_path / "telco.csv"
    oracle = telco_like(path)
    table = read_table(path, "Churn", "customerID")
    assert table.positive_class == "Yes" and table.names == [
        "tenure",
        "Contract",
        "Internet",
        "Monthly",
        "Total",
    ]
    assert table.categorical == [False, True, True, False, False]
    result = cross_validate(table)
    assert result["n"] == 1500 and result["folds"] == 5
    assert result["auc"] >= oracle - 0.03, (result["auc"], oracle)
    assert 0.6 < result["accuracy"] <= 1
    top = [f["feature"] for f in result["top_features"][:2]]
    assert set(top) == {"tenure", "Contract"}


def test_evaluate_reports_calibrated_probabilities(tmp_path: Path) -> None:
    # The risk levels read the probability itself: of the customers given about 30 %,
    # about 30 % churn. Ten groups of 150 by probability: observed within sampling noise.
    path = tmp_path / "telco.csv"
    telco_like(path)
    result = cross_validate(read_table(path, "Churn", "customerID"))
    groups = result["calibration"]
    assert len(groups) == 10 and sum(g["customers"] for g in groups) == 1500
    assert [g["predicted"] for g in groups] == sorted(g["predicted"] for g in groups)
    assert all(abs(g["predicted"] - g["observed"]) < 0.12 for g in groups), groups
    assert result["expected_calibration_error"] < 0.05
    assert 0 < result["brier"] < 0.85 * result["brier_churn_rate"]


def test_evaluate_learns_an_interaction_a_linear_model_cannot(tmp_path: Path) -> None:
    # Churn follows plan and usage together (heavy users of the basic plan, light users of
    # the premium one): logistic regression sees next to nothing, the trees see it all;
    # the stacked model must not be dragged down by the weak one.
    rng = random.Random(3)
    path = tmp_path / "plans.csv"
    truth, labels = [], []
    with path.open("w", newline="") as handle:
        out = csv.writer(handle)
        out.writerow(["plan", "usage", "age", "churn"])
        for _ in range(2000):
            plan, usage = rng.choice(["basic", "premium"]), rng.uniform(0, 100)
            p = 0.7 if (plan == "basic") == (usage > 50) else 0.1
            churn = rng.random() < p
            truth.append(p)
            labels.append(int(churn))
            out.writerow([plan, round(usage, 1), rng.randint(18, 80), "yes" if churn else "no"])
    oracle = float(roc_auc_score(labels, truth))
    result = cross_validate(read_table(path, "churn"))
    assert result["auc"] >= oracle - 0.03, (result["auc"], oracle)
    assert result["brier"] < 0.85 * result["brier_churn_rate"]


def test_a_column_with_a_single_value_does_not_stop_training() -> None:
    # One NPS answer in the whole shop: some cross-validation folds train without it.
    rng = np.random.default_rng(1)
    X = rng.normal(size=(300, 3))
    X[:, 2] = np.nan
    X[7, 2] = 9.0
    y = (X[:, 0] + rng.normal(size=300) > 0).astype(int)
    model = BlendModel([False, False, False], folds=3).fit(X, y)
    probability = model.predict_proba(X)[:, 1]
    assert np.all((probability > 0) & (probability < 1))
    assert roc_auc_score(y, probability) > 0.7


def test_evaluate_cli_prints_one_json_object(tmp_path: Path) -> None:
    path = tmp_path / "telco.csv"
    telco_like(path, n=600)
    res = CliRunner().invoke(
        app, ["churn", "evaluate", "--data", str(path), "--target", "Churn", "--id", "customerID"]
    )
    assert res.exit_code == 0, res.output
    body = json.loads(res.output)
    assert {"auc", "brier", "expected_calibration_error", "calibration"} <= body.keys()
    assert {"accuracy", "top_features"} <= body.keys() and body["n"] == 600
    missing = CliRunner().invoke(
        app, ["churn", "evaluate", "--data", str(path), "--target", "Gone"]
    )
    assert missing.exit_code == 1 and "no column 'Gone'" in missing.output


def test_evaluate_reads_missing_value_markers_as_missing(tmp_path: Path) -> None:
    # R writes NA, databases NULL, spreadsheets #N/A: a numeric column with them stays
    # numeric, and a row whose label is missing is left out.
    path = tmp_path / "exported.csv"
    path.write_text(
        "total,plan,churn\n"
        "10.5,basic,yes\n"
        "NA,premium,no\n"
        " NULL ,NA,no\n"
        "#N/A,basic,NA\n"
        "7,,yes\n"
        "1,basic,no\n"
    )
    table = read_table(path, "churn")
    assert table.names == ["total", "plan"] and table.categorical == [False, True]
    assert table.y.tolist() == [1, 0, 0, 1, 0]
    total = table.X[:, 0]
    assert total[0] == 10.5 and total[3] == 7 and np.isnan(total[1]) and np.isnan(total[2])
    plan = table.X[:, 1]
    assert np.isnan(plan[2]) and np.isnan(plan[3]) and plan[0] == plan[4] != plan[1]


def test_evaluate_refuses_tables_it_cannot_learn_from(tmp_path: Path) -> None:
    one_class = tmp_path / "one.csv"
    one_class.write_text("a,churn\n1,no\n2,no\n")
    with pytest.raises(ValidationFailed, match="exactly two values"):
        read_table(one_class, "churn")
    ragged = tmp_path / "ragged.csv"
    ragged.write_text("a,churn\n1,no\n2\n")
    with pytest.raises(ValidationFailed, match="line 3"):
        read_table(ragged, "churn")
    tiny = tmp_path / "tiny.csv"
    tiny.write_text("a,churn\n1,yes\n2,no\n3,no\n")
    with pytest.raises(ValidationFailed, match="too few rows"):
        cross_validate(read_table(tiny, "churn"))


def shop(session: Session, n: int = 160, seed: int = 5) -> dict[str, list[int]]:
    """Loyal customers buy every ~20 days and keep buying; fading ones slow down, complain
    and stop. Orders run until NOW, so the last 90 days say who really churned."""
    rng = random.Random(seed)
    kinds: dict[str, list[int]] = {"loyal": [], "fading": []}
    for i in range(n):
        customer = make_customer(session)
        fading = i % 2 == 1
        kinds["fading" if fading else "loyal"].append(customer.id)
        day = rng.randint(300, 500)
        stop = rng.randint(60, 200) if fading else -1
        gap = 20.0
        while day > 0 and day > stop:
            make_order(
                session,
                customer,
                ordered_at=NOW - dt.timedelta(days=day),
                total_amount=Decimal(rng.randint(20, 90)),
            )
            gap = gap * 1.15 if fading else gap
            day -= max(1, int(rng.gauss(gap, 4)))
        if fading and rng.random() < 0.7:
            conversation = make_conversation(session, customer, intent="complaint", text="bad")
            session.add(
                Message(
                    conversation_id=conversation.id,
                    customer_id=customer.id,
                    channel=conversation.channel,
                    direction=Direction.inbound,
                    sender=Sender.customer,
                    text="this is terrible",
                    intent="complaint",
                    sentiment_score=-0.9,
                    created_at=NOW - dt.timedelta(days=max(stop, 0) + 5),
                )
            )
            make_survey(
                session, customer, score=1, answered_at=NOW - dt.timedelta(days=max(stop, 0) + 3)
            )
    session.flush()
    return kinds


def test_log_odds_with_changed_columns_equal_a_prediction_of_the_changed_rows() -> None:
    # Reasons ask "what if these columns had typical values" hundreds of thousands of
    # times; the linear model's answer is a shift by its coefficients. It must equal
    # predicting the changed rows, with missing values, an empty column and a
    # categorical column (which predicts again).
    rng = np.random.default_rng(0)
    X = rng.normal(size=(2000, 5))
    X[:, 3] = rng.integers(0, 4, 2000)
    X[rng.random((2000, 5)) < 0.1] = np.nan
    X[:, 4] = np.nan  # nobody has this value (e.g. no NPS answers yet)
    y = (np.nan_to_num(X[:, 0]) - (X[:, 3] == 2) + rng.normal(size=2000) > 0).astype(int)
    model = BlendModel([False, False, False, True, False], learning_rate=0.25, max_iter=20)
    model.fit(X, y)
    log_odds = model.log_odds(X)
    assert model.combine(log_odds) == pytest.approx(model.predict_proba(X)[:, 1])
    for columns, values in (
        ([0], [0.5]),
        ([1, 2], [np.nan, -1.0]),
        ([4], [np.nan]),
        ([0, 3], [1.0, 2.0]),
    ):
        changed = X.copy()
        changed[:, columns] = values
        fast = model.log_odds_with(X, log_odds, columns, np.array(values))
        assert fast == pytest.approx(model.log_odds(changed), abs=1e-9)


def test_the_shop_model_ranks_fading_customers_high_with_reasons(session: Session) -> None:
    kinds = shop(session)
    result = score_churn(session, horizon_days=90, now=NOW)
    assert result.skipped is None and result.customers == 160
    assert result.auc_out_of_fold is not None and result.auc_out_of_fold > 0.8
    session.expire_all()
    customers = {c.id: c for c in session.scalars(select(Customer))}
    fading = [customers[i].churn_probability or 0 for i in kinds["fading"]]
    loyal = [customers[i].churn_probability or 0 for i in kinds["loyal"]]
    assert np.mean(fading) > np.mean(loyal) + 0.3
    assert sum(customers[i].churn_risk is ChurnRisk.high for i in kinds["fading"]) > 40
    assert sum(customers[i].churn_risk is ChurnRisk.low for i in kinds["loyal"]) > 60
    high = next(customers[i] for i in kinds["fading"] if customers[i].churn_risk is ChurnRisk.high)
    stored = high.churn_reasons or []
    assert 1 <= len(stored) <= 3 and all(isinstance(r, dict) and r["code"] for r in stored)
    reasons = described(stored)  # as the customer page and the inbox panel show them
    assert any(r.startswith("no order for") or "orders in the last 90 days" in r for r in reasons)
    assert all(c.churn_reasons is None for c in customers.values() if c.churn_risk is ChurnRisk.low)

    # First scoring: every customer who is not low risk gets an event; a rescoring with
    # nothing new changes no level.
    events = session.scalars(select(CustomerEvent)).all()
    assert (
        len(events)
        == result.changes
        == sum(1 for c in customers.values() if c.churn_risk is not ChurnRisk.low)
    )
    assert events[0].kind == "churn_risk_changed" and events[0].data["from"] is None
    again = score_churn(session, horizon_days=90, now=NOW)
    assert again.changes == 0
    # A stored level that differs is a change from it; a customer with a stored level
    # but no orders (not scored now) is none.
    high.churn_risk = ChurnRisk.low
    make_customer(session, churn_risk=ChurnRisk.medium)
    session.flush()
    third = score_churn(session, horizon_days=90, now=NOW)
    assert third.changes == 1
    last = session.scalars(select(CustomerEvent).order_by(CustomerEvent.id.desc())).first()
    assert last is not None and last.customer_id == high.id
    assert last.data == {"from": "low", "to": "high", "probability": high.churn_probability}


def test_the_shop_model_is_calibrated_out_of_fold(session: Session) -> None:
    shop(session)
    model = train(session, horizon_days=90, now=NOW)
    rate = model.churn_rate
    assert model.auc_out_of_fold > 0.8
    assert model.brier_out_of_fold < 0.7 * rate * (1 - rate)
    features = build_features(session, NOW - dt.timedelta(days=90))
    assert float(model.probability(features.X).mean()) == pytest.approx(rate, abs=0.05)


def test_features_only_look_before_the_cutoff(session: Session) -> None:
    customer = make_customer(session)
    for days in (100, 80, 60, 5):
        make_order(
            session, customer, ordered_at=NOW - dt.timedelta(days=days), total_amount=Decimal("10")
        )
    make_survey(session, customer, score=2, answered_at=NOW - dt.timedelta(days=2))
    features = build_features(session, NOW - dt.timedelta(days=30))
    row = dict(zip(FEATURES, features.X[0].tolist(), strict=True))
    assert row["days_since_last_order"] == pytest.approx(30)
    assert row["usual_gap_days"] == pytest.approx(20)
    assert row["overdue_ratio"] == pytest.approx(1.5)
    assert row["orders_90d"] == 3 and row["orders_365d"] == 3
    assert math.isnan(row["csat_last"])  # the survey came after the cut-off
    stored = encoded(entries("recency", partial(column, features.X[:1]), [None]))
    assert described([json.loads(text) for text in stored]) == [
        "no order for 30 days, usually every 20 days"
    ]


def test_every_reason_is_worded_from_the_customers_own_values() -> None:
    def rows(*values: dict[str, float]) -> np.ndarray:
        X = np.full((len(values), len(FEATURES)), np.nan)
        for i, given in enumerate(values):
            for name, value in given.items():
                X[i, FEATURES.index(name)] = value
        return X

    def words(
        group: str, *values: dict[str, float], at: list[int | None] | None = None
    ) -> list[str]:
        stored = encoded(entries(group, partial(column, rows(*values)), at or [None] * len(values)))
        return described([json.loads(text) for text in stored])  # the JSON text stored

    assert words(
        "recency",
        {"days_since_last_order": 94.4, "usual_gap_days": 19.6},
        {"days_since_last_order": 1, "usual_gap_days": 0.2},
        {"days_since_last_order": 12},
    ) == [
        "no order for 94 days, usually every 20 days",
        "no order for 1 day, usually every 1 day",
        "no order for 12 days",
    ]
    assert words("frequency", {"orders_90d": 0, "orders_prev_90d": 3}) == [
        "0 orders in the last 90 days, 3 in the 90 before"
    ]
    assert words("spend", {"spend_365d": 1234.5, "average_order": 41.149}) == [
        "spent 1234.50 in the last year (average order 41.15)"
    ]
    assert words("tenure", {"tenure_days": 400}) == ["a customer for 400 days"]
    assert words(
        "complaints",
        {"complaints_30d": 1, "escalations_90d": 4},
        {"complaints_30d": 2, "escalations_90d": 0},
        {"complaints_30d": 0, "escalations_90d": 3},
    ) == [
        "1 complaint this month",
        "2 complaints this month",
        "3 conversations handed to an agent in 90 days",
    ]
    assert words("unhappy", {"unhappy_messages_90d": 5}) == ["5 unhappy messages in 90 days"]
    assert words(
        "csat", {"csat_last": 1}, {"csat_last": 2}, {"csat_last": 3}, {}, at=[2, 9, 40, None]
    ) == [
        "CSAT 1 this week",
        "CSAT 2 last week",
        "CSAT 3 40 days ago",
        "never answered a satisfaction survey",
    ]
    assert words("nps", {"nps_last": 3}, {"nps_last": 8}, {"nps_last": 10}, {}) == [
        "NPS 3 (detractor)",
        "NPS 8 (passive)",
        "NPS 10 (promoter)",
        "no NPS answer",
    ]


def test_reasons_are_stored_as_codes_and_values_and_old_sentences_still_show() -> None:
    stored = [
        {"code": "days_since_last_order", "value": 212, "usual_gap_days": 30},
        {"code": "complaints_30d", "value": 2},
    ]
    assert described(stored) == [
        "no order for 212 days, usually every 30 days",
        "2 complaints this month",
    ]
    assert described(["no order for 94 days, usually every 20 days"]) == [
        "no order for 94 days, usually every 20 days"
    ]
    assert described(None) == []


def test_too_little_history_skips_churn_and_keeps_old_scores(session: Session) -> None:
    customer = make_customer(session, churn_probability=0.5, churn_risk=ChurnRisk.medium)
    make_order(session, customer, ordered_at=NOW - dt.timedelta(days=200))
    result = score_churn(session, now=NOW)
    assert result.skipped is not None and "at least 50 customers" in result.skipped
    session.expire_all()
    assert session.get_one(Customer, customer.id).churn_risk is ChurnRisk.medium

"""Lifetime value: BG/NBD and Gamma-Gamma against the published CDNOW fits, customer
summaries on a hand-checked history, and the stored CLV with its historical fallback."""

from __future__ import annotations

import csv
import datetime as dt
import importlib.util
import random
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest
from scipy.optimize import approx_fprime
from sqlalchemy.orm import Session

from careloop.config import Settings
from crm.models import Customer
from crm.scoring.clv import BetaGeo, GammaGamma, score_clv, summarise
from crm.scoring.likelihoods import beta_geo_likelihood, fit_log_params, gamma_gamma_likelihood
from crm.scoring.service import score_customers
from tests.factories import make_customer, make_order

NOW = dt.datetime(2026, 6, 1, 12, tzinfo=dt.UTC)


def cdnow(name: str) -> list[dict[str, str]]:
    spec = importlib.util.find_spec("lifetimes")
    assert spec is not None and spec.origin is not None, "lifetimes ships the CDNOW data"
    path = Path(spec.origin).parent / "datasets" / name
    with path.open() as handle:
        return list(csv.DictReader(handle))


def column(rows: list[dict[str, str]], name: str) -> np.ndarray:
    return np.array([float(r[name]) for r in rows])


def test_bg_nbd_recovers_the_published_cdnow_parameters() -> None:
    rows = cdnow("cdnow_customers_summary.csv")  # 2,357 customers, weeks
    x, t_x, T = column(rows, "frequency"), column(rows, "recency"), column(rows, "T")
    bg = BetaGeo.fit(x, t_x, T)
    # Fader, Hardie & Lee (2005): r = 0.243, alpha = 4.414, a = 0.793, b = 2.426.
    assert (bg.r, bg.alpha, bg.a, bg.b) == pytest.approx((0.2426, 4.4135, 0.7929, 2.4258), rel=1e-3)
    # The conditional expectations lifetimes gives for the first customers over 39 weeks.
    expected = bg.expected_purchases(39.0, x[:3], t_x[:3], T[:3])
    assert expected.tolist() == pytest.approx([1.22591, 0.20325, 0.19478], rel=1e-4)
    alive = bg.p_alive(np.array([0.0, 5.0]), np.array([0.0, 10.0]), np.array([30.0, 30.0]))
    assert alive[0] == 1.0 and 0 < alive[1] < 1


def test_gamma_gamma_recovers_the_published_cdnow_parameters() -> None:
    rows = cdnow("cdnow_customers_summary_with_transactions.csv")
    gg = GammaGamma.fit(column(rows, "x"), column(rows, "zbar"))
    # Fader & Hardie (2013): p = 6.25, q = 3.74, v = 15.44.
    assert (gg.p, gg.q, gg.v) == pytest.approx((6.25, 3.74, 15.44), rel=3e-3)
    shrunk = gg.expected_value(np.array([1.0, 20.0]), np.array([100.0, 100.0]))
    assert 15.44 * 6.25 / 2.74 < shrunk[0] < shrunk[1] < 100  # towards the population mean


def test_summaries_count_purchase_days() -> None:
    day = dt.timedelta(days=1)
    rows = [
        (1, NOW - 100 * day, 10.0),  # first purchase: 100 days ago
        (1, NOW - 100 * day + dt.timedelta(hours=1), 5.0),  # same day: one purchase of 15
        (1, NOW - 40 * day, 30.0),
        (1, NOW - 10 * day, 50.0),
        (2, NOW - 5 * day, 20.0),  # one-time buyer
    ]
    s = summarise(rows, NOW)
    assert s.customer_ids.tolist() == [1, 2]
    assert s.x.tolist() == [2, 0] and s.t_x.tolist() == [90, 0] and s.T.tolist() == [100, 5]
    assert s.m.tolist() == [40.0, 0.0]  # (30 + 50) / 2; the first purchase is left out
    assert s.aov.tolist() == [95 / 3, 20.0]


def test_too_little_history_falls_back_to_the_historical_estimate(session: Session) -> None:
    customer = make_customer(session)
    make_order(session, customer, ordered_at=NOW - dt.timedelta(days=60), total_amount=100)
    newcomer = make_customer(session)
    make_order(session, newcomer, ordered_at=NOW - dt.timedelta(days=3), total_amount=40)
    result = score_clv(session, horizon_days=365, now=NOW)
    assert result.method == "historical" and result.customers == 2
    session.expire_all()
    # One purchase in 60 days → 365 / 60 purchases of 100 in the next year.
    assert session.get_one(Customer, customer.id).clv == Decimal("608.33")
    # Tenure counts as at least 30 days: 365 / 30 purchases of 40.
    assert session.get_one(Customer, newcomer.id).clv == Decimal("486.67")


def test_models_score_a_shop_with_enough_history(session: Session) -> None:
    rng = random.Random(3)
    frequent: list[int] = []
    rare: list[int] = []
    for i in range(120):
        customer = make_customer(session)
        loyal = i % 3 == 0
        (frequent if loyal else rare).append(customer.id)
        start = rng.randint(200, 700)
        gaps = 20 if loyal else 150
        day = start
        while day > 0:
            make_order(
                session,
                customer,
                ordered_at=NOW - dt.timedelta(days=day),
                total_amount=Decimal(rng.randint(20, 120)),
            )
            day -= max(1, int(rng.expovariate(1 / gaps)))
            if not loyal and rng.random() < 0.3:
                break
    rfm, clv, _churn = score_customers(
        session, Settings(rfm_window_days=365, clv_horizon_days=180), now=NOW
    )
    assert clv.method == "bg/nbd + gamma-gamma" and clv.customers == 120 == rfm.customers
    assert clv.beta_geo is not None and clv.gamma_gamma is not None
    session.expire_all()
    values = {c.id: float(c.clv or 0) for c in session.query(Customer).all()}
    assert all(v >= 0 for v in values.values())
    assert np.mean([values[i] for i in frequent]) > 3 * np.mean([values[i] for i in rare])


@pytest.mark.parametrize("model", ["bg/nbd", "gamma-gamma"])
def test_the_likelihood_gradients_match_finite_differences(model: str) -> None:
    rng = np.random.default_rng(3)
    x = rng.poisson(2.0, 400).astype(float)
    T = rng.uniform(10, 300, 400).round()
    if model == "bg/nbd":
        objective, _scale = beta_geo_likelihood(x, np.floor(T * rng.uniform(0, 1, 400)), T)
        points = [np.zeros(4), np.array([-1.0, 0.5, -0.3, 1.2]), np.array([0.4, -2.0, 0.8, -0.5])]
    else:
        repeat = x > 0
        objective, _scale = gamma_gamma_likelihood(x[repeat], rng.gamma(3.0, 20.0, 400)[repeat])
        points = [np.array([0.0, 1.0, 0.0]), np.array([1.5, 0.3, -0.7]), np.array([-0.5, 2.0, 1.0])]
    for point in points:
        value, gradient = objective(point)
        numeric = approx_fprime(point, lambda p: objective(p)[0], 1e-6)
        assert np.isfinite(value)
        assert gradient == pytest.approx(numeric, rel=1e-4, abs=1e-5)


def test_a_fit_whose_gradient_fails_falls_back_to_the_value_alone(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # A gradient that points the wrong way stops L-BFGS-B short; Nelder-Mead and the
    # polish by differences still find the optimum, exp(2) and exp(-1).
    def wrong(p: np.ndarray) -> tuple[float, np.ndarray]:
        return float((p[0] - 2) ** 2 + (p[1] + 1) ** 2), np.array([p[0] - 2, p[1] + 1]) * -1

    with caplog.at_level("INFO", logger="crm.scoring.likelihoods"):
        fitted = fit_log_params(wrong, np.zeros(2), "test")
    assert fitted == pytest.approx(np.exp([2.0, -1.0]), rel=1e-4)
    assert "crm.clv.optimizer_retry model=test" in caplog.text

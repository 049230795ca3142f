"""Customer lifetime value: BG/NBD (how many more purchases) times Gamma-Gamma (worth how
much), as docs/customer-value.md ("Lifetime value") describes; the likelihoods and the fit
are in ``crm.scoring.likelihoods``.

Customer summaries, in days: ``x`` = repeat purchase days (distinct purchase days - 1),
``t_x`` = first to last purchase, ``T`` = first purchase to now, ``m`` = mean spend of the
repeat purchase days.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from dataclasses import dataclass

import numpy as np
from scipy.special import hyp2f1
from sqlalchemy.orm import Session

from crm.db import as_utc, utcnow
from crm.scoring.history import DAY, OrderHistory, ScoreWrites, epoch, store_scores
from crm.scoring.likelihoods import (
    FitError,
    beta_geo_likelihood,
    fit_log_params,
    gamma_gamma_likelihood,
)

log = logging.getLogger(__name__)
MIN_REPEAT_CUSTOMERS = 30  # fewer repeat buyers than this: the historical estimate only
FIT_SAMPLE = 50_000  # the models are fitted on a random sample this large (all predict)


PLAUSIBLE = (1e-4, 1e4)
"""The range of a fitted parameter, in the units it is fitted in (the time and spend
scales of the likelihoods); outside it the fit is degenerate (docs/customer-value.md)."""


class DegenerateFit(FitError):
    """The optimizer ran to a limit of the model (see ``PLAUSIBLE``)."""


def _out_of_range(**params: float) -> str | None:
    """The parameters outside ``PLAUSIBLE`` (``q=2.7e+08, v=1.3e+10``), or None."""
    low, high = PLAUSIBLE
    out = [f"{name}={value:.2g}" for name, value in params.items() if not low <= value <= high]
    return ", ".join(out) or None


@dataclass(frozen=True)
class BetaGeo:
    """BG/NBD: purchases follow a Poisson process with gamma(r, alpha) rates; after each
    purchase the customer drops out with a beta(a, b) probability."""

    r: float
    alpha: float
    a: float
    b: float

    @classmethod
    def fit(cls, x: np.ndarray, t_x: np.ndarray, T: np.ndarray) -> BetaGeo:
        if int(np.count_nonzero(x > 0)) < MIN_REPEAT_CUSTOMERS:
            raise FitError(
                f"BG/NBD needs at least {MIN_REPEAT_CUSTOMERS} customers with a repeat purchase"
            )
        objective, scale = beta_geo_likelihood(x, t_x, T)
        r, alpha, a, b = fit_log_params(objective, np.zeros(4), "bg/nbd")
        out = _out_of_range(r=r, alpha=alpha, a=a, b=b)  # (alpha in the compressed time)
        if out is not None:
            low, high = PLAUSIBLE
            why = []
            if r > high or alpha > high:
                why.append("purchase rates differ between customers no more than chance")
            if a > high and b > high:
                why.append(
                    "the chance of dropping out after a purchase is the same for everyone "
                    f"(a and b grew together, a/(a+b) = {a / (a + b):.1%})"
                )
            elif a < low or b > high:
                why.append("the histories show no sign of customers dropping out")
            raise DegenerateFit(
                f"the BG/NBD fit is degenerate ({out}, alpha in units of a tenth of the "
                "longest history): "
                + ("; ".join(why) or "the purchase histories do not pin the model down")
            )
        return cls(float(r), float(alpha * scale), float(a), float(b))

    def expected_purchases(
        self, t: float, x: np.ndarray, t_x: np.ndarray, T: np.ndarray
    ) -> np.ndarray:
        """E[purchases in the next ``t`` days | history]."""
        r, alpha, a, b = self.r, self.alpha, self.a, self.b
        with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
            hyp = hyp2f1(r + x, b + x, a + b + x - 1, t / (alpha + T + t))
            first = (a + b + x - 1) / (a - 1)
            second = 1 - hyp * ((alpha + T) / (alpha + T + t)) ** (r + x)
            result: np.ndarray = np.maximum(first * second / self._denominator(x, t_x, T), 0.0)
        return result  # NaN where the series does not converge (extreme parameters)

    def p_alive(self, x: np.ndarray, t_x: np.ndarray, T: np.ndarray) -> np.ndarray:
        return 1.0 / self._denominator(x, t_x, T)

    def _denominator(self, x: np.ndarray, t_x: np.ndarray, T: np.ndarray) -> np.ndarray:
        r, alpha, a, b = self.r, self.alpha, self.a, self.b
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = a / np.maximum(b + x - 1, 1e-12) * ((alpha + T) / (alpha + t_x)) ** (r + x)
        return 1.0 + np.where(x > 0, ratio, 0.0)


@dataclass(frozen=True)
class GammaGamma:
    """Gamma-Gamma: a customer's spend per purchase varies around their own mean, which
    varies across customers; shrinks a repeat buyer's average towards the population's."""

    p: float
    q: float
    v: float

    @classmethod
    def fit(cls, x: np.ndarray, m: np.ndarray) -> GammaGamma:
        keep = (x > 0) & (m > 0)
        if int(keep.sum()) < MIN_REPEAT_CUSTOMERS:
            raise FitError(f"Gamma-Gamma needs at least {MIN_REPEAT_CUSTOMERS} repeat buyers")
        objective, scale = gamma_gamma_likelihood(x[keep], m[keep])
        p, q, v = fit_log_params(objective, np.array([0.0, 1.0, 0.0]), "gamma-gamma")
        out = _out_of_range(p=p, q=q, v=v)  # (v in units of the median spend)
        if out is not None:
            why = (
                "customers' average spend per purchase differs no more than chance"
                if q > PLAUSIBLE[1] or v > PLAUSIBLE[1]
                else "the spends do not pin the model down"
            )
            raise DegenerateFit(
                f"the Gamma-Gamma fit is degenerate ({out}, v in units of the median spend): " + why
            )
        return cls(float(p), float(q), float(v * scale))

    def expected_value(self, x: np.ndarray, m: np.ndarray) -> np.ndarray:
        """E[spend per purchase | x repeat purchases averaging m]."""
        p, q, v = self.p, self.q, self.v
        result: np.ndarray = p * (v + x * m) / (p * x + q - 1)
        return result


@dataclass(frozen=True)
class Summary:
    customer_ids: np.ndarray
    x: np.ndarray
    t_x: np.ndarray
    T: np.ndarray
    m: np.ndarray  # mean spend of repeat purchase days (0 when none)
    aov: np.ndarray  # mean spend per purchase day, all days


def summarise(rows: list[tuple[int, dt.datetime, float]], now: dt.datetime) -> Summary:
    """Per-customer summaries from (customer id, ordered at, amount) rows."""
    ids = np.array([r[0] for r in rows], dtype=np.int64)
    at = np.array([epoch(as_utc(r[1])) for r in rows], dtype=np.int64)
    amounts = np.array([float(r[2]) for r in rows], dtype=np.float64)
    return summarise_history(OrderHistory.from_arrays(ids, at, amounts), now)


def summarise_history(history: OrderHistory, now: dt.datetime) -> Summary:
    """Per-customer summaries of the orders before ``now``; orders of the same UTC
    calendar day are one purchase."""
    if len(history) == 0:
        empty = np.zeros(0)
        return Summary(np.zeros(0, dtype=np.int64), empty, empty, empty, empty, empty)
    today = epoch(now) // DAY
    day = history.at // DAY  # sorted by customer, then time: equal days are adjacent
    cid = history.customer_id
    new_day = np.ones(len(day), dtype=bool)
    new_day[1:] = (cid[1:] != cid[:-1]) | (day[1:] != day[:-1])
    starts = np.flatnonzero(new_day)
    day_totals = np.add.reduceat(history.amount, starts)
    cid, ago = cid[starts], today - day[starts]  # per customer, oldest day first
    customers, start, n_days = np.unique(cid, return_index=True, return_counts=True)
    first_ago, last_ago = ago[start].astype(np.float64), ago[start + n_days - 1]
    totals = np.add.reduceat(day_totals, start)
    x = (n_days - 1).astype(np.float64)
    m = np.where(x > 0, (totals - day_totals[start]) / np.maximum(x, 1), 0.0)
    return Summary(customers, x, first_ago - last_ago, first_ago, m, totals / n_days)


@dataclass(frozen=True)
class ClvResult:
    customers: int
    method: str  # "bg/nbd + gamma-gamma", "bg/nbd + mean spend", "bg/nbd" or "historical"
    seconds: float
    beta_geo: BetaGeo | None = None
    gamma_gamma: GammaGamma | None = None
    # A model that was not used: what was used instead, and why (for people).
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class Prediction:
    """Expected purchases and CLV per customer, the method used and the fitted models."""

    purchases: np.ndarray
    clv: np.ndarray
    method: str
    beta_geo: BetaGeo | None = None
    gamma_gamma: GammaGamma | None = None
    notes: tuple[str, ...] = ()


def predict_clv(summary: Summary, horizon_days: int) -> Prediction:
    """Expected purchases and CLV per customer over ``horizon_days``, and the method used.

    Repeat buyers get Gamma-Gamma's expected spend; one-time buyers their own average
    order value. Too little data for BG/NBD, or a degenerate fit (or a customer the
    model's series cannot evaluate) → the historical estimate: the customer's purchase
    rate so far (at least 30 days of tenure) * the horizon * their average order. A
    degenerate Gamma-Gamma fit (customers' average spends differ no more than chance) →
    the model's own limit: every repeat buyer's spend per purchase is the shop's mean."""
    s = summary
    historical = (s.x + 1) / np.maximum(s.T, 30.0) * horizon_days
    # The likelihood of a few tens of thousands of customers pins the four or three
    # parameters down as well as a million would, at a fraction of the time.
    fit = (
        np.random.default_rng(0).choice(len(s.x), FIT_SAMPLE, replace=False)
        if len(s.x) > FIT_SAMPLE
        else slice(None)
    )
    try:
        bg = BetaGeo.fit(s.x[fit], s.t_x[fit], s.T[fit])
        purchases = bg.expected_purchases(float(horizon_days), s.x, s.t_x, s.T)
    except FitError as exc:
        note = (
            f"BG/NBD not used: {exc}. Used instead: the historical estimate (each "
            "customer's purchase rate so far, over at least 30 days, times the horizon "
            "times their average order)"
        )
        log.info("crm.clv.historical reason=%s", exc)
        return Prediction(historical, historical * s.aov, "historical", notes=(note,))
    unstable = ~np.isfinite(purchases)
    if unstable.any():  # the few customers the series cannot handle: historical estimate
        log.info("crm.clv.unstable customers=%d", int(unstable.sum()))
        purchases = np.where(unstable, historical, purchases)
    repeat = s.x > 0
    try:
        gg = GammaGamma.fit(s.x[fit], s.m[fit])
        value = np.where(repeat, gg.expected_value(s.x, s.m), s.aov)
        return Prediction(purchases, purchases * value, "bg/nbd + gamma-gamma", bg, gg)
    except DegenerateFit as exc:
        spent = s.x[repeat] @ s.m[repeat]
        mean = float(spent / s.x[repeat].sum())
        log.info("crm.clv.gamma_gamma_degenerate mean_spend=%.2f reason=%s", mean, exc)
        note = (
            f"Gamma-Gamma not used: {exc}. Used instead: its limit for such data, the "
            f"shop's mean spend per repeat purchase ({mean:.2f}) for every repeat buyer; "
            "one-time buyers: their own order value"
        )
        value = np.where(repeat, mean, s.aov)
        return Prediction(purchases, purchases * value, "bg/nbd + mean spend", bg, notes=(note,))
    except FitError as exc:  # too few repeat buyers
        log.info("crm.clv.gamma_gamma_skipped reason=%s", exc)
        note = f"Gamma-Gamma not used: {exc}. Used instead: each customer's own average order"
        return Prediction(purchases, purchases * s.aov, "bg/nbd", bg, notes=(note,))


def score_clv(
    session: Session,
    *,
    horizon_days: int = 365,
    now: dt.datetime | None = None,
    history: OrderHistory | None = None,
    pending: ScoreWrites | None = None,
) -> ClvResult:
    """Fit on the shop's own orders and store each customer's CLV (over the horizon);
    ``history`` (the orders up to ``now``) is read when not given.
    With ``pending``, the scores are added there and written later with the other steps'."""
    started = time.perf_counter()
    now = now or utcnow()
    history = history if history is not None else OrderHistory.load(session, until=now)
    summary = summarise_history(history, now)
    prediction = predict_clv(summary, horizon_days)
    clv_column = np.round(np.maximum(prediction.clv, 0.0), 2).tolist()
    store_scores(session, pending, summary.customer_ids, {"clv": clv_column})
    p, seconds = prediction, time.perf_counter() - started
    result = ClvResult(
        len(summary.customer_ids), p.method, seconds, p.beta_geo, p.gamma_gamma, p.notes
    )
    log.info(
        "crm.clv.scored customers=%d method=%s seconds=%.1f", result.customers, p.method, seconds
    )
    return result

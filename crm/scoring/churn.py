"""Churn early warning trained on the shop's own history, with reasons in words.

* **Label**: a customer churned when they placed no order in the ``horizon`` days after a
  cut-off. Training uses the cut-off ``now - horizon`` (so the label is known), scoring uses
  ``now``; features only ever look at what happened before their cut-off.
* **Features** (per customer who ordered before the cut-off): days since the last order,
  the usual gap between orders and how overdue the next one is, orders in the last 90 / 365
  days and the trend against the 90 days before, spend, average order, tenure, RFM-style
  counts, conversations, escalations, complaints, unhappy messages, last and average CSAT
  and the last NPS.
* **Model**: the tabular blend (histogram gradient boosting + logistic regression), its
  probabilities calibrated by isotonic regression on out-of-fold predictions.
* **Risk level**: high / medium / low by the configured thresholds. A change of level is a
  ``churn_risk_changed`` customer event (campaign triggers use them).
* **Reasons**: for each feature group, how much the customer's probability falls when that
  group is set to a typical retained customer's values; the top three become sentences.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.isotonic import IsotonicRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedKFold
from sqlalchemy import case, func, insert, select
from sqlalchemy.orm import Session

from crm.db import as_utc, bulk_update, utcnow
from crm.models import (
    ChurnRisk,
    Conversation,
    Customer,
    CustomerEvent,
    Direction,
    Message,
    Order,
    OrderStatus,
    SurveyKind,
    SurveyResponse,
    SurveyStatus,
)
from crm.scoring.tabular import BlendModel

log = logging.getLogger(__name__)

FEATURES = (
    "days_since_last_order",
    "usual_gap_days",
    "overdue_ratio",
    "orders_90d",
    "orders_prev_90d",
    "orders_365d",
    "spend_365d",
    "average_order",
    "tenure_days",
    "conversations_90d",
    "escalations_90d",
    "complaints_30d",
    "unhappy_messages_90d",
    "csat_last",
    "csat_average",
    "nps_last",
)
GROUPS: dict[str, tuple[str, ...]] = {
    "recency": ("days_since_last_order", "overdue_ratio"),
    "frequency": ("orders_90d", "orders_prev_90d", "orders_365d"),
    "spend": ("spend_365d", "average_order"),
    "tenure": ("tenure_days",),
    "complaints": ("complaints_30d", "escalations_90d"),
    "unhappy": ("unhappy_messages_90d", "conversations_90d"),
    "csat": ("csat_last", "csat_average"),
    "nps": ("nps_last",),
}
MIN_TRAINING_CUSTOMERS = 50
TRAIN_SAMPLE = 60_000  # customers; larger histories are sampled for training
UNHAPPY = -0.3


class NotEnoughHistory(RuntimeError):
    """The shop's history cannot train a churn model yet."""


@dataclass
class Features:
    customer_ids: np.ndarray
    X: np.ndarray
    csat_last_at: dict[int, dt.datetime]

    def column(self, name: str) -> np.ndarray:
        values: np.ndarray = self.X[:, FEATURES.index(name)]
        return values


def build_features(session: Session, cutoff: dt.datetime) -> Features:
    """Features of every customer who ordered before ``cutoff``, from data before it."""
    d90, d365, d180, d30 = (cutoff - dt.timedelta(days=n) for n in (90, 365, 180, 30))
    before = Order.ordered_at < cutoff
    rows = session.execute(
        select(
            Order.customer_id,
            func.min(Order.ordered_at),
            func.max(Order.ordered_at),
            func.count(),
            func.sum(case((Order.ordered_at >= d90, 1), else_=0)),
            func.sum(case(((Order.ordered_at >= d180) & (Order.ordered_at < d90), 1), else_=0)),
            func.sum(case((Order.ordered_at >= d365, 1), else_=0)),
            func.sum(case((Order.ordered_at >= d365, Order.total_amount), else_=0)),
            func.sum(Order.total_amount),
        )
        .where(before, Order.status != OrderStatus.cancelled)
        .group_by(Order.customer_id)
        .order_by(Order.customer_id)
    ).all()
    ids = np.array([r[0] for r in rows], dtype=np.int64)
    index = {int(cid): i for i, cid in enumerate(ids.tolist())}
    X = np.full((len(rows), len(FEATURES)), np.nan)
    col = {name: i for i, name in enumerate(FEATURES)}
    for i, (_, first, last, count, o90, prev90, o365, s365, total) in enumerate(rows):
        first_days = (cutoff - as_utc(first)).total_seconds() / 86400
        last_days = (cutoff - as_utc(last)).total_seconds() / 86400
        gap = (first_days - last_days) / (count - 1) if count > 1 else math.nan
        X[i, col["days_since_last_order"]] = last_days
        X[i, col["usual_gap_days"]] = gap
        X[i, col["overdue_ratio"]] = last_days / max(gap, 1.0) if count > 1 else math.nan
        X[i, col["orders_90d"]] = o90 or 0
        X[i, col["orders_prev_90d"]] = prev90 or 0
        X[i, col["orders_365d"]] = o365 or 0
        X[i, col["spend_365d"]] = float(s365 or 0)
        X[i, col["average_order"]] = float(total or 0) / count
        X[i, col["tenure_days"]] = first_days
        for name in ("conversations_90d", "escalations_90d", "complaints_30d"):
            X[i, col[name]] = 0
        X[i, col["unhappy_messages_90d"]] = 0

    def add(name: str, query: Any) -> None:
        for cid, n in session.execute(query):
            if int(cid) in index:
                X[index[int(cid)], col[name]] = n or 0

    recent = (Conversation.created_at >= d90) & (Conversation.created_at < cutoff)
    add(
        "conversations_90d",
        select(Conversation.customer_id, func.count())
        .where(recent)
        .group_by(Conversation.customer_id),
    )
    add(
        "escalations_90d",
        select(Conversation.customer_id, func.count())
        .where(recent, Conversation.escalated_at.is_not(None))
        .group_by(Conversation.customer_id),
    )
    add(
        "complaints_30d",
        select(Message.customer_id, func.count())
        .where(
            Message.created_at >= d30,
            Message.created_at < cutoff,
            Message.direction == Direction.inbound,
            Message.intent == "complaint",
        )
        .group_by(Message.customer_id),
    )
    add(
        "unhappy_messages_90d",
        select(Message.customer_id, func.count())
        .where(
            Message.created_at >= d90,
            Message.created_at < cutoff,
            Message.direction == Direction.inbound,
            Message.sentiment_score <= UNHAPPY,
        )
        .group_by(Message.customer_id),
    )
    csat_last_at: dict[int, dt.datetime] = {}
    sums: dict[int, list[int]] = {}
    for cid, kind, score, at in session.execute(
        select(
            SurveyResponse.customer_id,
            SurveyResponse.kind,
            SurveyResponse.score,
            SurveyResponse.answered_at,
        )
        .where(
            SurveyResponse.status == SurveyStatus.answered,
            SurveyResponse.answered_at < cutoff,
            SurveyResponse.kind.in_((SurveyKind.csat, SurveyKind.nps)),
        )
        .order_by(SurveyResponse.answered_at)
    ):
        row = index.get(int(cid))
        if row is None or score is None or at is None:
            continue
        i = row
        if kind is SurveyKind.csat:
            X[i, col["csat_last"]] = score
            csat_last_at[int(cid)] = as_utc(at)
            sums.setdefault(int(cid), []).append(score)
        else:
            X[i, col["nps_last"]] = score
    for cid, scores in sums.items():
        X[index[cid], col["csat_average"]] = sum(scores) / len(scores)
    return Features(ids, X, csat_last_at)


def churn_labels(
    session: Session, ids: np.ndarray, cutoff: dt.datetime, horizon_days: int
) -> np.ndarray:
    """1 = no order in the ``horizon_days`` after ``cutoff``."""
    bought = {
        int(cid)
        for (cid,) in session.execute(
            select(Order.customer_id)
            .where(
                Order.ordered_at >= cutoff,
                Order.ordered_at < cutoff + dt.timedelta(days=horizon_days),
                Order.status != OrderStatus.cancelled,
            )
            .distinct()
        )
    }
    return np.array([0 if int(cid) in bought else 1 for cid in ids.tolist()], dtype=np.int8)


@dataclass
class ChurnModel:
    model: BlendModel
    calibration: IsotonicRegression
    reference: np.ndarray  # a typical retained customer's features (medians)
    auc_out_of_fold: float
    trained_on: int
    churn_rate: float

    def probability(self, X: np.ndarray) -> np.ndarray:
        raw = self.model.predict_proba(X)[:, 1]
        result: np.ndarray = np.clip(self.calibration.predict(raw), 0.0, 1.0)
        return result


def train(session: Session, *, horizon_days: int, now: dt.datetime, seed: int = 0) -> ChurnModel:
    cutoff = now - dt.timedelta(days=horizon_days)
    features = build_features(session, cutoff)
    y = churn_labels(session, features.customer_ids, cutoff, horizon_days)
    n, positives = len(y), int(y.sum())
    if n < MIN_TRAINING_CUSTOMERS or min(positives, n - positives) < 10:
        raise NotEnoughHistory(
            f"{n} customers ordered before {cutoff.date()}, {positives} of them churned: "
            f"at least {MIN_TRAINING_CUSTOMERS} customers and 10 of each kind are needed"
        )
    categorical = [False] * len(FEATURES)
    X = features.X
    if n > TRAIN_SAMPLE:  # a large sample learns the same model in a fraction of the time
        keep = np.random.default_rng(seed).choice(n, TRAIN_SAMPLE, replace=False)
        X, y = X[keep], y[keep]
    oof = np.zeros(len(y))
    folds = StratifiedKFold(n_splits=3, shuffle=True, random_state=seed)
    for tr, te in folds.split(X, y):
        oof[te] = BlendModel(categorical, seed).fit(X[tr], y[tr]).predict_proba(X[te])[:, 1]
    calibration = IsotonicRegression(out_of_bounds="clip", y_min=0.0, y_max=1.0).fit(oof, y)
    model = BlendModel(categorical, seed).fit(X, y)
    retained = X[y == 0]
    with warnings.catch_warnings():  # a feature nobody has (e.g. NPS) stays missing
        warnings.simplefilter("ignore", RuntimeWarning)
        reference = np.nanmedian(retained if len(retained) else X, axis=0)
    return ChurnModel(
        model=model,
        calibration=calibration,
        reference=reference,
        auc_out_of_fold=float(roc_auc_score(y, oof)),
        trained_on=n,
        churn_rate=positives / n,
    )


def _days(value: float) -> str:
    days = round(value)
    return "1 day" if days == 1 else f"{days} days"


def describe(group: str, row: np.ndarray, csat_at: dt.datetime | None, now: dt.datetime) -> str:
    """One reason in words, from the customer's own feature values."""
    v = {name: row[i] for i, name in enumerate(FEATURES)}
    match group:
        case "recency":
            text = f"no order for {_days(v['days_since_last_order'])}"
            if not math.isnan(v["usual_gap_days"]):
                text += f", usually every {_days(max(v['usual_gap_days'], 1))}"
            return text
        case "frequency":
            return (
                f"{int(v['orders_90d'])} orders in the last 90 days, "
                f"{int(v['orders_prev_90d'])} in the 90 before"
            )
        case "spend":
            return (
                f"spent {v['spend_365d']:.2f} in the last year "
                f"(average order {v['average_order']:.2f})"
            )
        case "tenure":
            return f"a customer for {_days(v['tenure_days'])}"
        case "complaints":
            complaints = int(v["complaints_30d"])
            if complaints:
                return f"{complaints} complaint{'s' if complaints != 1 else ''} this month"
            return f"{int(v['escalations_90d'])} conversations handed to an agent in 90 days"
        case "unhappy":
            return f"{int(v['unhappy_messages_90d'])} unhappy messages in 90 days"
        case "csat":
            if math.isnan(v["csat_last"]):
                return "never answered a satisfaction survey"
            when = ""
            if csat_at is not None:
                age = (now - csat_at).days
                when = (
                    " this week" if age < 7 else " last week" if age < 14 else f" {_days(age)} ago"
                )
            return f"CSAT {int(v['csat_last'])}{when}"
        case _:
            if math.isnan(v["nps_last"]):
                return "no NPS answer"
            score = int(v["nps_last"])
            kind = "detractor" if score <= 6 else "passive" if score <= 8 else "promoter"
            return f"NPS {score} ({kind})"


def reasons(
    model: ChurnModel,
    features: Features,
    probability: np.ndarray,
    now: dt.datetime,
    *,
    at_least: float = 0.0,
) -> list[list[str]]:
    """The top three reasons for each customer at or above ``at_least`` (the others are not
    at risk and get none): the feature groups whose typical values would lower the
    probability most."""
    out: list[list[str]] = [[] for _ in range(len(features.customer_ids))]
    risky = np.flatnonzero(probability >= at_least)
    if len(risky) == 0:
        return out
    X = features.X[risky]
    drops = np.zeros((len(risky), len(GROUPS)))
    for g, names in enumerate(GROUPS.values()):
        changed = X.copy()
        for name in names:
            j = FEATURES.index(name)
            changed[:, j] = model.reference[j]
        drops[:, g] = probability[risky] - model.probability(changed)
    groups = list(GROUPS)
    ids = features.customer_ids.tolist()
    for k, i in enumerate(risky.tolist()):
        cid = ids[i]
        order = np.argsort(-drops[k])
        chosen = [groups[g] for g in order[:3] if drops[k, g] > 0.005]
        out[i] = [
            describe(g, features.X[i], features.csat_last_at.get(int(cid)), now) for g in chosen
        ]
    return out


def risk_level(probability: float, *, medium: float, high: float) -> ChurnRisk:
    return (
        ChurnRisk.high
        if probability >= high
        else ChurnRisk.medium
        if probability >= medium
        else ChurnRisk.low
    )


@dataclass(frozen=True)
class ChurnResult:
    customers: int
    levels: dict[str, int]
    changes: int
    auc_out_of_fold: float | None
    trained_on: int
    churn_rate: float | None
    seconds: float
    skipped: str | None = None


def score_churn(
    session: Session,
    *,
    horizon_days: int = 90,
    medium: float = 0.3,
    high: float = 0.6,
    now: dt.datetime | None = None,
) -> ChurnResult:
    """Retrain on the shop's history, then score every customer who ordered; store
    probability, risk level and reasons, and record level changes as events."""
    started = time.perf_counter()
    now = now or utcnow()
    try:
        model = train(session, horizon_days=horizon_days, now=now)
    except NotEnoughHistory as exc:
        log.info("crm.churn.skipped reason=%s", exc)
        return ChurnResult(0, {}, 0, None, 0, None, time.perf_counter() - started, str(exc))
    features = build_features(session, now)
    probability = model.probability(features.X)
    why = reasons(model, features, probability, now, at_least=medium)
    current = {
        int(cid): (risk, attrs)
        for cid, risk, attrs in session.execute(
            select(Customer.id, Customer.churn_risk, Customer.attributes)
        )
    }
    levels: dict[str, int] = {}
    events: list[dict[str, Any]] = []

    def rows() -> Iterator[dict[str, Any]]:
        for i, cid in enumerate(features.customer_ids.tolist()):
            p = float(probability[i])
            level = risk_level(p, medium=medium, high=high)
            levels[level.value] = levels.get(level.value, 0) + 1
            before, old_attributes = current.get(cid, (None, None))
            if before != level and not (before is None and level is ChurnRisk.low):
                events.append(
                    {
                        "customer_id": cid,
                        "kind": "churn_risk_changed",
                        "data": {
                            "from": before.value if before else None,
                            "to": level.value,
                            "probability": round(p, 4),
                        },
                        "created_at": now,
                    }
                )
            yield {
                "id": cid,
                "churn_probability": round(p, 4),
                "churn_risk": level,
                "attributes": {**(old_attributes or {}), "churn_reasons": why[i]},
                "scored_at": now,
            }

    bulk_update(session, Customer, rows())
    if events:
        session.execute(insert(CustomerEvent), events)
    result = ChurnResult(
        len(features.customer_ids),
        levels,
        len(events),
        model.auc_out_of_fold,
        model.trained_on,
        model.churn_rate,
        time.perf_counter() - started,
    )
    log.info(
        "crm.churn.scored customers=%d changes=%d auc_oof=%.3f seconds=%.1f",
        result.customers,
        result.changes,
        model.auc_out_of_fold,
        result.seconds,
    )
    return result

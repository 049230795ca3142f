"""Churn early warning trained on the shop's own history, with reasons in words: label,
features, model, risk levels and reasons as docs/customer-value.md ("Churn early warning")
describes them."""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections import Counter
from dataclasses import dataclass
from typing import Any, cast

import numpy as np
import polars as pl
from sqlalchemy import JSON, BigInteger, Column, String, Table, func, insert, literal, select
from sqlalchemy import cast as sql_cast
from sqlalchemy.orm import Session

from crm.db import UTCDateTime, as_utc, staged_rows, utcnow
from crm.models import (
    ChurnRisk,
    Conversation,
    Customer,
    CustomerEvent,
    Direction,
    Message,
    SurveyKind,
    SurveyResponse,
    SurveyStatus,
)
from crm.scoring.history import OrderHistory, ScoreWrites, epoch, store_scores
from crm.scoring.model import ChurnModel, fit_churn_model
from crm.scoring.reasons import top_reasons

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
MIN_TRAINING_CUSTOMERS = 50
UNHAPPY = -0.3
EVENTS = cast(Table, CustomerEvent.__table__)


class NotEnoughHistory(RuntimeError):
    """The shop's history cannot train a churn model yet."""


@dataclass
class Features:
    customer_ids: np.ndarray
    X: np.ndarray
    csat_last_at: dict[int, dt.datetime]


def build_features(
    session: Session, cutoff: dt.datetime, history: OrderHistory | None = None
) -> Features:
    """Features of every customer who ordered before ``cutoff``, from data before it
    (``history``: the shop's orders, read when not given; it may reach past the cut-off)."""
    d90, d365, d180, d30 = (cutoff - dt.timedelta(days=n) for n in (90, 365, 180, 30))
    if history is None:
        history = OrderHistory.load(session, until=cutoff)
    orders = history.before(cutoff)
    groups = orders.groups()
    ids = groups.ids
    index = {cid: i for i, cid in enumerate(ids.tolist())}
    X = np.full((len(ids), len(FEATURES)), np.nan)
    col = {name: i for i, name in enumerate(FEATURES)}
    times, now_s = orders.at, epoch(cutoff)

    def since(moment: dt.datetime, until: dt.datetime = cutoff) -> np.ndarray:
        inside = (times >= epoch(moment)) & (times < epoch(until))
        return groups.total(inside.astype(np.float64))

    count = groups.count.astype(np.float64)
    first_days = (now_s - groups.first(times)) / 86400
    last_days = (now_s - groups.last(times)) / 86400
    with np.errstate(divide="ignore", invalid="ignore"):
        gap = np.where(count > 1, (first_days - last_days) / (count - 1), np.nan)
        overdue = np.where(count > 1, last_days / np.maximum(gap, 1.0), np.nan)
    X[:, col["days_since_last_order"]] = last_days
    X[:, col["usual_gap_days"]] = gap
    X[:, col["overdue_ratio"]] = overdue
    X[:, col["orders_90d"]] = since(d90)
    X[:, col["orders_prev_90d"]] = since(d180, d90)
    X[:, col["orders_365d"]] = since(d365)
    X[:, col["spend_365d"]] = groups.total(np.where(times >= epoch(d365), orders.amount, 0.0))
    X[:, col["average_order"]] = groups.total(orders.amount) / count
    X[:, col["tenure_days"]] = first_days
    for name in ("conversations_90d", "escalations_90d", "complaints_30d", "unhappy_messages_90d"):
        X[:, col[name]] = 0

    def tally(name: str, customer: Any, *where: Any) -> None:
        for cid, n in session.execute(
            select(customer, func.count()).where(*where).group_by(customer)
        ):
            if int(cid) in index:
                X[index[int(cid)], col[name]] = n

    recent = (Conversation.created_at >= d90) & (Conversation.created_at < cutoff)
    tally("conversations_90d", Conversation.customer_id, recent)
    escalated = Conversation.escalated_at.is_not(None)
    tally("escalations_90d", Conversation.customer_id, recent, escalated)
    inbound = (Message.created_at < cutoff) & (Message.direction == Direction.inbound)
    complaint = (Message.created_at >= d30) & (Message.intent == "complaint")
    tally("complaints_30d", Message.customer_id, inbound, complaint)
    unhappy = (Message.created_at >= d90) & (Message.sentiment_score <= UNHAPPY)
    tally("unhappy_messages_90d", Message.customer_id, inbound, unhappy)
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
        if kind is SurveyKind.csat:
            X[row, col["csat_last"]] = score
            csat_last_at[int(cid)] = as_utc(at)
            sums.setdefault(int(cid), []).append(score)
        else:
            X[row, col["nps_last"]] = score
    for cid, scores in sums.items():
        X[index[cid], col["csat_average"]] = sum(scores) / len(scores)
    return Features(ids, X, csat_last_at)


def churn_labels(
    session: Session,
    ids: np.ndarray,
    cutoff: dt.datetime,
    horizon_days: int,
    history: OrderHistory | None = None,
) -> np.ndarray:
    """1 = no order in the ``horizon_days`` after ``cutoff``."""
    end = cutoff + dt.timedelta(days=horizon_days)
    if history is None:
        history = OrderHistory.load(session, until=end)
    bought = history.customers_between(cutoff, end)
    labels: np.ndarray = (~np.isin(ids, bought)).astype(np.int8)
    return labels


def train(
    session: Session,
    *,
    horizon_days: int,
    now: dt.datetime,
    seed: int = 0,
    history: OrderHistory | None = None,
) -> ChurnModel:
    """Learn from the cut-off ``now - horizon``: features before it, labels after it."""
    cutoff = now - dt.timedelta(days=horizon_days)
    if history is None:
        history = OrderHistory.load(session, until=now)
    features = build_features(session, cutoff, history)
    y = churn_labels(session, features.customer_ids, cutoff, horizon_days, history)
    n, positives = len(y), int(y.sum())
    if n < MIN_TRAINING_CUSTOMERS or min(positives, n - positives) < 10:
        raise NotEnoughHistory(
            f"{n} customers ordered before {cutoff.date()}, {positives} of them churned: "
            f"at least {MIN_TRAINING_CUSTOMERS} customers and 10 of each kind are needed"
        )
    return fit_churn_model(features.X, y, seed=seed)


def risk_levels(probability: np.ndarray, *, medium: float, high: float) -> list[str]:
    """The risk level (``ChurnRisk`` value) of each probability."""
    levels = [ChurnRisk.high.value, ChurnRisk.medium.value]
    chosen = np.select([probability >= high, probability >= medium], levels, ChurnRisk.low.value)
    return cast(list[str], chosen.tolist())


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
    history: OrderHistory | None = None,
    pending: ScoreWrites | None = None,
) -> ChurnResult:
    """Retrain on the shop's history, then score every customer who ordered; store
    probability, risk level and reasons, and record level changes as events.
    ``history`` (the orders up to ``now``) is read when not given.
    With ``pending``, the scores are added there and written later with the other steps'."""
    started = time.perf_counter()
    now = now or utcnow()
    history = history if history is not None else OrderHistory.load(session, until=now)
    try:
        model = train(session, horizon_days=horizon_days, now=now, history=history)
    except NotEnoughHistory as exc:
        log.info("crm.churn.skipped reason=%s", exc)
        return ChurnResult(0, {}, 0, None, 0, None, time.perf_counter() - started, str(exc))
    features = build_features(session, now, history)
    log_odds = model.model.log_odds(features.X)
    probability = np.round(model.calibrated(log_odds), 4)
    why = top_reasons(model, features, FEATURES, probability, now, medium, log_odds)
    level = risk_levels(probability, medium=medium, high=high)
    levels = dict(Counter(level))
    # A level change is an event (a first level only when it is not low), its data laid
    # out as JSON by polars and moved on through a staging table (a first scoring changes
    # every level).
    stored = select(Customer.id, sql_cast(Customer.churn_risk, String))
    before = session.execute(stored.where(Customer.churn_risk.is_not(None))).all()
    old = pl.DataFrame(before, schema={"customer_id": pl.Int64, "from": pl.String}, orient="row")
    scored = pl.DataFrame(
        {"customer_id": features.customer_ids, "to": level, "probability": probability}
    ).join(old, on="customer_id", how="left")
    changed = pl.col("from").ne_missing(pl.col("to")) & (
        pl.col("from").is_not_null() | (pl.col("to") != ChurnRisk.low.value)
    )
    changes = scored.filter(changed).select(
        "customer_id", pl.struct("from", "to", "probability").struct.json_encode()
    )
    scores = {
        "churn_probability": probability.tolist(),
        "churn_risk": level,
        "churn_reasons": why,  # (JSON text)
    }
    store_scores(session, pending, features.customer_ids, scores, constants={"scored_at": now})
    staged = [Column("customer_id", BigInteger), Column("data", JSON)]
    connection = session.connection()
    rows = changes.iter_rows()
    with staged_rows(connection, "careloop_level_changes", staged, rows) as temp:
        kind = literal("churn_risk_changed").label("kind")
        at = literal(now, UTCDateTime()).label("created_at")
        moved = select(temp.c.customer_id, temp.c.data, kind, at)
        connection.execute(
            insert(EVENTS).from_select(["customer_id", "data", "kind", "created_at"], moved)
        )
    result = ChurnResult(
        len(features.customer_ids),
        levels,
        changes.height,
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

"""Churn reasons: stored as codes with the customer's own values (null: a value the
customer does not have), worded when read by ``describe`` (docs/customer-value.md)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from functools import partial
from typing import TYPE_CHECKING, Any

import numpy as np
import polars as pl

if TYPE_CHECKING:
    from crm.scoring.churn import Features
    from crm.scoring.model import ChurnModel

Reason = dict[str, Any]
Values = Sequence[float] | np.ndarray
# Features that make one reason: moved together to a typical retained customer's values.
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


def _whole(values: Values) -> pl.Series:
    """Rounded half to even, as ``round`` does; null where missing."""
    rounded = np.rint(np.asarray(values, dtype=np.float64))
    return pl.Series(rounded).fill_nan(None).cast(pl.Int64)


def _coded(code: str | pl.Expr, **columns: pl.Series) -> pl.DataFrame:
    """One reason per row: ``code`` (a constant, or an expression over ``columns``), then
    ``columns`` (``value`` first)."""
    code = pl.lit(code) if isinstance(code, str) else code
    return pl.DataFrame(columns).select(code.alias("code"), *columns)


def entries(
    group: str,
    column: Callable[[str], Values],
    csat_days: Sequence[int | None],
) -> pl.DataFrame:
    """The reason ``group`` as codes and values, one row per customer (``column(name)``: the
    customers' values of a feature; ``csat_days``: days since their last CSAT answer).
    A value the customer does not have is null."""
    match group:
        case "recency":
            return _coded(
                "days_since_last_order",
                value=_whole(column("days_since_last_order")),
                usual_gap_days=_whole(column("usual_gap_days")).clip(lower_bound=1),
            )
        case "frequency":
            return _coded(
                "orders_90d",
                value=_whole(column("orders_90d")),
                orders_prev_90d=_whole(column("orders_prev_90d")),
            )
        case "spend":
            spend, average = (pl.Series(column(name)).round(2) for name in GROUPS["spend"])
            return _coded("spend_365d", value=spend, average_order=average)
        case "complaints":
            complaints = _whole(column("complaints_30d")).fill_null(0)
            escalations = _whole(column("escalations_90d"))
            some = pl.col("complaints") > 0
            named = (
                pl.when(some).then(pl.lit("complaints_30d")).otherwise(pl.lit("escalations_90d"))
            )
            value = pl.when(some).then("complaints").otherwise("escalations")
            frame = pl.DataFrame({"complaints": complaints, "escalations": escalations})
            return frame.select(named.alias("code"), value.alias("value"))
        case "csat":
            score = _whole(column("csat_last"))
            days = pl.Series(csat_days, dtype=pl.Int64)
            return _coded("csat_last", value=score, days_ago=days).with_columns(
                pl.when(pl.col("value").is_not_null()).then(pl.col("days_ago")).alias("days_ago")
            )
        case _:  # one feature: tenure_days, unhappy_messages_90d, nps_last
            code = {"tenure": "tenure_days", "unhappy": "unhappy_messages_90d"}.get(group)
            code = code or "nps_last"
            return _coded(code, value=_whole(column(code)))


def encoded(reasons: pl.DataFrame) -> pl.Series:
    """Each row of ``reasons`` (``entries``) as the JSON object stored."""
    return reasons.select(pl.struct(pl.all()).struct.json_encode()).to_series()


def top_reasons(
    model: ChurnModel,
    features: Features,
    names: Sequence[str],
    probability: np.ndarray,
    now: dt.datetime,
    at_least: float = 0.0,
    log_odds: np.ndarray | None = None,
) -> list[str | None]:
    """The top three reasons for each customer at or above ``at_least`` (the others are not
    at risk: None), as the JSON text stored: the feature groups whose typical values would
    lower the probability most, as codes with the customer's values, in the order of their
    drops. (``names``: the features' names, in ``features.X``'s column order;
    ``log_odds``: the blend's, of every customer, when known.)"""
    out = np.full(len(features.customer_ids), None, dtype=object)
    risky = np.flatnonzero(probability >= at_least)
    if len(risky) == 0:
        return list(out)
    X = features.X[risky]
    log_odds = model.model.log_odds(X) if log_odds is None else log_odds[risky]
    base = probability[risky]
    drops = np.zeros((len(risky), len(GROUPS)))
    for g, members in enumerate(GROUPS.values()):
        columns = [names.index(name) for name in members]
        reference = model.reference[columns]
        # Customers already at the typical values (e.g. no complaints) lose nothing: only
        # the others are predicted again.
        same = np.all(
            (X[:, columns] == reference) | (np.isnan(X[:, columns]) & np.isnan(reference)),
            axis=1,
        )
        rows = np.flatnonzero(~same)
        if len(rows) == 0:
            continue
        changed = model.model.log_odds_with(X[rows], log_odds[rows], columns, reference)
        drops[rows, g] = base[rows] - model.calibrated(changed)
    # The top three groups by drop, those that lower it noticeably (a prefix of each row;
    # -1: none).
    top = np.argsort(-drops, axis=1, kind="stable")[:, :3]
    top = np.where(np.take_along_axis(drops, top, axis=1) > 0.005, top, -1)
    # Each group's reasons as JSON text, for the customers it is a top reason of, laid out
    # by polars (a Python object per reason cost 13.7 s at a million customers, against
    # 7.7 s for the text); then each customer's list, in rank order.
    text = {}
    for g, group in enumerate(GROUPS):
        rows = np.flatnonzero((top == g).any(axis=1))
        days: list[int | None] = [None] * len(rows)
        if group == "csat":
            ids = features.customer_ids[risky[rows]].tolist()
            days = [
                None if (a := features.csat_last_at.get(c)) is None else (now - a).days for c in ids
            ]
        reasons = encoded(entries(group, partial(_values, X[rows], names), days))
        empty = pl.repeat(None, len(risky), dtype=pl.String, eager=True)
        text[group] = empty.scatter(rows, reasons)
    ranks = [f"rank{r}" for r in range(top.shape[1])]
    ranked = pl.DataFrame(text).with_columns(
        pl.Series(rank, top[:, r]) for r, rank in enumerate(ranks)
    )
    at_rank = [
        pl.coalesce(
            pl.when(pl.col(rank) == g).then(pl.col(group)) for g, group in enumerate(GROUPS)
        )
        for rank in ranks
    ]
    joined = pl.concat_str(at_rank, separator=",", ignore_nulls=True)
    lists = ranked.select(pl.when(pl.col("rank0") >= 0).then(pl.format("[{}]", joined)))
    out[risky] = lists.to_series().to_numpy()
    return list(out)


def _days(value: int) -> str:
    return "1 day" if value == 1 else f"{value} days"


def _ago(days: int | None) -> str:
    if days is None:
        return ""
    return " this week" if days < 7 else " last week" if days < 14 else f" {_days(days)} ago"


def _nps_kind(score: int) -> str:
    return "detractor" if score <= 6 else "passive" if score <= 8 else "promoter"


def _values(rows: np.ndarray, names: Sequence[str], name: str) -> np.ndarray:
    return np.asarray(rows[:, names.index(name)])


def describe(reason: Reason | str) -> str:
    """A stored reason in words (a sentence stored by an earlier version: as it is)."""
    if not isinstance(reason, dict):
        return str(reason)
    value: Any = reason.get("value")
    match reason.get("code"):
        case "days_since_last_order":
            gap = reason.get("usual_gap_days")
            return f"no order for {_days(value)}" + (
                "" if gap is None else f", usually every {_days(gap)}"
            )
        case "orders_90d":
            before = reason.get("orders_prev_90d")
            return f"{value} orders in the last 90 days, {before} in the 90 before"
        case "spend_365d":
            average = reason.get("average_order", 0.0)
            return f"spent {value:.2f} in the last year (average order {average:.2f})"
        case "tenure_days":
            return f"a customer for {_days(value)}"
        case "complaints_30d":
            return f"{value} complaint{'s' if value != 1 else ''} this month"
        case "escalations_90d":
            return f"{value} conversations handed to an agent in 90 days"
        case "unhappy_messages_90d":
            return f"{value} unhappy messages in 90 days"
        case "csat_last":
            if value is None:
                return "never answered a satisfaction survey"
            return f"CSAT {value}{_ago(reason.get('days_ago'))}"
        case "nps_last":
            return "no NPS answer" if value is None else f"NPS {value} ({_nps_kind(value)})"
        case code:
            return f"{code}: {value}"


def described(stored: Sequence[Reason | str] | None) -> list[str]:
    """A customer's stored reasons in words (none stored: an empty list)."""
    return [describe(reason) for reason in stored or []]

"""Churn reasons: stored as codes with the customer's own values, worded when read.

Scoring stores each at-risk customer's top reasons as JSON objects, e.g.
``{"code": "days_since_last_order", "value": 212, "usual_gap_days": 30}``; pages, the inbox
panel, exports and the API word them with ``describe`` ("no order for 212 days, usually
every 30 days"). Reasons stored as sentences by earlier versions are shown as they are.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from collections.abc import Callable, Sequence
from functools import partial
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from crm.scoring.churn import Features
    from crm.scoring.model import ChurnModel

Reason = dict[str, Any]
CHUNK = 100_000
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


def _whole(values: list[float]) -> list[int | None]:
    """Rounded as ``round`` does; None where missing."""
    return [None if math.isnan(value) else round(value) for value in values]


def entries(
    group: str, column: Callable[[str], list[float]], csat_days: Sequence[int | None]
) -> list[Reason]:
    """The reason ``group`` as codes and values, one per customer (``column(name)``: the
    customers' values of a feature; ``csat_days``: days since their last CSAT answer)."""
    match group:
        case "recency":
            return [
                {"code": "days_since_last_order", "value": last}
                | ({} if gap is None else {"usual_gap_days": max(gap, 1)})
                for last, gap in zip(
                    _whole(column("days_since_last_order")),
                    _whole(column("usual_gap_days")),
                    strict=True,
                )
            ]
        case "frequency":
            return [
                {"code": "orders_90d", "value": recent, "orders_prev_90d": before}
                for recent, before in zip(
                    _whole(column("orders_90d")), _whole(column("orders_prev_90d")), strict=True
                )
            ]
        case "spend":
            return [
                {"code": "spend_365d", "value": round(spend, 2), "average_order": round(avg, 2)}
                for spend, avg in zip(column("spend_365d"), column("average_order"), strict=True)
            ]
        case "complaints":
            return [
                {"code": "complaints_30d", "value": n}
                if n
                else {"code": "escalations_90d", "value": escalated}
                for n, escalated in zip(
                    _whole(column("complaints_30d")), _whole(column("escalations_90d")), strict=True
                )
            ]
        case "csat":
            return [
                {"code": "csat_last", "value": score}
                | ({} if score is None or days is None else {"days_ago": days})
                for score, days in zip(_whole(column("csat_last")), csat_days, strict=True)
            ]
        case _:  # one feature: tenure_days, unhappy_messages_90d, nps_last
            code = {"tenure": "tenure_days", "unhappy": "unhappy_messages_90d"}.get(group)
            code = code or "nps_last"
            return [{"code": code, "value": value} for value in _whole(column(code))]


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
    out: list[str | None] = [None] * len(features.customer_ids)
    risky = np.flatnonzero(probability >= at_least)
    if len(risky) == 0:
        return out
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
    # The top three groups by drop, those that lower it noticeably (a prefix of each row).
    top = np.argsort(-drops, axis=1, kind="stable")[:, :3]
    chosen = np.take_along_axis(drops, top, axis=1) > 0.005
    counts = chosen.sum(axis=1)
    # Worded a chunk of customers at a time: a million customers' reasons as Python
    # objects would take a gigabyte at once.
    for lo in range(0, len(risky), CHUNK):
        part = slice(lo, lo + CHUNK)
        table = np.full(top[part].shape, None, dtype=object)
        ids = features.customer_ids[risky[part]].tolist()
        for g, group in enumerate(GROUPS):
            ks, ranks = np.nonzero((top[part] == g) & chosen[part])
            if len(ks):
                at = (
                    [features.csat_last_at.get(ids[k]) for k in ks.tolist()]
                    if group == "csat"
                    else []
                )
                days = [None if a is None else (now - a).days for a in at] or [None] * len(ks)
                cells = np.empty(len(ks), dtype=object)
                cells[:] = entries(group, partial(_values, X[part][ks], names), days)
                table[ks, ranks] = cells
        for k, row, n in zip(
            risky[part].tolist(), table.tolist(), counts[part].tolist(), strict=True
        ):
            if n:
                out[k] = json.dumps(row[:n])
    return out


def _values(rows: np.ndarray, names: Sequence[str], name: str) -> list[float]:
    values: list[float] = rows[:, names.index(name)].tolist()
    return values


def _days(value: int) -> str:
    return "1 day" if value == 1 else f"{value} days"


def _ago(days: int | None) -> str:
    if days is None:
        return ""
    return " this week" if days < 7 else " last week" if days < 14 else f" {_days(days)} ago"


def _nps_kind(score: int) -> str:
    return "detractor" if score <= 6 else "passive" if score <= 8 else "promoter"


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

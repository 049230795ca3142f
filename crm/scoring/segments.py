"""The segments report: sizes, revenue share, CLV by R and FM score, churn-risk spread."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from crm.db import utcnow
from crm.models import ChurnRisk, Customer, Order, OrderStatus
from crm.scoring.rfm import SEGMENT_NAMES

NO_ORDERS = "No orders"


def segment_report(
    session: Session, *, revenue_days: int = 365, now: dt.datetime | None = None
) -> dict[str, Any]:
    now = now or utcnow()
    since = now - dt.timedelta(days=revenue_days)
    sizes = {
        (segment or NO_ORDERS): (int(n), float(clv) if clv is not None else None)
        for segment, n, clv in session.execute(
            select(Customer.rfm_segment, func.count(), func.avg(Customer.clv)).group_by(
                Customer.rfm_segment
            )
        )
    }
    revenue = {
        (segment or NO_ORDERS): float(total or 0)
        for segment, total in session.execute(
            select(Customer.rfm_segment, func.sum(Order.total_amount))
            .join(Order, Order.customer_id == Customer.id)
            .where(Order.ordered_at >= since, Order.status != OrderStatus.cancelled)
            .group_by(Customer.rfm_segment)
        )
    }
    all_revenue = sum(revenue.values())
    risks: dict[str, dict[str, int]] = {}
    for segment, risk, n in session.execute(
        select(Customer.rfm_segment, Customer.churn_risk, func.count()).group_by(
            Customer.rfm_segment, Customer.churn_risk
        )
    ):
        level = risk.value if isinstance(risk, ChurnRisk) else "unscored"
        risks.setdefault(segment or NO_ORDERS, {})[level] = int(n)
    cells: dict[tuple[int, int], list[float]] = {}
    for score, n, clv in session.execute(
        select(Customer.rfm_score, func.count(), func.avg(Customer.clv))
        .where(Customer.rfm_score.is_not(None))
        .group_by(Customer.rfm_score)
    ):
        r, f, m = (int(ch) for ch in score)
        key = (r, (f + m + 1) // 2)
        total_n, total_clv = cells.get(key, [0.0, 0.0])
        cells[key] = [total_n + n, total_clv + float(clv or 0) * n]
    histogram = [0] * 10
    for (p,) in session.execute(
        select(Customer.churn_probability).where(Customer.churn_probability.is_not(None))
    ):
        if p is not None:
            histogram[min(int(p * 10), 9)] += 1
    order = [*SEGMENT_NAMES, NO_ORDERS]
    return {
        "revenue_days": revenue_days,
        "segments": [
            {
                "segment": name,
                "customers": sizes[name][0],
                "average_clv": _round(sizes[name][1]),
                "revenue": round(revenue.get(name, 0.0), 2),
                "revenue_share_pct": round(100 * revenue.get(name, 0.0) / all_revenue, 1)
                if all_revenue
                else None,
                "churn_risk": risks.get(name, {}),
            }
            for name in order
            if name in sizes
        ],
        "clv_heatmap": [
            {
                "r": r,
                "fm": fm,
                "customers": int(cells[(r, fm)][0]),
                "average_clv": round(cells[(r, fm)][1] / cells[(r, fm)][0], 2),
            }
            for r in range(5, 0, -1)
            for fm in range(1, 6)
            if (r, fm) in cells
        ],
        "churn_probability_histogram": [
            {"from": i / 10, "to": (i + 1) / 10, "customers": n} for i, n in enumerate(histogram)
        ],
        "churn_risk_totals": {
            level: sum(r.get(level, 0) for r in risks.values())
            for level in ("high", "medium", "low", "unscored")
        },
    }


def _round(value: float | None) -> float | None:
    return round(value, 2) if value is not None else None

"""RFM: recency, frequency and monetary scores (quintiles) and the named segments.

* **R** = days since the customer's last order (any time); **F** = orders and **M** = spend
  within the window (``CARELOOP_RFM_WINDOW_DAYS``, default 365). Cancelled orders do not
  count.
* Each becomes a score 1-5 by quintile among the customers who ever ordered:
  ``score = 1 + floor(5 * (rank - 1) / n)`` with ``rank`` the 1-based position in ascending
  order (ties share the lowest rank, so equal values get equal scores). Recent is high.
* The segment comes from R and FM = ⌈(F + M) / 2⌉ on the grid below. Customers who never
  ordered have no segment.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections import Counter
from dataclasses import dataclass

import numpy as np
from scipy.stats import rankdata
from sqlalchemy import case, func, select, update
from sqlalchemy.orm import Session

from crm.db import as_utc, bulk_update, utcnow
from crm.models import Customer, Order, OrderStatus

log = logging.getLogger(__name__)

# SEGMENTS[r][fm]: rows are R (5 = ordered most recently), columns FM 1..5.
SEGMENTS: dict[int, tuple[str, str, str, str, str]] = {
    5: ("New", "Potential loyalist", "Potential loyalist", "Champions", "Champions"),
    4: ("Promising", "Potential loyalist", "Potential loyalist", "Loyal", "Loyal"),
    3: ("About to sleep", "About to sleep", "Need attention", "Loyal", "Loyal"),
    2: ("Hibernating", "Hibernating", "At risk", "At risk", "Can't lose"),
    1: ("Lost", "Hibernating", "At risk", "At risk", "Can't lose"),
}
SEGMENT_NAMES = tuple(dict.fromkeys(name for row in SEGMENTS.values() for name in row))


def quintile_scores(values: np.ndarray) -> np.ndarray:
    """Scores 1-5 by quintile, higher values score higher; ties score alike."""
    n = len(values)
    if n == 0:
        return np.zeros(0, dtype=np.int8)
    ranks = np.asarray(rankdata(values, method="min"), dtype=np.float64)
    scores: np.ndarray = (1 + np.floor(5 * (ranks - 1) / n)).astype(np.int8)
    return scores


def segment(r: int, f: int, m: int) -> str:
    """The named segment of an R, F, M score triple (each 1-5)."""
    return SEGMENTS[r][(f + m + 1) // 2 - 1]


@dataclass(frozen=True)
class RfmResult:
    customers: int
    segments: dict[str, int]
    seconds: float


def score_rfm(
    session: Session, *, window_days: int = 365, now: dt.datetime | None = None
) -> RfmResult:
    """Score every customer who ever ordered; store ``rfm_score`` ("RFM" digits),
    ``rfm_segment`` and ``scored_at``. One aggregate query and bulk updates."""
    started = time.perf_counter()
    now = now or utcnow()
    since = now - dt.timedelta(days=window_days)
    in_window = Order.ordered_at >= since
    rows = session.execute(
        select(
            Order.customer_id,
            func.max(Order.ordered_at),
            func.sum(case((in_window, 1), else_=0)),
            func.sum(case((in_window, Order.total_amount), else_=0)),
        )
        .where(Order.status != OrderStatus.cancelled)
        .group_by(Order.customer_id)
    ).all()
    ids = np.array([r[0] for r in rows], dtype=np.int64)
    recency_days = np.array(
        [(now - as_utc(r[1])).total_seconds() / 86400 for r in rows], dtype=np.float64
    )
    frequency = np.array([int(r[2] or 0) for r in rows], dtype=np.float64)
    monetary = np.array([float(r[3] or 0) for r in rows], dtype=np.float64)
    r_scores = quintile_scores(-recency_days)
    f_scores = quintile_scores(frequency)
    m_scores = quintile_scores(monetary)
    r_list, f_list, m_list = r_scores.tolist(), f_scores.tolist(), m_scores.tolist()
    names = [segment(r, f, m) for r, f, m in zip(r_list, f_list, m_list, strict=True)]
    counts = Counter(names)
    bulk_update(
        session,
        Customer,
        (
            {"id": cid, "rfm_score": f"{r}{f}{m}", "rfm_segment": name, "scored_at": now}
            for cid, r, f, m, name in zip(ids.tolist(), r_list, f_list, m_list, names, strict=True)
        ),
    )
    # Customers whose orders are all gone (or cancelled) lose their segment.
    session.execute(
        update(Customer)
        .where(
            Customer.rfm_segment.is_not(None),
            ~Customer.id.in_(
                select(Order.customer_id).where(Order.status != OrderStatus.cancelled)
            ),
        )
        .values(rfm_segment=None, rfm_score=None, scored_at=now)
    )
    result = RfmResult(len(ids), dict(counts), time.perf_counter() - started)
    log.info("crm.rfm.scored customers=%d seconds=%.1f", result.customers, result.seconds)
    return result

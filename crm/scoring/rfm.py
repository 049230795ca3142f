"""RFM: recency, frequency and monetary scores (quintiles) and the named segments, as
docs/customer-value.md ("RFM") defines them."""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections import Counter
from dataclasses import dataclass

import numpy as np
from scipy.stats import rankdata
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from crm.db import utcnow
from crm.models import Customer
from crm.scoring.history import OrderHistory, ScoreWrites, epoch, store_scores

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
    ranks = rankdata(values, method="min")
    return np.asarray(1 + (5 * (ranks - 1)) // max(len(values), 1), dtype=np.int8)


def segment(r: int, f: int, m: int) -> str:
    """The named segment of an R, F, M score triple (each 1-5)."""
    return SEGMENTS[r][(f + m + 1) // 2 - 1]


@dataclass(frozen=True)
class RfmResult:
    customers: int
    segments: dict[str, int]
    seconds: float


def score_rfm(
    session: Session,
    *,
    window_days: int = 365,
    now: dt.datetime | None = None,
    history: OrderHistory | None = None,
    pending: ScoreWrites | None = None,
) -> RfmResult:
    """Score every customer who ever ordered; store ``rfm_score`` ("RFM" digits),
    ``rfm_segment`` and ``scored_at``. ``history`` (the orders up to ``now``) is read
    when not given.
    With ``pending``, the scores are added there and written later with the other steps'."""
    started = time.perf_counter()
    now = now or utcnow()
    history = history if history is not None else OrderHistory.load(session, until=now)
    groups = history.groups()
    in_window = history.at >= epoch(now - dt.timedelta(days=window_days))
    recency_days = (epoch(now) - groups.last(history.at)) / 86400
    frequency = groups.total(in_window.astype(np.float64))
    monetary = groups.total(np.where(in_window, history.amount, 0.0))
    r, f, m = quintile_scores(-recency_days), quintile_scores(frequency), quintile_scores(monetary)
    # Each of the 125 score triples is worded once; a customer's is looked up by its code.
    code = (r.astype(np.int64) - 1) * 25 + (f - 1) * 5 + (m - 1)
    triples = [(a, b, c) for a in range(1, 6) for b in range(1, 6) for c in range(1, 6)]
    names = np.array([segment(*t) for t in triples], dtype=object)[code].tolist()
    digits = np.array([f"{a}{b}{c}" for a, b, c in triples], dtype=object)[code].tolist()
    # Customers whose orders are all gone (or cancelled) lose their segment.
    segmented = session.connection().execute(
        select(Customer.id).where(Customer.rfm_segment.is_not(None))
    )
    had = np.array(segmented.cursor.fetchall(), dtype=np.int64).reshape(-1)
    lost = np.setdiff1d(had, groups.ids).tolist()
    for start in range(0, len(lost), 500):
        session.execute(
            update(Customer)
            .where(Customer.id.in_(lost[start : start + 500]))
            .values(rfm_segment=None, rfm_score=None, scored_at=now)
        )
    scores = {"rfm_score": digits, "rfm_segment": names}
    store_scores(session, pending, groups.ids, scores, constants={"scored_at": now})
    result = RfmResult(len(groups.ids), dict(Counter(names)), time.perf_counter() - started)
    log.info("crm.rfm.scored customers=%d seconds=%.1f", result.customers, result.seconds)
    return result

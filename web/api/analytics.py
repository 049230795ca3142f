"""Analytics API (marketers and admins): satisfaction over time, by agent and topic."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Depends, Query

from crm.db import utcnow
from crm.models import Role, User
from crm.scoring.schemas import SegmentReport
from crm.scoring.segments import segment_report
from crm.surveys import analytics
from crm.surveys.schemas import SatisfactionReport
from web.auth import require_roles
from web.deps import SessionDep, SettingsDep, report_period
from web.errors import STAFF, error_responses

router = APIRouter(
    prefix="/api/v1/analytics", tags=["analytics"], responses=error_responses(*STAFF)
)
AnalystUser = Annotated[User, Depends(require_roles(Role.marketer))]


@router.get("/satisfaction")
def satisfaction(
    session: SessionDep,
    settings: SettingsDep,
    user: AnalystUser,
    start: Annotated[dt.date | None, Query(description="first day (default: 90 days ago)")] = None,
    end: Annotated[dt.date | None, Query(description="last day, included (default: today)")] = None,
    bucket: Annotated[str, Query(description="day, week or month")] = "week",
) -> SatisfactionReport:
    """CSAT %, NPS and CES with distributions, response rates, trends by bucket, CSAT by
    agent and by topic (escalation reason or intent), and churn by CSAT band."""
    start, end = report_period(start, end, today=utcnow().date(), days=90)
    return SatisfactionReport.model_validate(
        analytics.satisfaction_report(
            session,
            start=start,
            end=end,
            bucket=bucket,
            churn_days=settings.satisfaction_churn_days,
        )
    )


@router.get("/segments")
def segments(session: SessionDep, user: AnalystUser) -> SegmentReport:
    """Segment sizes, average CLV, revenue share (last 365 days) and churn-risk levels per
    RFM segment; average CLV on the R x FM grid; the churn-probability histogram."""
    return SegmentReport.model_validate(segment_report(session))

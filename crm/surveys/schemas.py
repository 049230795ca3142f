"""Response model of the satisfaction report (``/api/v1/analytics/satisfaction``)."""

from __future__ import annotations

import datetime as dt

from pydantic import Field

from crm.schemas import ReadModel


class Period(ReadModel):
    start: dt.date
    end: dt.date
    bucket: str


class ScoreSummary(ReadModel):
    responses: int
    average: float | None
    distribution: dict[str, int] = Field(description="answers per score")
    csat_pct: float | None = Field(default=None, description="CSAT only")
    nps: float | None = Field(default=None, description="NPS only")
    promoters: int | None = Field(default=None, description="NPS only")
    passives: int | None = Field(default=None, description="NPS only")
    detractors: int | None = Field(default=None, description="NPS only")


class ResponseRate(ReadModel):
    asked: int
    answered: int
    rate_pct: float | None


class OverTime(ReadModel):
    bucket: dt.date
    csat_responses: int
    csat_pct: float | None
    nps_responses: int
    nps: float | None
    ces_average: float | None


class ByAgent(ReadModel):
    agent_id: int | None
    agent: str
    responses: int
    csat_pct: float | None
    average: float | None


class ByTopic(ReadModel):
    topic: str
    responses: int
    csat_pct: float | None
    average: float | None


class ChurnBand(ReadModel):
    band: str
    customers: int
    observed: int
    churned: int
    churn_rate_pct: float | None
    avg_churn_probability: float | None


class SatisfactionReport(ReadModel):
    period: Period
    csat: ScoreSummary
    nps: ScoreSummary
    ces: ScoreSummary
    response_rate: dict[str, ResponseRate]
    over_time: list[OverTime]
    by_agent: list[ByAgent]
    by_topic: list[ByTopic]
    churn_by_csat: list[ChurnBand]
    churn_days: int = Field(
        description="A customer churned when no order followed within this many days."
    )
    follow_ups: int

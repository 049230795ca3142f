"""Response model of the segments report (``/api/v1/analytics/segments``)."""

from __future__ import annotations

from pydantic import Field

from crm.schemas import ReadModel


class SegmentRow(ReadModel):
    segment: str
    customers: int
    average_clv: float | None
    revenue: float
    revenue_share_pct: float | None
    churn_risk: dict[str, int] = Field(description="customers per churn-risk level")


class HeatmapCell(ReadModel):
    r: int
    fm: int
    customers: int
    average_clv: float


class HistogramBin(ReadModel):
    low: float = Field(alias="from")
    to: float
    customers: int


class SegmentReport(ReadModel):
    revenue_days: int
    segments: list[SegmentRow]
    clv_heatmap: list[HeatmapCell]
    churn_probability_histogram: list[HistogramBin]
    churn_risk_totals: dict[str, int]

"""Response model of the import API (``/api/v1/imports/{kind}``)."""

from __future__ import annotations

from pydantic import Field

from crm.schemas import ReadModel


class Rejection(ReadModel):
    line: int
    reason: str


class ImportReportRead(ReadModel):
    kind: str
    rows: int
    accepted: int
    created: int
    updated: int
    unchanged: int
    merged: int
    rejected: int
    rejections: list[Rejection] = Field(description="The first rejected lines, with reasons.")
    columns: dict[str, str] = Field(description="column in the file → field")
    ignored_columns: list[str]

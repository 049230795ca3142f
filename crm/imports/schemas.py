"""Response model of the import API (``/api/v1/imports/{kind}``)."""

from __future__ import annotations

from pydantic import Field

from crm.schemas import ReadModel


class Rejection(ReadModel):
    line: int
    reason: str


class Merge(ReadModel):
    line: int
    into: str = Field(description="e.g. 'line 2 (same email)' or 'stored customer C-7'")


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
    merges: list[Merge] = Field(
        description="Rows merged into an earlier row or a stored record, with what they joined."
    )
    blank_lines: int = Field(description="Blank lines skipped (counted, not rejected).")
    delimiter: str = Field(description="The column separator read from the header line.")

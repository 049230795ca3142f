"""Request and response models of the canned-responses API."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from pydantic import BaseModel, ConfigDict, StringConstraints

Shortcut = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True,
        to_lower=True,
        min_length=1,
        max_length=40,
        pattern=r"^[A-Za-z0-9_-]+$",
    ),
]
Title = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=4000)]


class CannedRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    shortcut: str
    title: str
    text: str
    updated_at: dt.datetime


class CannedList(BaseModel):
    canned_responses: list[CannedRead]


class CannedCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    shortcut: Shortcut
    title: Title
    text: Text


class CannedUpdate(BaseModel):
    """Any of these; fields left out stay as they are."""

    model_config = ConfigDict(extra="forbid")

    shortcut: Shortcut | None = None
    title: Title | None = None
    text: Text | None = None

"""Building blocks of the API's response models (each domain keeps its own models in its
``schemas.py``): a read model that refuses unknown keys, and the timestamp type."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, PlainSerializer, WithJsonSchema

# The largest id a row can have: ids are INTEGER columns, 32-bit signed on PostgreSQL.
MAX_ID = 2**31 - 1
RowId = Annotated[int, Field(ge=1, le=MAX_ID)]

# A moment as the API has always written it: ``datetime.isoformat()`` (aware UTC, so with
# ``+00:00``), documented as an RFC 3339 date-time.
Timestamp = Annotated[
    dt.datetime,
    PlainSerializer(lambda value: value.isoformat(), return_type=str),
    WithJsonSchema({"type": "string", "format": "date-time"}),
]


class ReadModel(BaseModel):
    """A response body. Unknown keys are refused, so that a key a service adds without a
    field here fails the tests instead of silently leaving the documented shape."""

    model_config = ConfigDict(extra="forbid")

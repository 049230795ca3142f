"""Liveness and readiness."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from careloop import __version__
from crm.db import READ_ONLY
from web.deps import StateDep

router = APIRouter(tags=["health"])


class Health(BaseModel):
    status: str
    database: str
    version: str


class Unhealthy(BaseModel):
    status: str
    database: str
    error: str


@router.get(
    "/healthz",
    response_model=Health,
    responses={503: {"model": Unhealthy, "description": "The database does not answer"}},
)
def healthz(state: StateDep) -> JSONResponse:
    """200 when the app and its database answer, 503 otherwise."""
    try:
        with state.db_engine.connect().execution_options(**READ_ONLY) as conn:
            conn.execute(text("SELECT 1"))
    except SQLAlchemyError as exc:
        return JSONResponse(
            {"status": "unavailable", "database": "down", "error": exc.__class__.__name__},
            status_code=503,
        )
    return JSONResponse({"status": "ok", "database": "up", "version": __version__})

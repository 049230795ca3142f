"""Import API (admins): the same CSV import as ``careloop import``."""

from __future__ import annotations

import tempfile
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request
from fastapi.concurrency import run_in_threadpool

from careloop.errors import ValidationFailed
from crm.imports.schemas import ImportReportRead
from crm.imports.service import import_csv
from crm.models import User
from web.auth import require_roles
from web.deps import SessionDep, SettingsDep, StateDep
from web.errors import STAFF, error_responses

router = APIRouter(prefix="/api/v1/imports", tags=["imports"], responses=error_responses(*STAFF))
AdminUser = Annotated[User, Depends(require_roles())]
MAX_UPLOAD_BYTES = 2 * 1024**3


@router.post(
    "/{kind}",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"text/csv": {"schema": {"type": "string"}}},
        }
    },
)
async def import_file(
    kind: Annotated[str, Path(description="customers or orders")],
    request: Request,
    state: StateDep,
    settings: SettingsDep,
    user: AdminUser,
    session: SessionDep,
) -> ImportReportRead:
    """Send the CSV as the request body (``Content-Type: text/csv``). The upload is
    spooled to disk (constant memory), then imported in a worker thread, one short
    transaction per batch of its own; the answer is the import report."""
    if kind not in ("customers", "orders"):
        raise ValidationFailed(f"can import customers or orders, not {kind!r}")
    # The sign-in's transaction ends before the upload: on SQLite it holds the write lock
    # (BEGIN IMMEDIATE), and the import's own batches, chat and the jobs would wait on it.
    await run_in_threadpool(session.close)
    with tempfile.SpooledTemporaryFile(max_size=8 * 1024**2) as spool:
        size = 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > MAX_UPLOAD_BYTES:
                raise ValidationFailed("the file is larger than 2 GiB; use `careloop import`")
            spool.write(chunk)
        spool.seek(0)
        report = await run_in_threadpool(
            import_csv,
            state.session_factory,
            kind,
            spool,  # type: ignore[arg-type]
            default_region=settings.import_default_region,
        )
    return ImportReportRead.model_validate(report.as_dict())

"""What staff and the bot say: canned responses (agents read, admins change) and the
bot's response book (admins: view, preview, publish a version, restore one, reload).
Every change is written to the audit log."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field, StringConstraints
from sqlalchemy.orm import Session

from bot import book
from bot.responses import ResponseBook, ResponsesError
from careloop.errors import ValidationFailed
from crm import audit
from crm.audit import Actor
from crm.canned import service as canned
from crm.canned.schemas import CannedCreate, CannedList, CannedRead, CannedUpdate
from crm.models import ResponseBookVersion, Role, User
from crm.response_book import service as stored
from web.auth import AdminUser, require_roles
from web.deps import BotDep, PathId, SessionDep, SettingsDep
from web.errors import STAFF, error_responses

router = APIRouter(prefix="/api/v1", tags=["admin"], responses=error_responses(*STAFF))
BY_ID = error_responses(404)
AgentUser = Annotated[User, Depends(require_roles(Role.agent))]
# (the shipped book, in ten languages, is 304 kB)
Source = Annotated[str, StringConstraints(min_length=1, max_length=1_000_000)]


# -- canned responses ------------------------------------------------------------------


@router.get("/canned-responses", response_model=CannedList)
def list_canned(session: SessionDep, user: AgentUser) -> CannedList:
    """The ready-made replies agents can insert (agents and admins)."""
    return CannedList(
        canned_responses=[CannedRead.model_validate(c) for c in canned.list_canned(session)]
    )


@router.post("/admin/canned-responses", response_model=CannedRead, status_code=201)
def create_canned(body: CannedCreate, session: SessionDep, admin: AdminUser) -> CannedRead:
    """A new canned response (409 when the shortcut exists)."""
    row = canned.create_canned(
        session, shortcut=body.shortcut, title=body.title, text=body.text, by=Actor.of(admin)
    )
    session.commit()
    return CannedRead.model_validate(row)


@router.patch("/admin/canned-responses/{canned_id}", response_model=CannedRead, responses=BY_ID)
def update_canned(
    canned_id: PathId, body: CannedUpdate, session: SessionDep, admin: AdminUser
) -> CannedRead:
    row = canned.update_canned(
        session,
        canned=canned.get_canned(session, canned_id),
        by=Actor.of(admin),
        shortcut=body.shortcut,
        title=body.title,
        text=body.text,
    )
    session.commit()
    return CannedRead.model_validate(row)


@router.delete("/admin/canned-responses/{canned_id}", status_code=204, responses=BY_ID)
def delete_canned(canned_id: PathId, session: SessionDep, admin: AdminUser) -> Response:
    canned.delete_canned(session, canned=canned.get_canned(session, canned_id), by=Actor.of(admin))
    session.commit()
    return Response(status_code=204)


# -- the response book -----------------------------------------------------------------


class BookRead(BaseModel):
    version: int = Field(description="The active version; 0 while the shipped file is used")
    in_use: int = Field(description="The version this server answers with right now")
    source: str = Field(description="The YAML text (see bot/responses.yml)")
    comment: str
    created_by: str | None
    created_at: dt.datetime | None
    answers: list[str] = Field(description="The answer keys, in the book's order")


class VersionRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    version: int
    comment: str
    created_by: str
    created_at: dt.datetime


class VersionSource(VersionRead):
    source: str


class VersionList(BaseModel):
    versions: list[VersionRead]


class BookPublish(BaseModel):
    model_config = ConfigDict(extra="forbid")

    source: Source
    comment: Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)] = ""


class BookPreviewIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    source: Source


class PreviewVariant(BaseModel):
    key: str
    index: int
    requires: list[str]
    text: str | None
    buttons: list[str]
    error: str | None = Field(description="Why this variant cannot be rendered, if it cannot")


class BookPreview(BaseModel):
    ok: bool = Field(description="Whether this text can be published as it is")
    error: str | None
    variants: list[PreviewVariant] = Field(
        description="Each answer rendered for a sample customer (Sam) with a shipped order"
    )


class BookReload(BaseModel):
    in_use: int


@router.get("/admin/response-book", response_model=BookRead)
def show_book(
    session: SessionDep, settings: SettingsDep, bot: BotDep, admin: AdminUser
) -> BookRead:
    """The active response book, its version and who published it."""
    found = book.active(session, settings.responses_file)
    return BookRead(
        version=found.version,
        in_use=bot.responses.version,
        source=found.source,
        comment=found.comment,
        created_by=found.created_by,
        created_at=found.created_at,
        answers=bot.responses.answers(),
    )


@router.get("/admin/response-book/versions", response_model=VersionList)
def list_versions(
    session: SessionDep,
    admin: AdminUser,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> VersionList:
    """Published versions, newest first."""
    return VersionList(
        versions=[VersionRead.model_validate(v) for v in stored.versions(session, limit=limit)]
    )


@router.get(
    "/admin/response-book/versions/{version}", response_model=VersionSource, responses=BY_ID
)
def show_version(version: PathId, session: SessionDep, admin: AdminUser) -> VersionSource:
    return VersionSource.model_validate(stored.get_version(session, version))


@router.post("/admin/response-book/preview", response_model=BookPreview)
def preview_book(body: BookPreviewIn, admin: AdminUser) -> BookPreview:
    """Check a text without storing it and render every answer for a sample customer."""
    try:
        parsed = book.check(body.source)
        error = None
    except ResponsesError as exc:
        error = str(exc)
        try:
            parsed = ResponseBook.parse(body.source, where="response book")
        except ResponsesError:
            return BookPreview(ok=False, error=error, variants=[])
    items = [PreviewVariant(**vars(item)) for item in book.preview(parsed)]
    ok = error is None and all(i.error is None for i in items)
    return BookPreview(ok=ok, error=error, variants=items)


@router.post("/admin/response-book", response_model=VersionRead, status_code=201)
def publish_book(
    body: BookPublish, session: SessionDep, bot: BotDep, admin: AdminUser
) -> VersionRead:
    """Store the text as the next version (422 with the reason when it cannot be read,
    a template is broken or a needed answer is missing); the bot answers with it at once,
    no restart."""
    row, parsed = _publish(session, body.source, body.comment, Actor.of(admin), None)
    bot.responses = parsed
    return VersionRead.model_validate(row)


@router.post(
    "/admin/response-book/versions/{version}/restore",
    response_model=VersionRead,
    status_code=201,
    responses=BY_ID,
)
def restore_version(
    version: PathId, session: SessionDep, bot: BotDep, admin: AdminUser
) -> VersionRead:
    """Publish an old version's text again, as a new version."""
    old = stored.get_version(session, version)
    row, parsed = _publish(
        session, old.source, f"restored version {version}", Actor.of(admin), version
    )
    bot.responses = parsed
    return VersionRead.model_validate(row)


@router.post("/admin/response-book/reload", response_model=BookReload)
def reload_book(session: SessionDep, bot: BotDep, admin: AdminUser) -> BookReload:
    """Load the newest stored version into this server now (other servers pick it up
    within ``NLU_RELOAD_SECONDS``)."""
    before = bot.responses.version
    now = book.reload(session, bot)
    audit.record(
        session,
        by=Actor.of(admin),
        action="response_book.reload",
        target=f"response_book:{now}",
        details={"from": before, "to": now},
    )
    session.commit()
    return BookReload(in_use=now)


def _publish(
    session: Session, source: str, comment: str, by: Actor, restored_from: int | None
) -> tuple[ResponseBookVersion, ResponseBook]:
    try:
        row, parsed = book.publish(
            session, source=source, comment=comment, by=by, restored_from=restored_from
        )
    except ResponsesError as exc:
        raise ValidationFailed(str(exc)) from None
    session.commit()
    return row, parsed

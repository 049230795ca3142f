"""Staff authentication: a signed session cookie for the pages, bearer tokens for
integrations, CSRF protection for cookie-authenticated writes, and role checks.

The session cookie is ``<user id>.<issued at>.<HMAC-SHA256>`` signed with
``CARELOOP_SECRET_KEY``: HttpOnly, SameSite=Lax, Secure in production, valid for 12 hours.
Every unsafe request that relies on the cookie must echo the session's CSRF token (form
field ``csrf_token`` or header ``X-CSRF-Token``); bearer-token requests are not exposed to
CSRF and need none.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from careloop.config import Environment, Settings
from careloop.errors import Forbidden, NotAuthenticated
from crm.db import utcnow
from crm.models import Role, User
from crm.users.service import user_for_token
from web.deps import SessionDep, SettingsDep

SESSION_COOKIE = "careloop_session"
CSRF_HEADER = "X-CSRF-Token"
SESSION_SECONDS = 12 * 3600
UNSAFE = {"POST", "PUT", "PATCH", "DELETE"}


def _mac(secret: str, message: str) -> str:
    digest = hmac.new(secret.encode(), message.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def sign_session(user_id: int, secret: str, *, issued: int | None = None) -> str:
    body = f"{user_id}.{issued if issued is not None else int(time.time())}"
    return f"{body}.{_mac(secret, 'session:' + body)}"


def read_session(value: str, secret: str, *, now: float | None = None) -> int | None:
    """The user id in a valid, unexpired session cookie, else None."""
    try:
        user_id, issued, mac = value.split(".")
        uid, ts = int(user_id), int(issued)
    except ValueError:
        return None
    if not hmac.compare_digest(mac, _mac(secret, f"session:{user_id}.{issued}")):
        return None
    if (now or time.time()) - ts > SESSION_SECONDS:
        return None
    return uid


def csrf_token(session_cookie: str, secret: str) -> str:
    return _mac(secret, "csrf:" + session_cookie)


def set_session_cookie(response: object, user: User, settings: Settings) -> str:
    value = sign_session(user.id, settings.secret_key.get_secret_value())
    response.set_cookie(  # type: ignore[attr-defined]
        SESSION_COOKIE,
        value,
        max_age=SESSION_SECONDS,
        httponly=True,
        samesite="lax",
        secure=settings.env is Environment.production,
        path="/",
    )
    return value


async def _csrf_ok(request: Request, secret: str, cookie: str) -> bool:
    expected = csrf_token(cookie, secret)
    given = request.headers.get(CSRF_HEADER)
    if given is None and request.headers.get("content-type", "").startswith(
        ("application/x-www-form-urlencoded", "multipart/form-data")
    ):
        form = await request.form()
        value = form.get("csrf_token")
        given = value if isinstance(value, str) else None
    return given is not None and hmac.compare_digest(given, expected)


def _authenticate(
    request: Request, session: SessionDep, settings: SettingsDep
) -> tuple[User | None, str | None]:
    """``(user, session cookie)`` from a bearer token or the session cookie. Synchronous,
    so that its database work runs in the thread pool, never on the event loop."""
    header = request.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        user = user_for_token(session, header[7:].strip())
        if user is None:
            raise NotAuthenticated("invalid or revoked API token")
        if session.dirty:
            session.commit()  # the token's last_used_at
        return user, None
    cookie = request.cookies.get(SESSION_COOKIE)
    if not cookie:
        return None, None
    user_id = read_session(cookie, settings.secret_key.get_secret_value())
    if user_id is None:
        return None, None
    user = session.get(User, user_id)
    if user is None or not user.is_active:
        return None, None
    return user, cookie


async def optional_user(
    request: Request,
    settings: SettingsDep,
    found: Annotated[tuple[User | None, str | None], Depends(_authenticate)],
) -> User | None:
    """The signed-in staff user, or None; cookie sessions must carry the CSRF token on
    unsafe methods (tokens are not sent by browsers on their own, so they need none)."""
    user, cookie = found
    if user is None or cookie is None:
        return user
    secret = settings.secret_key.get_secret_value()
    if request.method in UNSAFE and not await _csrf_ok(request, secret, cookie):
        raise Forbidden("missing or wrong CSRF token; reload the page")
    request.state.csrf_token = csrf_token(cookie, secret)
    return user


async def current_user(
    user: Annotated[User | None, Depends(optional_user)],
) -> User:
    if user is None:
        raise NotAuthenticated("sign in first (session cookie or Authorization: Bearer token)")
    return user


CurrentUser = Annotated[User, Depends(current_user)]


def require_roles(*roles: Role) -> Callable[..., User]:
    """A dependency admitting only ``roles`` (admins are always admitted)."""
    allowed = {*roles, Role.admin}

    def check(user: CurrentUser, session: SessionDep) -> User:
        if user.role not in allowed:
            raise Forbidden(f"this needs the {' or '.join(sorted(r.value for r in allowed))} role")
        _touch(session, user)
        return user

    return check


def _touch(session: Session, user: User) -> None:
    """Presence for routing: seen now (written at most once a minute)."""
    now = utcnow()
    if user.last_seen_at is None or (now - user.last_seen_at).total_seconds() > 60:
        user.last_seen_at = now
        session.commit()


AgentUser = Annotated[User, Depends(require_roles(Role.agent))]

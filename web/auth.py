"""Staff authentication: server-side sessions for the pages, bearer tokens for
integrations, CSRF and origin checks for cookie-authenticated writes, and role checks.

The session cookie holds a random token whose SHA-256 names a row of ``user_sessions``
(see ``crm.users.sessions``): sign-out, a password change or reset and disabling the user
end it on the server, and it ends by itself after ``SESSION_IDLE_MINUTES`` without use or
``SESSION_MAX_HOURS`` after sign-in. The cookie is HttpOnly, SameSite=Lax, and in
production Secure with the ``__Host-`` prefix. Every unsafe request that relies on the
cookie must come from our own origin (``Origin``, else ``Referer``, when the browser sends
one) and echo the session's CSRF token (form field ``csrf_token`` or header
``X-CSRF-Token``); bearer-token requests are not exposed to CSRF and need neither.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated
from urllib.parse import urlsplit

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from careloop.config import Environment, Settings
from careloop.errors import Forbidden, NotAuthenticated
from crm.db import utcnow
from crm.models import Role, User
from crm.users.service import user_for_token
from crm.users.sessions import SessionPolicy, session_for_token
from crm.users.throttle import Limits
from web.deps import SessionDep, SettingsDep

log = logging.getLogger("careloop.security")

CSRF_HEADER = "X-CSRF-Token"
UNSAFE = {"POST", "PUT", "PATCH", "DELETE"}
PASSWORD_CHANGE_PATH = "/account/password"  # noqa: S105 (a page, not a password)


def session_cookie_name(settings: Settings) -> str:
    production = settings.env is Environment.production
    return "__Host-careloop_session" if production else "careloop_session"


def login_cookie_name(settings: Settings) -> str:
    return "__Host-careloop_login" if settings.env is Environment.production else "careloop_login"


def session_policy(settings: Settings) -> SessionPolicy:
    return SessionPolicy(
        idle=dt.timedelta(minutes=settings.session_idle_minutes),
        lifetime=dt.timedelta(hours=settings.session_max_hours),
    )


def login_limits(settings: Settings) -> Limits:
    return Limits(
        per_account=settings.login_max_failures,
        per_address=settings.login_max_failures_per_address,
        window=dt.timedelta(minutes=settings.login_failure_window_minutes),
    )


def client_address(request: Request) -> str | None:
    """The client's address (uvicorn puts a trusted proxy's X-Forwarded-For here)."""
    return request.client.host if request.client else None


def _mac(secret: str, message: str) -> str:
    digest = hmac.new(secret.encode(), message.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def csrf_token(session_cookie: str, secret: str) -> str:
    """The CSRF token of a session: an HMAC of its cookie (nothing to store)."""
    return _mac(secret, "csrf:" + session_cookie)


def _cookie_options(settings: Settings) -> dict[str, object]:
    return {
        "httponly": True,
        "samesite": "lax",
        "secure": settings.env is Environment.production,
        "path": "/",
    }


def set_session_cookie(response: object, token: str, settings: Settings) -> None:
    response.set_cookie(  # type: ignore[attr-defined]
        session_cookie_name(settings),
        token,
        max_age=settings.session_max_hours * 3600,
        **_cookie_options(settings),
    )


def clear_session_cookie(response: object, settings: Settings) -> None:
    response.delete_cookie(session_cookie_name(settings), **_cookie_options(settings))  # type: ignore[attr-defined]


def login_nonce(request: Request, settings: Settings) -> str:
    """The sign-in form's pre-session CSRF secret: the browser's current one while it is
    well-formed, else a new random one (``set_login_cookie`` stores it)."""
    nonce = request.cookies.get(login_cookie_name(settings)) or ""
    return nonce if 20 <= len(nonce) <= 64 else secrets.token_urlsafe(24)


def login_form_token(nonce: str, settings: Settings) -> str:
    """What the sign-in form must post back: the HMAC of the cookie's nonce."""
    return _mac(settings.secret_key.get_secret_value(), "login:" + nonce)


def set_login_cookie(response: object, nonce: str, settings: Settings) -> None:
    response.set_cookie(  # type: ignore[attr-defined]
        login_cookie_name(settings), nonce, max_age=3600, **_cookie_options(settings)
    )


def clear_login_cookie(response: object, settings: Settings) -> None:
    response.delete_cookie(login_cookie_name(settings), **_cookie_options(settings))  # type: ignore[attr-defined]


def login_token_ok(request: Request, settings: Settings, given: str | None) -> bool:
    nonce = request.cookies.get(login_cookie_name(settings))
    if not nonce or not given:
        return False
    return hmac.compare_digest(given, login_form_token(nonce, settings))


def same_origin(request: Request, settings: Settings) -> bool:
    """Whether a state-changing request comes from our own pages: its ``Origin`` (or,
    without one, its ``Referer``) names this host or one of ``ALLOWED_ORIGINS``. A request
    with neither header (not a browser, or a privacy proxy) passes: the CSRF token still
    has to match."""
    origin = request.headers.get("origin")
    if origin is None:
        referer = request.headers.get("referer")
        if not referer:
            return True
        parts = urlsplit(referer)
        origin = f"{parts.scheme}://{parts.netloc}"
    if origin == "null":
        return False
    allowed = {o.rstrip("/").lower() for o in settings.allowed_origins}
    if origin.rstrip("/").lower() in allowed:
        return True
    return urlsplit(origin).netloc.lower() == (request.headers.get("host") or "").lower()


def refuse_cross_origin(request: Request, settings: Settings) -> None:
    if not same_origin(request, settings):
        log.warning(
            "auth.origin.refused method=%s path=%s origin=%s address=%s",
            request.method,
            request.url.path,
            request.headers.get("origin") or request.headers.get("referer"),
            client_address(request),
        )
        raise Forbidden("cross-origin request refused", code="cross_origin")


@dataclass(frozen=True)
class Authenticated:
    """Who made the request, and how: a session cookie (its token and row id) or a token."""

    user: User | None
    cookie: str | None = None
    session_id: int | None = None


def _authenticate(request: Request, session: SessionDep, settings: SettingsDep) -> Authenticated:
    """The caller from a bearer token or the session cookie. Synchronous, so that its
    database work runs in the thread pool, never on the event loop."""
    header = request.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        user = user_for_token(session, header[7:].strip())
        if user is None:
            log.warning(
                "auth.token.invalid path=%s address=%s", request.url.path, client_address(request)
            )
            raise NotAuthenticated("invalid or revoked API token")
        if session.dirty:
            session.commit()  # the token's last_used_at
        return Authenticated(user)
    cookie = request.cookies.get(session_cookie_name(settings))
    if not cookie:
        return Authenticated(None)
    row = session_for_token(session, cookie, policy=session_policy(settings))
    if row is None:
        return Authenticated(None)
    user = session.get(User, row.user_id)
    if user is None or not user.is_active:
        return Authenticated(None)
    if session.dirty:
        session.commit()  # the session's last_seen_at
    return Authenticated(user, cookie, row.id)


Auth = Annotated[Authenticated, Depends(_authenticate)]


async def optional_user(request: Request, settings: SettingsDep, found: Auth) -> User | None:
    """The signed-in staff user, or None; cookie sessions must pass the origin check and
    carry the CSRF token on unsafe methods (tokens are not sent by browsers on their own,
    so they need neither)."""
    if found.user is None or found.cookie is None:
        return found.user
    secret = settings.secret_key.get_secret_value()
    if request.method in UNSAFE:
        refuse_cross_origin(request, settings)
        if not await _csrf_ok(request, secret, found.cookie):
            raise Forbidden("missing or wrong CSRF token; reload the page")
    request.state.csrf_token = csrf_token(found.cookie, secret)
    request.state.user_session_id = found.session_id
    return found.user


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


async def current_user(user: Annotated[User | None, Depends(optional_user)]) -> User:
    if user is None:
        raise NotAuthenticated("sign in first (session cookie or Authorization: Bearer token)")
    return user


CurrentUser = Annotated[User, Depends(current_user)]


def require_roles(*roles: Role) -> Callable[..., User]:
    """A dependency admitting only ``roles`` (admins are always admitted). A browser
    session whose password was reset must change it first."""
    allowed = {*roles, Role.admin}

    def check(request: Request, user: CurrentUser, session: SessionDep) -> User:
        via_cookie = getattr(request.state, "user_session_id", None) is not None
        if user.password_change_required and via_cookie:
            raise Forbidden(
                f"choose a new password first ({PASSWORD_CHANGE_PATH})",
                code="password_change_required",
            )
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
AdminUser = Annotated[User, Depends(require_roles())]

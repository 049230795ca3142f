"""Staff sign-in, sign-out and the password change page.

Sign-in is throttled per account and per client address (counted in the database, so the
limits hold across server processes), every attempt costs one argon2 hash behind the
process's hashing gate, and every outcome is logged as a security event
(``auth.login.*``) with the email and client address, never the password.
"""

from __future__ import annotations

import logging
import time
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from careloop.config import Settings
from careloop.errors import AppError, TooManyRequests
from crm.db import utcnow
from crm.models import Role, User
from crm.users import throttle
from crm.users.passwords import Busy, HashGate, hash_password, needs_rehash
from crm.users.service import change_password, check_credentials, credentials
from crm.users.sessions import end_session, start_session
from web.auth import (
    PASSWORD_CHANGE_PATH,
    clear_login_cookie,
    clear_session_cookie,
    client_address,
    login_form_token,
    login_limits,
    login_nonce,
    login_token_ok,
    optional_user,
    same_origin,
    session_cookie_name,
    session_policy,
    set_login_cookie,
    set_session_cookie,
)
from web.deps import SessionDep, StateDep
from web.templating import templates

router = APIRouter(include_in_schema=False)
log = logging.getLogger("careloop.security")
MaybeUser = Annotated[User | None, Depends(optional_user)]


def safe_next(target: str | None) -> str:
    """Only same-site paths (no open redirects)."""
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return "/inbox"


def landing_page(user: User, target: str = "/inbox") -> str:
    """Where a user goes after signing in: the page asked for, marketers to their charts."""
    if user.role is Role.marketer and target.startswith("/inbox"):
        return "/analytics/satisfaction"
    return target


_throttle_logged: dict[str, float] = {}


def _first_in_a_minute(key: str) -> bool:
    """Whether a throttled sign-in for this email and address is the first this minute in
    this process: refused floods are logged once a minute, not once a request."""
    now = time.monotonic()
    if len(_throttle_logged) > 10_000:
        _throttle_logged.clear()
    if now - _throttle_logged.get(key, -60.0) < 60:
        return False
    _throttle_logged[key] = now
    return True


def _wait_text(seconds: int) -> str:
    minutes = -(-seconds // 60)
    return f"{minutes} minute{'s' if minutes != 1 else ''}" if seconds > 60 else "a minute"


def _login_page(
    request: Request,
    settings: Settings,
    *,
    next_path: str,
    error: str | None = None,
    status_code: int = 200,
    retry_after: int | None = None,
) -> Response:
    nonce = login_nonce(request, settings)
    response = templates.TemplateResponse(
        request,
        "login.html",
        {"next": next_path, "error": error, "login_token": login_form_token(nonce, settings)},
        status_code=status_code,
    )
    set_login_cookie(response, nonce, settings)
    if retry_after is not None:
        response.headers["Retry-After"] = str(retry_after)
    return response


@router.get("/login", response_class=HTMLResponse)
def login_page(
    request: Request, user: MaybeUser, state: StateDep, next: str | None = None
) -> Response:
    if user is not None:
        return RedirectResponse(safe_next(next), status_code=303)
    return _login_page(request, state.settings, next_path=safe_next(next))


@router.post("/login", response_class=HTMLResponse)
def login(
    request: Request,
    session: SessionDep,
    state: StateDep,
    email: Annotated[str, Form(max_length=1000)],
    password: Annotated[str, Form(max_length=1000)],
    next: Annotated[str, Form(max_length=2000)] = "/inbox",
    csrf_token: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    settings = state.settings
    target = safe_next(next)
    address = client_address(request)
    email = email.strip()[:254]
    if not same_origin(request, settings) or not login_token_ok(request, settings, csrf_token):
        log.warning("auth.login.csrf_refused email=%r address=%s", email, address)
        return _login_page(
            request,
            settings,
            next_path=target,
            error="The sign-in form had expired. Please sign in again.",
            status_code=403,
        )
    limits = login_limits(settings)
    wait = throttle.retry_after(session, email=email, address=address, limits=limits)
    if wait is not None:
        if _first_in_a_minute(f"{email.lower()}|{address}"):
            log.warning(
                "auth.login.throttled email=%r address=%s retry_after=%d", email, address, wait
            )
        return _login_page(
            request,
            settings,
            next_path=target,
            error=f"Too many failed sign-ins. Try again in {_wait_text(wait)}.",
            status_code=429,
            retry_after=wait,
        )
    found = credentials(session, email=email)
    session.rollback()  # no transaction (on SQLite: the write lock) while hashing
    try:
        failure = check_credentials(found, password, gate=state.hash_gate)
        rehashed = (
            hash_password(password, gate=state.hash_gate)
            if failure is None and needs_rehash(found.password_hash)
            else None
        )
    except Busy as exc:
        log.warning("auth.login.busy email=%r address=%s", email, address)
        return _login_page(
            request,
            settings,
            next_path=target,
            error="Too many sign-ins at once. Try again in a moment.",
            status_code=503,
            retry_after=exc.retry_after,
        )
    user = session.get(User, found.user_id) if failure is None and found.user_id else None
    if user is None or not user.is_active:
        throttle.record_failure(session, email=email, address=address, limits=limits)
        session.commit()
        log.warning(
            "auth.login.failed email=%r address=%s reason=%s",
            email,
            address,
            failure or "disabled",
        )
        return _login_page(
            request, settings, next_path=target, error="Wrong email or password.", status_code=401
        )
    if rehashed is not None:
        user.password_hash = rehashed  # argon2 parameters grew since it was hashed
    throttle.clear_account(session, email=email)
    token, _ = start_session(
        session,
        user=user,
        policy=session_policy(settings),
        address=address,
        user_agent=request.headers.get("user-agent"),
    )
    user.last_login_at = utcnow()
    session.commit()
    log.info("auth.login.succeeded user_id=%d email=%r address=%s", user.id, user.email, address)
    destination = (
        PASSWORD_CHANGE_PATH if user.password_change_required else landing_page(user, target)
    )
    response = RedirectResponse(destination, status_code=303)
    set_session_cookie(response, token, settings)
    clear_login_cookie(response, settings)
    return response


@router.post("/logout")
def logout(request: Request, user: MaybeUser, session: SessionDep, state: StateDep) -> Response:
    """Ends the session on the server (the origin and CSRF checks of ``optional_user``
    apply), so the old cookie no longer works anywhere."""
    settings = state.settings
    cookie = request.cookies.get(session_cookie_name(settings))
    if user is not None and cookie:
        end_session(session, token=cookie)
        session.commit()
        log.info("auth.logout user_id=%d address=%s", user.id, client_address(request))
    response = RedirectResponse("/login", status_code=303)
    clear_session_cookie(response, settings)
    return response


def _password_page(
    request: Request, user: User, *, error: str | None = None, status_code: int = 200
) -> Response:
    return templates.TemplateResponse(
        request,
        "password.html",
        {
            "user": user,
            "csrf_token": getattr(request.state, "csrf_token", None),
            "required": user.password_change_required,
            "error": error,
        },
        status_code=status_code,
    )


@router.get(PASSWORD_CHANGE_PATH, response_class=HTMLResponse)
def password_page(request: Request, user: MaybeUser) -> Response:
    if user is None:
        return RedirectResponse(f"/login?next={PASSWORD_CHANGE_PATH}", status_code=303)
    return _password_page(request, user)


@router.post(PASSWORD_CHANGE_PATH, response_class=HTMLResponse)
def password_change(
    request: Request,
    user: MaybeUser,
    session: SessionDep,
    state: StateDep,
    current_password: Annotated[str, Form(max_length=1000)],
    new_password: Annotated[str, Form(max_length=1000)],
    repeat_password: Annotated[str, Form(max_length=1000)],
) -> Response:
    if user is None:
        return RedirectResponse(f"/login?next={PASSWORD_CHANGE_PATH}", status_code=303)
    if new_password != repeat_password:
        return _password_page(request, user, error="The two new passwords differ.", status_code=422)
    try:
        change_own_password(
            request, session, state.settings, user, current_password, new_password, state.hash_gate
        )
    except AppError as exc:
        response = _password_page(request, user, error=exc.message, status_code=exc.status_code)
        if exc.retry_after is not None:
            response.headers["Retry-After"] = str(exc.retry_after)
        return response
    return RedirectResponse(landing_page(user), status_code=303)


def change_own_password(
    request: Request,
    session: Session,
    settings: Settings,
    user: User,
    current: str,
    new: str,
    gate: HashGate,
) -> None:
    """A signed-in user's password change, throttled like sign-in (a wrong current password
    counts as a failed sign-in); every other session of the user ends."""
    address = client_address(request)
    limits = login_limits(settings)
    wait = throttle.retry_after(session, email=user.email, address=address, limits=limits)
    if wait is not None:
        log.warning(
            "auth.password.throttled user_id=%d address=%s retry_after=%d", user.id, address, wait
        )
        raise TooManyRequests(
            f"too many wrong passwords; try again in {_wait_text(wait)}", retry_after=wait
        )
    try:
        change_password(
            session,
            user=user,
            current=current,
            new=new,
            keep_session=getattr(request.state, "user_session_id", None),
            gate=gate,
        )
    except AppError as exc:
        session.rollback()
        if exc.code == "wrong_password":
            throttle.record_failure(session, email=user.email, address=address, limits=limits)
            session.commit()
            log.warning("auth.password.failed user_id=%d address=%s", user.id, address)
        raise
    session.commit()
    log.info("auth.password.changed user_id=%d address=%s", user.id, address)

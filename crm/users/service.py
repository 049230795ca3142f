"""Staff users: accounts, sign-in checks, passwords (argon2id, see ``passwords``), the
administrators' changes (audited), and API tokens (stored as SHA-256)."""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from careloop.errors import Conflict, Forbidden, NotFound, ValidationFailed
from crm import audit
from crm.audit import Actor
from crm.db import utcnow
from crm.models import ApiToken, Role, User
from crm.users.passwords import (
    HashGate,
    check_password,
    dummy_hash,
    hash_password,
    verify_password,
)
from crm.users.sessions import end_user_sessions

__all__ = ["hash_password", "verify_password"]  # (re-exported: factories and tools use them)

EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def find_user_by_email(session: Session, email: str) -> User | None:
    return session.scalars(select(User).where(func.lower(User.email) == email.lower())).first()


def get_user(session: Session, user_id: int) -> User:
    user = session.get(User, user_id)
    if user is None:
        raise NotFound(f"user {user_id} not found")
    return user


def list_users(session: Session) -> list[User]:
    """Every staff account, active ones first, then by email."""
    return list(session.scalars(select(User).order_by(User.is_active.desc(), User.email)))


def create_user(
    session: Session,
    *,
    email: str,
    password: str,
    role: Role,
    display_name: str | None = None,
    max_concurrent: int = 5,
    by: Actor | None = None,
    gate: HashGate | None = None,
) -> User:
    """Create a staff account; the email must be new and the password meet the policy.
    With ``by`` the creation is written to the audit log."""
    email = email.strip().lower()
    if not EMAIL_RE.match(email) or len(email) > 254:
        raise ValidationFailed(f"not a valid email address: {email!r}")
    check_password(password, email=email)
    if find_user_by_email(session, email) is not None:
        raise Conflict(f"a user with email {email} already exists")
    user = User(
        email=email,
        display_name=(display_name or email.split("@", 1)[0])[:100],
        role=role,
        password_hash=hash_password(password, gate=gate),
        max_concurrent=max_concurrent,
    )
    session.add(user)
    session.flush()
    if by is not None:
        audit.record(
            session,
            by=by,
            action="user.create",
            target=_target(user),
            details={"email": user.email, "role": role.value},
        )
    return user


def invite_user(
    session: Session,
    *,
    email: str,
    role: Role,
    by: Actor,
    display_name: str | None = None,
    max_concurrent: int = 5,
    gate: HashGate | None = None,
) -> tuple[User, str]:
    """Create an account with a generated one-time password (returned once, for the admin
    to hand over); the new user must choose their own at the first sign-in."""
    password = secrets.token_urlsafe(12)
    user = create_user(
        session,
        email=email,
        password=password,
        role=role,
        display_name=display_name,
        max_concurrent=max_concurrent,
        gate=gate,
    )
    user.password_change_required = True
    audit.record(
        session,
        by=by,
        action="user.invite",
        target=_target(user),
        details={"email": user.email, "role": role.value},
    )
    return user, password


@dataclass(frozen=True)
class Credentials:
    """What a sign-in is checked against, read from the database beforehand so that the
    slow hash runs with no transaction open (on SQLite a transaction holds the write
    lock). An unknown email gets the dummy hash, so it costs the same hash."""

    user_id: int | None
    password_hash: str
    active: bool


@dataclass(frozen=True)
class SignIn:
    """The result of checking credentials: the user, or why not (for the security log)."""

    user: User | None
    failure: str | None = None  # unknown_email, wrong_password, disabled


def credentials(session: Session, *, email: str) -> Credentials:
    user = find_user_by_email(session, email.strip()[:254])
    if user is None:
        return Credentials(None, dummy_hash(), active=False)
    return Credentials(user.id, user.password_hash, active=user.is_active)


def check_credentials(
    found: Credentials, password: str, *, gate: HashGate | None = None
) -> str | None:
    """Why the password does not sign in (``unknown_email``, ``wrong_password``,
    ``disabled``), or None when it does. Exactly one argon2 verification, whatever the
    outcome, so the time taken does not tell which emails exist; no database work."""
    matches = verify_password(found.password_hash, password, gate=gate)
    if found.user_id is None:
        return "unknown_email"
    if not matches:
        return "wrong_password"
    if not found.active:
        return "disabled"
    return None


def authenticate(
    session: Session, *, email: str, password: str, gate: HashGate | None = None
) -> SignIn:
    """Check an email and password (the web sign-in does the same in three steps, ending
    its transaction before the hash)."""
    found = credentials(session, email=email)
    failure = check_credentials(found, password, gate=gate)
    if failure is not None or found.user_id is None:
        return SignIn(None, failure)
    return SignIn(session.get(User, found.user_id))


def change_password(
    session: Session,
    *,
    user: User,
    current: str,
    new: str,
    keep_session: int | None = None,
    gate: HashGate | None = None,
) -> None:
    """The user's own change: the current password is checked, the new one must meet the
    policy; every other session of the user ends."""
    if not verify_password(user.password_hash, current, gate=gate):
        raise Forbidden("the current password is wrong", code="wrong_password")
    check_password(new, email=user.email)
    if new == current:
        raise ValidationFailed("the new password must differ from the current one")
    user.password_hash = hash_password(new, gate=gate)
    user.password_change_required = False
    ended = end_user_sessions(session, user_id=user.id, keep=keep_session)
    audit.record(
        session,
        by=Actor.of(user),
        action="user.change_password",
        target=_target(user),
        details={"sessions_ended": ended},
    )


def reset_password(
    session: Session,
    *,
    user: User,
    by: Actor,
    password: str | None = None,
    gate: HashGate | None = None,
) -> str | None:
    """An administrator's reset: ``password`` (checked against the policy) or, without
    one, a generated one-time password that is returned. Either way the user must choose a
    new password at the next sign-in, and every session of the user ends."""
    generated = None
    if password is None:
        password = generated = secrets.token_urlsafe(12)
    check_password(password, email=user.email)
    user.password_hash = hash_password(password, gate=gate)
    user.password_change_required = True
    ended = end_user_sessions(session, user_id=user.id)
    audit.record(
        session,
        by=by,
        action="user.reset_password",
        target=_target(user),
        details={"generated": generated is not None, "sessions_ended": ended},
    )
    return generated


def set_active(session: Session, *, user: User, active: bool, by: Actor) -> User:
    """Enable or disable an account; disabling ends every session of the user (API tokens
    stop working while the account is disabled)."""
    if user.is_active == active:
        return user
    if not active:
        if by.user_id == user.id:
            raise Conflict("you cannot disable your own account")
        _keep_an_admin(session, user)
    user.is_active = active
    ended = 0 if active else end_user_sessions(session, user_id=user.id)
    audit.record(
        session,
        by=by,
        action="user.enable" if active else "user.disable",
        target=_target(user),
        details={"sessions_ended": ended} if not active else {},
    )
    return user


def update_user(
    session: Session,
    *,
    user: User,
    by: Actor,
    role: Role | None = None,
    display_name: str | None = None,
    max_concurrent: int | None = None,
) -> User:
    """Change role, display name or capacity; the changes are audited as field → [old, new]."""
    changes: dict[str, Any] = {}
    if role is not None and role is not user.role:
        if user.role is Role.admin:
            if by.user_id == user.id:
                raise Conflict("you cannot take the admin role from yourself")
            _keep_an_admin(session, user)
        changes["role"] = [user.role.value, role.value]
        user.role = role
    if display_name is not None and display_name.strip() != user.display_name:
        if not display_name.strip():
            raise ValidationFailed("display_name must not be empty")
        changes["display_name"] = [user.display_name, display_name.strip()[:100]]
        user.display_name = display_name.strip()[:100]
    if max_concurrent is not None and max_concurrent != user.max_concurrent:
        changes["max_concurrent"] = [user.max_concurrent, max_concurrent]
        user.max_concurrent = max_concurrent
    if changes:
        audit.record(session, by=by, action="user.update", target=_target(user), details=changes)
    return user


def _keep_an_admin(session: Session, user: User) -> None:
    """Refuse to disable or demote the last active admin (nobody could manage users)."""
    if user.role is not Role.admin or not user.is_active:
        return
    admins = session.scalar(
        select(func.count())
        .select_from(User)
        .where(User.role == Role.admin, User.is_active.is_(True), User.id != user.id)
    )
    if not admins:
        raise Conflict("this is the last active admin; make another admin first")


def _target(user: User) -> str:
    return f"user:{user.id}"


def create_api_token(session: Session, *, user: User, name: str) -> tuple[str, ApiToken]:
    """A new bearer token for ``user``; the plain token is returned once, never stored.
    It is 256 random bits, so it cannot be guessed and needs no throttling."""
    if not name.strip():
        raise ValidationFailed("an API token needs a name")
    plain = "clp_" + secrets.token_urlsafe(32)
    token = ApiToken(user_id=user.id, name=name.strip()[:100], token_hash=_token_hash(plain))
    session.add(token)
    session.flush()
    return plain, token


def user_for_token(session: Session, plain: str) -> User | None:
    """The active user owning this (unrevoked) token; records its use."""
    if len(plain) > 200:
        return None
    token = session.scalars(
        select(ApiToken).where(
            ApiToken.token_hash == _token_hash(plain), ApiToken.revoked_at.is_(None)
        )
    ).first()
    if token is None:
        return None
    user = session.get(User, token.user_id)
    if user is None or not user.is_active:
        return None
    now = utcnow()
    if token.last_used_at is None or (now - token.last_used_at).total_seconds() > 60:
        token.last_used_at = now  # at most one write a minute per token
    return user


def revoke_api_token(session: Session, *, token_id: int) -> None:
    token = session.get(ApiToken, token_id)
    if token is None:
        raise NotFound(f"API token {token_id} not found")
    token.revoked_at = token.revoked_at or utcnow()


def _token_hash(plain: str) -> str:
    return hashlib.sha256(plain.encode()).hexdigest()

"""Staff users, their passwords (argon2id) and API tokens (stored as SHA-256)."""

from __future__ import annotations

import hashlib
import re
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerifyMismatchError
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from careloop.errors import Conflict, NotFound, ValidationFailed
from crm.db import utcnow
from crm.models import ApiToken, Role, User

_hasher = PasswordHasher()
EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
MIN_PASSWORD_LENGTH = 8


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerifyMismatchError, InvalidHashError):
        return False


def find_user_by_email(session: Session, email: str) -> User | None:
    return session.scalars(select(User).where(func.lower(User.email) == email.lower())).first()


def create_user(
    session: Session,
    *,
    email: str,
    password: str,
    role: Role,
    display_name: str | None = None,
    max_concurrent: int = 5,
) -> User:
    """Create a staff account; the email must be new and the password long enough."""
    email = email.strip().lower()
    if not EMAIL_RE.match(email):
        raise ValidationFailed(f"not a valid email address: {email!r}")
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ValidationFailed(f"password must be at least {MIN_PASSWORD_LENGTH} characters")
    if find_user_by_email(session, email) is not None:
        raise Conflict(f"a user with email {email} already exists")
    user = User(
        email=email,
        display_name=display_name or email.split("@", 1)[0],
        role=role,
        password_hash=hash_password(password),
        max_concurrent=max_concurrent,
    )
    session.add(user)
    session.flush()
    return user


def authenticate(session: Session, *, email: str, password: str) -> User | None:
    """The active user with these credentials, or None."""
    user = find_user_by_email(session, email.strip())
    if user is None or not user.is_active or not verify_password(user.password_hash, password):
        return None
    return user


def create_api_token(session: Session, *, user: User, name: str) -> tuple[str, ApiToken]:
    """A new bearer token for ``user``; the plain token is returned once, never stored."""
    if not name.strip():
        raise ValidationFailed("an API token needs a name")
    plain = "clp_" + secrets.token_urlsafe(32)
    token = ApiToken(user_id=user.id, name=name.strip()[:100], token_hash=_token_hash(plain))
    session.add(token)
    session.flush()
    return plain, token


def user_for_token(session: Session, plain: str) -> User | None:
    """The active user owning this (unrevoked) token; records its use."""
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

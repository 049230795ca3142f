"""Staff users and their passwords (argon2id)."""

from __future__ import annotations

import re

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerifyMismatchError
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from careloop.errors import Conflict, ValidationFailed
from crm.models import Role, User

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

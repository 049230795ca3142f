"""Passwords: the policy new passwords must meet, and argon2id hashing behind a gate that
bounds how many hashes run at once."""

from __future__ import annotations

import string
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from importlib import resources

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from careloop.errors import AppError, ValidationFailed

MIN_LENGTH = 12
MAX_LENGTH = 128  # argon2 would take more; nobody types more (ASVS 2.1.2 allows 128)
_hasher = PasswordHasher()
_EDGES = string.digits + string.punctuation + " "


class Busy(AppError):
    """Too many password hashes are running or waiting: try again in a moment."""

    status_code = 503
    code = "busy"


class HashGate:
    """At most ``limit`` password hashes run at once in this process, at most ``queue``
    callers wait (each at most ``wait`` seconds) and the rest are turned away at once with
    ``Busy``, so a burst of sign-ins can neither take every CPU from the chat nor pile up
    threads. Plain ``threading`` semaphores: one for running, one for admission."""

    def __init__(self, limit: int, *, queue: int | None = None, wait: float = 5.0) -> None:
        self.limit = limit
        self.wait = wait
        self._running = threading.BoundedSemaphore(limit)
        self._admitted = threading.BoundedSemaphore(limit + (4 * limit if queue is None else queue))

    @contextmanager
    def slot(self) -> Iterator[None]:
        """Hold one hashing slot for the block, or raise ``Busy``."""
        if not self._admitted.acquire(blocking=False):
            raise Busy("too many sign-ins at once; try again in a moment", retry_after=1)
        try:
            if not self._running.acquire(timeout=self.wait):
                raise Busy("too many sign-ins at once; try again in a moment", retry_after=1)
            try:
                yield
            finally:
                self._running.release()
        finally:
            self._admitted.release()


DEFAULT_GATE = HashGate(1)


def hash_password(password: str, *, gate: HashGate | None = None) -> str:
    with (gate or DEFAULT_GATE).slot():
        return _hasher.hash(password)


def verify_password(password_hash: str, password: str, *, gate: HashGate | None = None) -> bool:
    with (gate or DEFAULT_GATE).slot():
        try:
            return _hasher.verify(password_hash, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False


def needs_rehash(password_hash: str) -> bool:
    """Whether the hash was made with weaker parameters than today's defaults."""
    try:
        return _hasher.check_needs_rehash(password_hash)
    except InvalidHashError:
        return True


@cache
def dummy_hash() -> str:
    """A hash of nothing anyone knows: unknown emails are verified against it, so they
    take as long as known ones and the answer time does not tell which emails exist."""
    return _hasher.hash(string.ascii_letters)


@cache
def common_passwords() -> frozenset[str]:
    """The 10,000 most common passwords (bundled, lower case)."""
    text = resources.files("crm.users").joinpath("common_passwords.txt").read_text("utf-8")
    return frozenset(line.strip().lower() for line in text.splitlines() if line.strip())


def check_password(password: str, *, email: str) -> None:
    """Raise ``ValidationFailed`` unless ``password`` may be used by the user ``email``: at
    least 12 and at most 128 characters, not one of the 10,000 most common passwords (nor
    one with digits or symbols added around it), not containing the email or its name."""
    if len(password) < MIN_LENGTH:
        raise ValidationFailed(f"password must be at least {MIN_LENGTH} characters")
    if len(password) > MAX_LENGTH:
        raise ValidationFailed(f"password must be at most {MAX_LENGTH} characters")
    lowered = password.lower()
    common = common_passwords()
    if lowered in common or lowered.strip(_EDGES) in common:
        raise ValidationFailed(
            "this password is too common (one of the 10,000 passwords attackers try first)"
        )
    address = email.strip().lower()
    name = address.split("@", 1)[0]
    if address and (address in lowered or (len(name) >= 3 and name in lowered)):
        raise ValidationFailed("password must not contain the email address or its name part")

"""Failed sign-ins, counted in the database per account and per client address, so that
the limits hold across every server process sharing the database."""

from __future__ import annotations

import datetime as dt
import ipaddress
import math
from dataclasses import dataclass

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from crm.db import as_utc, utcnow
from crm.models import LoginFailure


@dataclass(frozen=True)
class Limits:
    """At most ``per_account`` failures for one email and ``per_address`` from one client
    address within ``window``; past that, sign-ins wait until old failures age out."""

    per_account: int
    per_address: int
    window: dt.timedelta


def account_key(email: str) -> str:
    return "account:" + email.strip().lower()[:254]


def address_key(address: str | None) -> str:
    """The client address; an IPv6 address counts as its /64 (one subscriber's network)."""
    if not address:
        return "address:unknown"
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return "address:" + address[:64]
    if ip.version == 6:
        return f"address:{ipaddress.ip_network(f'{ip}/64', strict=False)}"
    return f"address:{ip}"


def retry_after(
    session: Session,
    *,
    email: str,
    address: str | None,
    limits: Limits,
    now: dt.datetime | None = None,
) -> int | None:
    """Seconds until a sign-in for ``email`` from ``address`` may be tried again, or None
    when it may be tried now."""
    now = now or utcnow()
    waits = [
        _wait(session, account_key(email), limits.per_account, limits.window, now),
        _wait(session, address_key(address), limits.per_address, limits.window, now),
    ]
    found = [w for w in waits if w is not None]
    return max(found) if found else None


def _wait(
    session: Session, key: str, limit: int, window: dt.timedelta, now: dt.datetime
) -> int | None:
    # The limit-th most recent failure in the window: once it ages out, fewer than
    # ``limit`` remain and the key may try again.
    at = session.scalar(
        select(LoginFailure.at)
        .where(LoginFailure.key == key, LoginFailure.at > now - window)
        .order_by(LoginFailure.at.desc())
        .offset(limit - 1)
        .limit(1)
    )
    if at is None:
        return None
    return max(1, math.ceil((as_utc(at) + window - now).total_seconds()))


def record_failure(
    session: Session,
    *,
    email: str,
    address: str | None,
    limits: Limits,
    now: dt.datetime | None = None,
) -> None:
    """Count one failed sign-in against the account and the address; forget failures
    that no longer count for anything."""
    now = now or utcnow()
    session.add_all(
        [
            LoginFailure(key=account_key(email), at=now),
            LoginFailure(key=address_key(address), at=now),
        ]
    )
    session.execute(delete(LoginFailure).where(LoginFailure.at <= now - limits.window))
    session.flush()


def clear_account(session: Session, *, email: str) -> None:
    """A successful sign-in forgets the account's failures (not the address's)."""
    session.execute(delete(LoginFailure).where(LoginFailure.key == account_key(email)))

"""Signed customer references for channel deep links (e.g. ``t.me/<bot>?start=<token>``).

A link token names one CRM customer and carries an HMAC of it, so a customer who opens the
link is attached to their record, and nobody can guess a token for someone else's record.
Telegram allows 64 characters from ``[A-Za-z0-9_-]`` in a ``/start`` payload; tokens fit.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re

_TOKEN = re.compile(r"^c(\d{1,18})_([A-Za-z0-9_-]{22})$")


def _signature(customer_id: int, secret: str) -> str:
    digest = hmac.new(secret.encode(), f"link:{customer_id}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode()[:22]


def link_token(customer_id: int, secret: str) -> str:
    """The deep-link payload for ``customer_id``."""
    if customer_id <= 0:
        raise ValueError("customer ids are positive")
    return f"c{customer_id}_{_signature(customer_id, secret)}"


def parse_link_token(token: str, secret: str) -> int | None:
    """The customer id in a valid token, or None for anything forged or malformed."""
    match = _TOKEN.match(token.strip())
    if match is None:
        return None
    customer_id = int(match.group(1))
    if not hmac.compare_digest(match.group(2), _signature(customer_id, secret)):
        return None
    return customer_id


_WEB_TOKEN = re.compile(r"^([A-Za-z0-9._:@+-]{1,64})\.(\d{1,12})\.([A-Za-z0-9_-]{43})$")


def _web_signature(external_id: str, expires: int, secret: str) -> str:
    message = f"web-login:{external_id}.{expires}".encode()
    digest = hmac.new(secret.encode(), message, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def web_login_token(external_id: str, secret: str, *, expires: int) -> str:
    """A token the shop's own site signs for a logged-in customer and hands to the web chat:
    ``<customer external id>.<expiry, Unix seconds>.<HMAC-SHA256, base64url>``."""
    if not re.fullmatch(r"[A-Za-z0-9._:@+-]{1,64}", external_id):
        raise ValueError("the customer's external id must be 1-64 of A-Z a-z 0-9 . _ : @ + -")
    return f"{external_id}.{expires}.{_web_signature(external_id, expires, secret)}"


def parse_web_login_token(token: str, secret: str, *, now: float) -> str | None:
    """The customer's external id in a valid, unexpired token; None for anything else."""
    match = _WEB_TOKEN.match(token.strip())
    if match is None:
        return None
    external_id, expires = match.group(1), int(match.group(2))
    if expires < now:
        return None
    expected = _web_signature(external_id, expires, secret)
    return external_id if hmac.compare_digest(match.group(3), expected) else None

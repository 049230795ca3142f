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

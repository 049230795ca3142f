"""Campaign messages: sandboxed Jinja2 templates, offer codes and the control-group draw.

Templates run in Jinja2's immutable sandbox with ``StrictUndefined`` and bounded costs (see
:mod:`crm.campaigns.templating`): only the documented variables exist, attribute tricks
raise ``SecurityError``, and a template that does not parse, names an unknown variable,
fails on a sample customer or goes over a limit of a render (loops, sizes, output, time) is
refused when the campaign is saved or previewed, so sending never meets a broken template.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from typing import Any

import numpy as np
from jinja2 import TemplateError, meta

from careloop.errors import ValidationFailed
from crm.campaigns import templating
from crm.campaigns.templating import TemplateLimit
from crm.models import Campaign, Customer

MAX_TEXT = 4000
VARIABLES = {
    "first_name": "first name, or an empty string",
    "last_name": "last name, or an empty string",
    "name": 'first name, else "there" (for greetings)',
    "segment": "RFM segment, e.g. At risk",
    "clv": "predicted lifetime value, e.g. 120.50",
    "churn_risk": "low, medium or high",
    "offer_code": "the offer code (shared or unique to the customer)",
    "campaign": "the campaign's name",
}
SAMPLES: list[dict[str, Any]] = [
    {
        "first_name": "Ann",
        "last_name": "Lee",
        "name": "Ann",
        "segment": "At risk",
        "clv": "120.50",
        "churn_risk": "high",
        "offer_code": "SAVE-7KQ2XR4M",
        "campaign": "Sample",
    },
    {
        "first_name": "",
        "last_name": "",
        "name": "there",
        "segment": "",
        "clv": "",
        "churn_risk": "",
        "offer_code": "",
        "campaign": "Sample",
    },
]


def validate_template(source: str) -> str:
    """``source`` if it is a usable template; raises :class:`ValidationFailed` otherwise
    (also when rendering it would go over a limit of :mod:`crm.campaigns.templating`)."""
    if not isinstance(source, str) or not source.strip():
        raise ValidationFailed("template: write the message text")
    try:
        parsed = templating.ENVIRONMENT.parse_bounded(source)
        named = meta.find_undeclared_variables(parsed)  # (compiles: an unknown filter fails)
    except TemplateLimit as exc:
        raise ValidationFailed(f"template: {exc}") from None
    except TemplateError as exc:
        line = getattr(exc, "lineno", None)
        where = f" (line {line})" if line else ""
        raise ValidationFailed(f"template{where}: {exc.message or exc}") from None
    unknown = sorted(named - set(VARIABLES))
    if unknown:
        raise ValidationFailed(
            f"template: unknown variable(s) {', '.join(unknown)}; available: {', '.join(VARIABLES)}"
        )
    for sample in SAMPLES:
        try:
            text = templating.render(source, sample)
        except TemplateLimit as exc:
            raise ValidationFailed(f"template: {exc}; make it simpler") from None
        except Exception as exc:  # SecurityError, UndefinedError, TypeError, ...
            raise ValidationFailed(f"template: fails to render: {exc}") from None
        if len(text) > MAX_TEXT:
            raise ValidationFailed(f"template: renders longer than {MAX_TEXT} characters")
    return source


def context(customer: Customer, campaign: Campaign, offer_code: str | None) -> dict[str, Any]:
    return {
        "first_name": customer.first_name or "",
        "last_name": customer.last_name or "",
        "name": customer.first_name or "there",
        "segment": customer.rfm_segment or "",
        "clv": f"{customer.clv:.2f}" if customer.clv is not None else "",
        "churn_risk": customer.churn_risk.value if customer.churn_risk else "",
        "offer_code": offer_code or "",
        "campaign": campaign.name,
    }


def render(source: str, values: dict[str, Any]) -> str:
    """The message text; empty or over-long results are errors (never sent)."""
    text = templating.render(source, values).strip()
    if not text:
        raise ValueError("the template rendered an empty message")
    return text[:MAX_TEXT]


def offer_code_for(campaign: Campaign, customer_id: int, secret: str) -> str | None:
    """The shared code, or a per-customer code ``PREFIX-XXXXXXXX`` derived with HMAC from
    the secret key, campaign and customer, so a re-planned run gives the same code."""
    if not campaign.unique_codes:
        return campaign.offer_code
    prefix = (campaign.offer_code or f"C{campaign.id}").upper()
    digest = hmac.new(
        secret.encode(), f"offer:{campaign.id}:{customer_id}".encode(), hashlib.sha256
    ).digest()
    return f"{prefix}-{base64.b32encode(digest[:5]).decode()}"


# -- the control group ----------------------------------------------------------------------

_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)


def _mix(x: np.ndarray) -> np.ndarray:
    """SplitMix64's finaliser: a fast, well-spread 64-bit hash."""
    with np.errstate(over="ignore"):
        x = x + _GOLDEN
        x = (x ^ (x >> np.uint64(30))) * _M1
        x = (x ^ (x >> np.uint64(27))) * _M2
        mixed: np.ndarray = x ^ (x >> np.uint64(31))
        return mixed


def draw(campaign_id: int, customer_ids: np.ndarray) -> np.ndarray:
    """A number in [0, 10000) per customer, fixed for the campaign and customer."""
    keys = (np.uint64(campaign_id) << np.uint64(32)) ^ customer_ids.astype(np.uint64)
    return (_mix(keys) % np.uint64(10_000)).astype(np.int64)


def in_control(campaign_id: int, control_percent: float, customer_ids: np.ndarray) -> np.ndarray:
    """True for the customers held out: ``control_percent`` % of them, deterministically
    (the same customer is always in the same group of the same campaign)."""
    return draw(campaign_id, customer_ids) < round(control_percent * 100)

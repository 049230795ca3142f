"""Text every database stores alike: no NUL characters, no unpaired UTF-16 surrogates.

PostgreSQL refuses a NUL (``\\x00``) in any text, and no driver can encode a lone surrogate
(``\\ud800``, which JSON's ``\\u`` escapes can carry) as UTF-8, while SQLite takes the
first. Input that people can correct (API bodies, forms, CSV cells) is refused with the
reason from :func:`unstorable`; input no one can be asked to resend (a Telegram update) is
made storable with :func:`storable`.
"""

from __future__ import annotations

NUL = "\x00"
REPLACEMENT = "\ufffd"


def unstorable(value: str) -> str | None:
    """Why ``value`` cannot be stored as text, or None when it can."""
    if NUL in value:
        return "contains a NUL character (\\u0000)"
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return (
                "contains an unpaired UTF-16 surrogate (\\ud800-\\udfff), which is not Unicode text"
            )
    return None


def storable(value: str) -> str:
    """``value`` without NUL characters, each unpaired surrogate replaced by U+FFFD."""
    if NUL in value:
        value = value.replace(NUL, "")
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            # Through UTF-16: a split pair joins again, a lone half becomes U+FFFD.
            value = value.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")
    return value

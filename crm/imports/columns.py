"""What an import file may hold: the header names of each field, the delimiters and the
value formats accepted (read by the importer, and by ``careloop import --help``; nothing
here imports more than the standard library, so the command line starts fast)."""

from __future__ import annotations

CUSTOMER_COLUMNS: dict[str, tuple[str, ...]] = {
    "external_id": ("external_id", "customer_id", "customer_number", "id"),
    "email": ("email", "e_mail", "mail", "email_address"),
    "phone": ("phone", "phone_number", "mobile", "telephone", "tel"),
    "first_name": ("first_name", "firstname", "given_name"),
    "last_name": ("last_name", "lastname", "surname", "family_name"),
    "birthday": ("birthday", "birth_date", "date_of_birth", "dob"),
    "timezone": ("timezone", "time_zone", "tz"),
    "locale": ("locale", "language"),
    "marketing_consent": ("marketing_consent", "consent", "opt_in", "newsletter"),
    "tags": ("tags", "labels"),
    "created_at": ("created_at", "signup_date", "registered_at", "customer_since"),
}
ORDER_COLUMNS: dict[str, tuple[str, ...]] = {
    "external_id": ("order_id", "external_id", "order_number", "id"),
    "customer_external_id": ("customer_id", "customer_external_id", "customer_number"),
    "customer_email": ("customer_email", "email"),
    "ordered_at": ("ordered_at", "order_date", "date", "created_at", "purchased_at"),
    "total_amount": ("total_amount", "amount", "total", "revenue", "value"),
    "currency": ("currency",),
    "status": ("status", "order_status"),
    "items_count": ("items_count", "items", "quantity", "qty"),
    "offer_code": ("offer_code", "coupon", "promo_code", "voucher"),
}
# The values of crm.models.OrderStatus (tests/test_first_run.py keeps the two the same).
ORDER_STATUSES = ("placed", "paid", "shipped", "delivered", "cancelled", "returned")

DELIMITERS = {",": "comma", ";": "semicolon", "\t": "tab", "|": "pipe"}
"""The delimiters a file may use; the header line says which one (``csv.Sniffer``)."""

DATE_FORMATS = (
    "YYYY-MM-DD, YYYY-MM-DD HH:MM[:SS] or YYYY-MM-DDTHH:MM[:SS], each with an optional "
    "Z or offset such as +02:00 (none means UTC), or DD.MM.YYYY"
)
AMOUNT_FORMATS = "49.90 or 49,90, a currency sign or code allowed (€, $, £, EUR, USD, GBP)"
YES_NO = "yes/no, true/false, y/n, t/f, on/off, 1/0 (empty: not given)"

# Field: (what it is, its format), in the order --help lists them.
_CUSTOMER_RULES = {
    "external_id": ("customer id", "up to 64 characters"),
    "email": ("email", "an address; stored in lower case"),
    "phone": (
        "phone",
        "+49 30 1234567, or national in CARELOOP_IMPORT_DEFAULT_REGION; stored as E.164",
    ),
    "first_name": ("first name", "up to 100 characters"),
    "last_name": ("last name", "up to 100 characters"),
    "birthday": ("birthday", "YYYY-MM-DD or DD.MM.YYYY, 1900 to today"),
    "timezone": ("time zone", "an IANA name such as Europe/Berlin"),
    "locale": ("locale", "e.g. de or en-GB"),
    "marketing_consent": ("marketing consent", YES_NO),
    "tags": ("tags", "separated by ; or |"),
    "created_at": ("signup date", "a date as above"),
}
_ORDER_RULES = {
    "external_id": ("order id (required)", "the key for re-imports"),
    "customer_external_id": ("customer id", "an imported customer's id"),
    "customer_email": ("or customer email", "an imported customer's email (one is required)"),
    "ordered_at": ("order date (required)", "a date as above"),
    "total_amount": ("amount (required)", AMOUNT_FORMATS),
    "currency": ("currency", "3 letters (default EUR)"),
    "status": ("status", f"{', '.join(ORDER_STATUSES)} (default delivered)"),
    "items_count": ("items", "a positive number (default 1)"),
    "offer_code": ("offer code", "for campaign attribution"),
}
_KINDS = {"customers": (CUSTOMER_COLUMNS, _CUSTOMER_RULES), "orders": (ORDER_COLUMNS, _ORDER_RULES)}


def describe(kind: str) -> str:
    """The accepted columns of a ``kind`` file (customers or orders), one line each."""
    columns, rules = _KINDS["customers" if kind == "customers" else "orders"]
    return "\n".join(
        f"  {rules[field][0]}: {', '.join(names)} -- {rules[field][1]}"
        for field, names in columns.items()
    )


def delimiter_name(delimiter: str) -> str:
    return DELIMITERS.get(delimiter, repr(delimiter))

"""Entities in a customer's message: order numbers, emails, phones, money amounts and dates.

Order numbers follow the shop's own id shapes: a list of regular expressions, each with one
capture group for the id (``CARELOOP_ORDER_ID_PATTERNS`` replaces the defaults). The defaults
read the shapes careloop's imports and demo data use: a letter ``O`` and digits
(``O0001234``), ``#12345``, and an id after a keyword (``order 55821``, ``order no. 55821``,
``Order-Nr. 55821``, ``Bestellung 55821``, ``commande 55821``, ``zamówienie 55821``,
``заказ 58841``, ``注文#62018``) or a bare number after "where is" / "status of" / "any
update on" (``where is 57790``), also typed with a space in its digits (``O0001 187``,
``encomenda 66 190``). Phones are found by
``phonenumbers``' matcher (valid numbers only, in the shop's default region); emails,
amounts and dates by plain patterns. Spans never overlap: an earlier kind wins (email,
order, phone, money, date).

Positions refer to the text without invisible characters (zero-width spaces, soft hyphens)
and, when it has non-ASCII characters, in Unicode NFKC form (full-width letters and digits
read as ASCII ones). Extraction never fails a message: an error inside it logs once a minute
and yields no entities, and at most ``max_entities`` are returned, so a 4,000-character
message or one full of numbers costs a few milliseconds.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import time
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

import phonenumbers

from nlp.base import plain_text

log = logging.getLogger(__name__)

ORDER, EMAIL, PHONE, MONEY, DATE = "order", "email", "phone", "money", "date"
ENTITY_TYPES = (ORDER, EMAIL, PHONE, MONEY, DATE)

DEFAULT_ORDER_PATTERNS: tuple[str, ...] = (
    # an id after a keyword: "order 55821", "order no. 55821", "Order-Nr. O-5582", "order #123"
    # (and the word for an order in the customers' languages: "Bestellung 55821", "commande
    # n° 55821", "pedido 55821", "l'ordine 55821", "bestelling 55821", "zamówienie 55821")
    # (also a German compound, "Gastbestellung 71120", and Greek typed in Latin letters,
    # "i paraggelia 52290")
    r"(?i:\b(?:orders?|\w*bestellung|bestellnummer|auftrag|commande|pedido|ordine|bestelling|"
    r"paraggeli(?:a|as|es)|"
    r"bestelnummers?|ordernummers?|zam[oó]wieni[aeu]|sipari[sş]\w{0,4}|encomenda|best[aä]llning|"
    # (the abbreviations "Bestellnr. 55821", "Bestell-Nr.", "bestelnr", "Auftragsnr.")
    r"bestell?(?=[\s-]*nr)|auftrags(?:nummer|nr)|"
    # (Danish and Norwegian "ordrenummer 44102", Czech "objednávku číslo 44102")
    r"ordre(?:nummer|nr)?|objedn[aá]v(?:k[aeuy]|ce)|"
    # (Finnish "Tilaus 63912", "tilausnumero 63912"; Czech "Obj. 64520")
    r"tilaus(?:numero|nro)?|tilaukse(?:ni|si|n)|obj(?=\.\s*\d)|"
    # (Romanian "comanda 73408", "comanda nr. 73408"; Hungarian "rendelésem száma 40331")
    r"comand[aă](?:\s+mea)?|rendel[eé]s(?:em|sz[aá]m|e)?(?:\s+sz[aá]ma)?)"
    r"(?:[\s-]*(?:no|nr|number|num|id|nummer|n[°º]|num[eé]ro|[čc][ií]slo|numara(?:m|s[ıi])?|"
    r"n(?=\.)))?"
    r"\.?[\s:#-]*(?:(?:is|was|are|were)\s+)?)"
    # (the id, also typed with a space in its digits on a phone: "encomenda 66 190")
    r"(\d{2,3}(?: \d{3})+(?![\d.,])(?!\s?(?i:€|eur|euro|\$|£|usd|gbp|chf|pln|sek|try))|"
    # (not a postcode written with a hyphen: "the postcode on the order is 31-042")
    r"(?!\d{2,4}-\d{3}\b)(?=[A-Za-z-]{0,3}\d)[A-Za-z0-9][A-Za-z0-9-]{2,23}[A-Za-z0-9])\b",
    # the word for an order in scripts without spaces or capitals of the Latin kind
    # ("где мой заказ 58841", "ההזמנה 63377", "注文#62018はいつ届きますか", "订单号 12345",
    # "رقم الطلب 12345"): Japanese and Chinese run on without a space, so no word boundary
    r"(?i:(?:заказ\w{0,2}|ה?הזמנה|注文(?:番号)?|订单(?:号)?|(?:ال)?طلب(?:ية)?|παραγγελ[ίι]\w{0,2}(?:\s+μου)?)"
    # ("№" reaches the patterns as "No": the text is read in NFKC form)
    r"(?:\s*(?:no\.?|nr\.?|номер|מספר|رقم))?[\s:#-]*)(\d{3,12})(?!\d)",
    # Turkish and Hungarian put the number first: "60417 numaral\u0131 sipari\u015fim", "60417
    # nolu siparisim", "a 40331 sz\u00e1m\u00fa rendel\u00e9sem"
    r"(?<![\dA-Za-z])(\d{5,10})(?=\s*(?i:(?:numaral[ıi]|no'?\.?lu)\s+sipari[sş]|"
    r"sz[aá]m[uú]\s+rendel[eé]s))",
    # "#12345" (also before a letter of a script without spaces: "#62018はいつ")
    r"#\s?(\d{3,12})(?![\dA-Za-z])",
    # a bare number right after "where is" / "status of" / "any update on": "where is 57790?"
    # (also "wo bleibt eigentlich 60417?", "waar blijft 57790?", "où en est 55821 ?"; not a
    # postcode before its town)
    r"(?i:\b(?:where\s+is|where'?s|status(?:\s+(?:of|for))?|(?:updates?|news)\s+(?:on|about|"
    r"for)|wo\s+(?:ist|bleibt)(?:\s+(?:eigentlich|denn|nun|jetzt))?|waar\s+(?:is|blijft)|"
    r"o[uù]\s+(?:est|en\s+est)|d[oó]nde\s+est[aá]|dov'?\s?[eè]|gdzie\s+jest|"
    # ("Our office delivery 60417 only had half of the monitor stands in it")
    r"(?:our|my|the|office)\s+delivery)\s+)(\d{5,10})\b"
    r"(?![.,]\d)(?!\s+[A-ZÄÖÜÅ][a-zäöüßå]{2,})",
    # ... or between "where" and its verb: "asking where 55821 is"
    r"(?i:\bwhere\s+)(\d{5,10})(?=\s+(?:is|was|went|has\s+got)\b)",
    # ... or right after an order request: "cancel 55821", "return for 55821", "can I change
    # the delivery address for 71120?", "charged twice for 55821", "the invoice for 55821"
    r"(?i:\b(?:(?:cancel|return|refund|track|annuler|cancelar|annullare|annuleer|annuleren|"
    r"anuluj|anulowa[cć]|stornier\w*)(?:\s+(?:for|of|on))?|(?:address|charged?|"
    r"payment|paid|billed|invoice|receipt|points)(?:\s+(?:twice|double|two times|(?:€|\$|£)?\d{1,4}"
    r"(?:[.,]\d{2})?\s?(?:€|eur|euros?|\$|£)?))?\s+(?:for|of|on))\s+)"
    r"(\d{5,10})\b"
    r"(?![.,]\d)",
    # ... or after the word for a return or a refund in the customers' languages: "die
    # Rücksendung zu 48213", "mijn retour van 48213", "el reembolso del 52290" (not an amount)
    r"(?i:\b(?:r(?:ü|ue)cksendung|retoure|retour(?:zending)?|devoluci[oó]n|reso|zwrot\w*|"
    r"retur(?:en)?|devolu[cç][aã]o|remboursement|rimborso|reembolso|r(?:ü|ue)ckerstattung|"
    r"erstattung|terugbetaling)(?:\s+(?:zu|von|f(?:ü|ue)r|der|van|voor|de|du|del|della|di|per|"
    r"dla|do|av|f[oö]r|till|on|for|of))?\s+)(\d{5,10})\b(?![.,]\d)"
    r"(?!\s?(?i:€|eur|euros?|\$|£|z[lł]|pln|kr|sek|chf))(?!\s+[A-ZÄÖÜÅ][a-zäöüßå]{2,})",
    # ... or right before its delivery: "when 68790 is arriving", "has 40331 shipped yet?"
    r"(?i:\b(?:when|whether|if|has|have)\s+(?:will\s+|does\s+|is\s+)?)(\d{5,10})\b"
    r"(?=\s+(?:is\s+|will\s+|gets?\s+|be\s+|was\s+|were\s+|has\s+been\s+)?"
    r"(?:arriv|ship|deliver|com(?:e|ing)\b|here\b))",
    # ... or after the word for a parcel: "komt mijn pakket 57790 nog voor kerst aan?" (a
    # carrier's tracking number is longer: JJD…, 1Z…, 12 digits and more)
    r"(?i:\b(?:parcel|package|pakket|paket|colis|paquete|pacco|paczk[aię]|pacote)\s+"
    r"(?:(?:no|nr|number)\.?\s*|#\s*)?)(\d{5,8})\b(?![.,]\d)(?!\s+[A-ZÄÖÜ][a-zäöüß]{2,})",
    # ... or after the word for "number" opening a sentence of a message about an order:
    # "Kann ich meine Bestellung vom Sonntag noch stornieren? Nummer 61934."
    # (also in Danish and Norwegian, further on: "Jeg har to bestillinger hos dere, … Når kan
    # jeg regne med den siste? Nummeret er 73342.", "un pedido que hizo mi hija, el número es
    # el 71120")
    r"(?is:\b(?:order|bestellung|commande|pedido|ordine|bestelling|zam[oó]wieni[aeu]|"
    r"sipari[sş]\w{0,4}|encomenda|best[aä]llning|ordre|objedn[aá]vk\w|bestilling\w{0,3}|"
    # (and a parcel: "I would like to ask where is my parcel, the number is 62115")
    r"parcel|package|paket|pakket|colis|paquete|pacco|bal[ií]k|paketti)\b"
    r".{0,200}?[.?!,;:]\s*(?:(?:the|el|le|il|o|das|die|het|de)\s+)?(?:nummer(?:et)?|number|"
    r"n[uú]m[eé]ro|numer|numara(?:m|s[ıi])?|[čc][ií]slo|numret)"
    r"(?:\s+(?:er|är|is|es|est|è|é|ist)(?:\s+(?:el|le|il|o))?)?\s*:?\s*)"
    r"(\d{5,10})\b(?![.,]\d)(?!\s?\d)",
    # ... or "it's" and the number ending a message about an order: "Please cancel my order
    # before it ships, I found it cheaper elsewhere. It's 71340."
    r"(?is:\border\b.{0,200}?[.?!,;:]\s*(?:it'?s|it is|that'?s|that is)\s+#?)"
    r"(\d{5,10})(?=\s*[.!]?\s*$)",
    # ... or after a few words that end in "is": "the order number he wrote down is 61902"
    r"(?i:\border\s+(?:number|no\.?|nr\.?)\s+(?:[^\W\d_]+\s+){1,4}?(?:is|was)\s*:?\s*)"
    r"(\d{5,10})\b(?![.,]\d)",
    # ... or after an address change in the customers' languages: "byta adress på 72991 till
    # Storgatan 5" (not a postcode before its town: "Adresse: 10115 Berlin")
    r"(?i:\b(?:adress|adresse|adres|direcci[oó]n|indirizzo|endere[cç]o)\s+(?:p[aå]|f[uü]r|"
    r"von|pour|de|du|para|del|per|dell'ordine|voor|van|dla|da|do)\s+)(\d{5,10})\b(?![.,]\d)"
    r"(?!\s+[A-ZÄÖÜÅ][a-zäöüßå]{2,})",
    # ... or a second id joined to the first: "order 70114 and 70115", "Bestellung 55821 und
    # 55822"
    # (and "The orders are 72964 and 72965", "cancel 73590 and 73591")
    r"(?i:\b(?:orders?|bestellung(?:en)?|commandes?|pedidos?|ordini|ordine|bestellingen|"
    r"bestelling|bestelnummers|ordernummers|order numbers|bestellnummern|encomendas?|cancel|"
    r"stornier\w*|annuler|cancelar|annullare|annuleer|anuluj)"
    r"\s+(?:(?:are|were|sind|waren|sont|son|sono|zijn)\s+)?"
    r"(?:no\.?\s*|number\s*|nr\.?\s*|#\s*)?\d{5,10}\s*(?:,|and|&|or|"
    r"und|oder|et|ou|y|o|e|en|of)\s*#?\s*)(\d{5,10})\b(?![.,]\d)(?!\s+[A-ZÄÖÜÅ][a-zäöüßå]{2,})",
    # ... or before the verb, as German has it: "kann ich 55821 noch stornieren?"
    r"(?<![\w.,/@+-])(\d{5,10})(?![.,]?\d)(?=(?:\s+\w+){0,2}\s+(?i:stornier|zur(?:ü|ue)ck(?:geben|"
    r"schicken|senden)|umtauschen))",
    # the shop's own "O" + digits ids as imported: O0001234 (also in "注文O0001234は"), and
    # typed with a space in its digits ("O0001 187")
    r"(?<![\dA-Za-z])([Oo](?=(?:\d ?){5,12}(?![\dA-Za-z]))\d+ \d+)(?![\dA-Za-z])",
    r"(?<![\dA-Za-z])([Oo]\d{5,12})(?![\dA-Za-z])",
)

_EMAIL = re.compile(
    r"(?<![\w.+-])[A-Za-z0-9](?:[A-Za-z0-9._%+'-]{0,62}[A-Za-z0-9_%+'-])?"
    r"@[A-Za-z0-9](?:[A-Za-z0-9-]{0,62}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,62}"
    r"[A-Za-z0-9])?)*\.[A-Za-z]{2,24}\b"
)
_CURRENCY_CODES = {"€": "EUR", "$": "USD", "£": "GBP", "eur": "EUR", "euro": "EUR"}
_CUR = r"(?:€|\$|£|EUR|USD|GBP|CHF|eur|usd|gbp|chf|euros?|Euros?|dollars?|pounds?)"
_AMOUNT = r"\d{1,3}(?:[.,\s]\d{3})*(?:[.,]\d{1,2})?|\d{1,9}(?:[.,]\d{1,2})?"
_MONEY = re.compile(
    rf"(?<![\w.,])(?:{_CUR}\s?(?P<a1>{_AMOUNT})|(?P<a2>{_AMOUNT})\s?{_CUR}(?![A-Za-z]))"
)
# A bare amount with two decimals, after a word that talks about money ("charged 4.99").
_BARE_MONEY = re.compile(
    r"(?i:\b(?:charged?|paid|pay|cost|costs|price|priced|fee|refund(?:ed)?|extra|total|"
    r"amount|bill(?:ed)?|debited|deducted)\b[^\d\n]{0,12})(?P<a1>\d{1,7}[.,]\d{2})(?![\d.,]*\d)"
)
_MONTHS = {
    name: i + 1
    for i, names in enumerate(
        (
            ("january", "jan", "januar"),
            ("february", "feb", "februar"),
            ("march", "mar", "märz", "maerz"),
            ("april", "apr"),
            ("may", "mai"),
            ("june", "jun", "juni"),
            ("july", "jul", "juli"),
            ("august", "aug"),
            ("september", "sep", "sept"),
            ("october", "oct", "oktober", "okt"),
            ("november", "nov"),
            ("december", "dec", "dezember", "dez"),
        )
    )
    for name in names
}
_MONTH = "|".join(sorted(_MONTHS, key=len, reverse=True))
_WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_DATE_PATTERNS = (
    ("iso", re.compile(r"\b(?P<y>\d{4})-(?P<m>\d{1,2})-(?P<d>\d{1,2})\b")),
    # 12.05.2026, 12/05/26, 12.05. (day first, as in Europe)
    (
        "dmy",
        re.compile(
            r"(?<![\d.,/])(?P<d>\d{1,2})(?P<sep>[./])(?P<m>\d{1,2})"
            r"(?:(?P=sep)(?P<y>\d{4}|\d{2})\b|\.(?!\d))"
        ),
    ),
    (
        "d_month",
        re.compile(
            rf"(?i)\b(?P<d>\d{{1,2}})(?:st|nd|rd|th)?\.?(?:\s+of)?\s+(?P<mn>{_MONTH})\.?"
            rf"(?:,?\s+(?P<y>\d{{4}}))?\b"
        ),
    ),
    (
        "month_d",
        re.compile(
            rf"(?i)\b(?P<mn>{_MONTH})\.?\s+(?P<d>\d{{1,2}})(?:st|nd|rd|th)?\b"
            rf"(?:,?\s+(?P<y>\d{{4}})\b)?"
        ),
    ),
    ("relative", re.compile(r"(?i)\b(?P<rel>today|yesterday|tomorrow|tonight)\b")),
    (
        "weekday",
        re.compile(rf"(?i)\b(?P<dir>last|next|this|on)\s+(?P<wd>{'|'.join(_WEEKDAYS)})\b"),
    ),
    (
        "ago",
        re.compile(
            r"(?i)\b(?P<n>\d{1,2}|a|one|two|three|four|five|six|seven|ten)\s+"
            r"(?P<unit>days?|weeks?)\s+ago\b"
        ),
    ),
    ("week", re.compile(r"(?i)\b(?P<dir>last|next|this)\s+week\b")),
)
# Digits and emails as a phone's dictation writes them: "order number oh zero zero zero seven
# zero four zero" (the shop's O0007040), "pedido siete uno uno dos cero", "paul dot schneider
# at example dot de", "julia punto krause arroba example punto de". A run of five or more
# spoken digits is an order id after the word for an order (or when the bot asked for one),
# or anywhere when it starts with "oh", as the shop's own ids do.
_SPOKEN_DIGITS = {
    word: str(digit)
    for digit, words in enumerate(
        (
            ("zero", "cero", "null", "zéro", "nul"),
            ("one", "uno", "eins", "un", "um", "een"),
            ("two", "dos", "zwei", "deux", "due", "dois", "twee"),
            ("three", "tres", "drei", "trois", "tre", "três", "drie"),
            ("four", "cuatro", "vier", "quatre", "quattro", "quatro"),
            ("five", "cinco", "fünf", "cinq", "cinque", "vijf"),
            ("six", "seis", "sechs", "sei", "zes"),
            ("seven", "siete", "sieben", "sept", "sette", "sete", "zeven"),
            ("eight", "ocho", "acht", "huit", "otto", "oito"),
            ("nine", "nueve", "neun", "neuf", "nove", "negen"),
        )
    )
    for word in words
} | {"oh": "0"}
_DIGIT_WORD = "|".join(sorted(_SPOKEN_DIGITS, key=len, reverse=True))
_SPOKEN_ID = re.compile(
    r"(?i)(?:\b(?P<word>order|bestellung|commande|pedido|ordine|bestelling|encomenda|"
    r"zam[oó]wienie)(?:\s+(?:number|no|nr|nummer|num[eé]ro|numer))?\s+)?"
    rf"\b(?P<id>(?:(?:{_DIGIT_WORD})\s+){{4,11}}(?:{_DIGIT_WORD}))\b"
)
_SPOKEN_DOT = r"\s+(?:dot|punto|punkt|point|ponto|kropka)\s+"
_SPOKEN_EMAIL = re.compile(
    rf"(?i)\b(?P<user>[a-z0-9]+(?:{_SPOKEN_DOT}[a-z0-9]+)*)\s+(?:at|arroba|ät|chez|chiocciola|"
    rf"apenstaartje|małpa)\s+(?P<domain>[a-z0-9-]+(?:{_SPOKEN_DOT}[a-z0-9-]+)*{_SPOKEN_DOT}"
    r"[a-z]{2,24})\b"
)
# (a user without a spoken dot only where the message talks of an email: not "looked at
# example dot com")
_EMAIL_WORD = re.compile(r"(?i)\b(?:e-?mail|mail|correo|courriel|adress?e?|address|login)")
_NUMBER_WORDS = {"a": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6}
_NUMBER_WORDS |= {"seven": 7, "ten": 10}
_BARE_ID = re.compile(r"(?<![\w.,/@+-])#?([A-Za-z]{0,3}-?\d{4,12})(?![\w@]|[.,]\d)")


@dataclass(frozen=True, slots=True)
class Entity:
    """One entity: its kind, the text as written, a normalised value and where it stands."""

    type: str
    text: str
    value: str | None
    start: int
    end: int

    def as_dict(self) -> dict[str, Any]:
        return {
            "type": self.type,
            "text": self.text,
            "value": self.value,
            "start": self.start,
            "end": self.end,
        }


class EntityExtractor:
    """Finds entities in one message (thread-safe: it holds compiled patterns only)."""

    def __init__(
        self,
        order_patterns: Sequence[str] = DEFAULT_ORDER_PATTERNS,
        *,
        region: str = "DE",
        max_entities: int = 20,
    ) -> None:
        self.order_patterns = [re.compile(p) for p in order_patterns]
        for pattern in self.order_patterns:
            if pattern.groups < 1:
                raise ValueError(
                    f"order-number pattern {pattern.pattern!r} needs a capture group for the id"
                )
        self.region = region
        self.max_entities = max_entities
        self._last_error_log = 0.0

    def extract(
        self, text: str, *, expect: str | None = None, today: dt.date | None = None
    ) -> list[Entity]:
        """The entities in ``text``, in order of position.

        ``expect="order"`` (the bot just asked for an order number) also reads a bare id such
        as ``55821`` or ``A-77812`` as an order number. ``today`` resolves relative dates.
        """
        try:
            return self._extract(text, expect=expect, today=today or dt.date.today())
        except Exception:  # entity extraction never fails a message
            now = time.monotonic()
            if now - self._last_error_log > 60:
                self._last_error_log = now
                log.exception("nlp.entities.failed length=%d", len(text))
            return []

    def _extract(self, raw: str, *, expect: str | None, today: dt.date) -> list[Entity]:
        text = plain_text(raw)
        found: list[Entity] = []
        taken: list[tuple[int, int]] = []

        def add(kind: str, start: int, end: int, value: str | None) -> None:
            if any(start < e and s < end for s, e in taken):
                return
            taken.append((start, end))
            found.append(Entity(kind, text[start:end], value, start, end))

        for m in _EMAIL.finditer(text):
            add(EMAIL, m.start(), m.end(), normalise_email(m.group()))
        for pattern in self.order_patterns:
            for m in pattern.finditer(text):
                add(ORDER, m.start(1), m.end(1), normalise_order(m.group(1)))
        if expect == ORDER:
            for m in _BARE_ID.finditer(text):
                add(ORDER, m.start(1), m.end(1), normalise_order(m.group(1)))
        for m in _SPOKEN_EMAIL.finditer(text):
            user, domain = (re.split(_SPOKEN_DOT, m.group(g)) for g in ("user", "domain"))
            if len(user) == 1 and not _EMAIL_WORD.search(text):
                continue
            add(EMAIL, m.start(), m.end(), normalise_email(f"{'.'.join(user)}@{'.'.join(domain)}"))
        for m in _SPOKEN_ID.finditer(text):
            words = m.group("id").lower().split()
            lettered = words[0] == "oh" and len(words) >= 6
            if lettered or m.group("word") or expect == ORDER:
                digits = "".join(_SPOKEN_DIGITS[w] for w in words[lettered:])
                add(ORDER, m.start("id"), m.end("id"), ("O" if lettered else "") + digits)
        for start, end, value in self._phones(text):
            add(PHONE, start, end, value)
        for pattern in (_MONEY, _BARE_MONEY):
            for m in pattern.finditer(text):
                group = "a1" if m.group("a1") else "a2"
                amount = _amount(m.group(group))
                if amount is not None:
                    start = m.start() if pattern is _MONEY else m.start(group)
                    add(MONEY, start, m.end(), f"{amount} {_currency(m.group())}".strip())
        for kind, pattern in _DATE_PATTERNS:
            for m in pattern.finditer(text):
                day = _date_value(kind, m, today)
                if day is not False:
                    add(DATE, m.start(), m.end(), day if isinstance(day, str) else None)
        found.sort(key=lambda e: e.start)
        return found[: self.max_entities]

    def _phones(self, text: str) -> Iterable[tuple[int, int, str]]:
        matcher = phonenumbers.PhoneNumberMatcher(
            text, self.region, leniency=phonenumbers.Leniency.VALID, max_tries=self.max_entities
        )
        for match in matcher:
            value = phonenumbers.format_number(match.number, phonenumbers.PhoneNumberFormat.E164)
            yield match.start, match.end, value


def normalise_email(text: str) -> str:
    return unicodedata.normalize("NFKC", text).strip().rstrip(".").lower()


def normalise_order(text: str) -> str:
    """An order id as the shop stores it: NFKC, no leading ``#``, no spaces."""
    return unicodedata.normalize("NFKC", text).strip().lstrip("#").replace(" ", "")


def _amount(text: str) -> Decimal | None:
    digits = unicodedata.normalize("NFKC", text).replace(" ", "")
    if "," in digits and "." in digits:  # 1.234,56 or 1,234.56: the last one is decimal
        decimal_sep = "," if digits.rfind(",") > digits.rfind(".") else "."
        digits = digits.replace("." if decimal_sep == "," else ",", "").replace(",", ".")
    elif "," in digits:
        head, _, tail = digits.rpartition(",")
        digits = f"{head.replace(',', '')}.{tail}" if len(tail) <= 2 else digits.replace(",", "")
    elif digits.count(".") == 1 and len(digits.rpartition(".")[2]) == 3:
        digits = digits.replace(".", "")  # 1.200 (thousands)
    try:
        return Decimal(digits).quantize(Decimal("0.01"))
    except InvalidOperation:
        return None


def _currency(text: str) -> str:
    lowered = text.lower()
    for mark, code in (("€", "EUR"), ("$", "USD"), ("£", "GBP")):
        if mark in text:
            return code
    for word, code in (("eur", "EUR"), ("usd", "USD"), ("dollar", "USD"), ("gbp", "GBP")):
        if word in lowered:
            return code
    if "pound" in lowered:
        return "GBP"
    if "chf" in lowered:
        return "CHF"
    return ""


def _date_value(kind: str, m: re.Match[str], today: dt.date) -> str | bool | None:
    """The ISO date of a match, None when it cannot be resolved, False when it is no date."""
    groups = m.groupdict()
    if kind in ("iso", "dmy", "d_month", "month_d"):
        month = int(groups["m"]) if groups.get("m") else _MONTHS.get(groups["mn"].lower(), 0)
        day = int(groups["d"])
        year_text = groups.get("y")
        year = int(year_text) if year_text else today.year
        if year < 100:
            year += 2000
        try:
            return dt.date(year, month, day).isoformat()
        except ValueError:
            return False
    if kind == "relative":
        shift = {"today": 0, "tonight": 0, "yesterday": -1, "tomorrow": 1}[groups["rel"].lower()]
        return (today + dt.timedelta(days=shift)).isoformat()
    if kind == "weekday":
        target = _WEEKDAYS.index(groups["wd"].lower())
        delta = target - today.weekday()
        direction = groups["dir"].lower()
        if direction == "last":
            delta = delta - 7 if delta >= 0 else delta
        elif direction == "next":
            delta = delta + 7 if delta <= 0 else delta
        return (today + dt.timedelta(days=delta)).isoformat()
    if kind == "ago":
        n_text = groups["n"].lower()
        n = int(n_text) if n_text.isdigit() else _NUMBER_WORDS[n_text]
        days = n * (7 if groups["unit"].lower().startswith("week") else 1)
        return (today - dt.timedelta(days=days)).isoformat()
    return None  # "last week": a date, but not one day


def replace_entities(
    text: str, entities: Sequence[Entity], said: Mapping[str, str] | None = None
) -> str:
    """``text`` with each entity put as ``said[entity.type]`` (every entity as a space when
    ``said`` is None; an entity of a type not in ``said`` stays). An entity whose span in
    ``text`` no longer shows its text (found in another form of it) stays too."""
    for entity in sorted(entities, key=lambda e: e.start, reverse=True):
        word = " " if said is None else said.get(entity.type)
        if word is not None and text[entity.start : entity.end] == entity.text:
            text = text[: entity.start] + word + text[entity.end :]
    return text


def entities_of(entities: Sequence[Entity], kind: str) -> list[str]:
    """The normalised values of one kind, in order, without repeats."""
    seen: dict[str, None] = {}
    for entity in entities:
        if entity.type == kind and entity.value:
            seen.setdefault(entity.value, None)
    return list(seen)

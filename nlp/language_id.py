"""The language a customer writes in, so the bot can answer in it.

py3langid (a maintained port of langid.py, BSD-3, its model inside the package) restricted
to English and the languages careloop reads (nlp/languages.py). A message names its
language only when it says enough: at least ``MIN_LETTERS`` letters once order numbers,
emails and links are left out, and a normalised probability of at least
``MIN_CONFIDENCE``. "ok", "ciao", "agent" or an order number alone name none, and the
conversation keeps the language it had.

Measured by ``bench/language_id.py`` on text from outside the test split: none of the
13,083 BANKING77 questions (English) is read as another language (py3langid over all its
97 languages reads 35 of them so). On the eight conversation dev splits and the written
chat messages, 728 of 4,345 name a language other than English at 0.8; every reading
between 0.8 and 0.9 that named one was right ("Hola, quiero cancelar mi pedido … por
favor" 0.80, "Hebben jullie studentenkorting?" 0.85), and two below 0.8 were wrong ("store
in vienna?" Italian at 0.78, "voucher + card split payment possible" French at 0.79). A
message mixing two languages names the one most of its words are in.
"""

from __future__ import annotations

import functools
import re
import threading
from typing import Any

# English and the languages of nlp/languages.py (py3langid's codes, ISO 639-1)
DETECTED = ("en", "de", "fr", "es", "it", "nl", "pl", "pt", "sv", "da", "no", "tr", "cs")
MIN_LETTERS = 12
MIN_CONFIDENCE = 0.8

# What says nothing of a language: emails, links, and any word with a digit in it
_NOT_WORDS = re.compile(r"\S+@\S+|https?://\S+|\S*\d\S*")
_lock = threading.Lock()


@functools.cache
def _identifier() -> Any:
    # (0.8 s to load: once per process, on the first message or at start-up)
    from py3langid.langid import MODEL_DIR, MODEL_FILE, LanguageIdentifier

    identifier = LanguageIdentifier.from_modelpath(MODEL_DIR / MODEL_FILE, norm_probs=True)
    identifier.set_languages(list(DETECTED))
    return identifier


def load() -> None:
    """Load the model now (at start-up) rather than on the first message."""
    with _lock:
        _identifier()


def language_of_locale(locale: str | None) -> str | None:
    """The language of a locale ("de-AT", "pt_BR", Telegram's "de") where careloop reads
    it, else None."""
    code = re.split(r"[-_]", (locale or "").strip(), maxsplit=1)[0].lower()
    return code if code in DETECTED else None


def language_of(text: str) -> str | None:
    """The ISO 639-1 code of the language ``text`` is written in, or None when it says too
    little to tell."""
    words = _NOT_WORDS.sub(" ", text)
    if sum(c.isalpha() for c in words) < MIN_LETTERS:
        return None
    with _lock:
        identifier = _identifier()
    code, confidence = identifier.classify(words)
    return str(code) if confidence >= MIN_CONFIDENCE else None

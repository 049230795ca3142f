"""Greetings, thanks and goodbyes in the languages of a European shop's customers.

The bundled encoder reads English: "Tschüss!" or "Dziękuję" alone embeds close to nothing
the intent head knows, and on the conversation dev split "Tschüss!" read as a complaint
and escalated. A message that is nothing but such words (and punctuation or emoji) is
small talk whatever the model reads; anything longer is left to the model.
"""

from __future__ import annotations

import re
import unicodedata

GREET, THANKS, GOODBYE = "greet", "thanks", "goodbye"

_PHRASES: dict[str, tuple[str, ...]] = {
    GREET: (
        # de, fr, nl, pl, it, es, tr
        "hallo", "moin", "servus", "guten tag", "guten morgen", "guten abend", "grüß gott",
        "bonjour", "bonsoir", "salut", "coucou", "hoi", "goedemorgen", "goedemiddag",
        "goedenavond", "cześć", "dzień dobry", "witam", "buongiorno", "buonasera", "salve",
        "hola", "buenos días", "buenas tardes", "buenas", "merhaba", "selam", "günaydın",
    ),
    THANKS: (
        "danke", "danke schön", "dankeschön", "vielen dank", "danke sehr", "merci",
        "merci beaucoup", "dank je", "dank je wel", "dankjewel", "bedankt", "dank u wel",
        "dziękuję", "dzięki", "grazie", "grazie mille", "gracias", "muchas gracias",
        "teşekkürler", "teşekkür ederim", "sağ olun", "sağol",
    ),
    GOODBYE: (
        "tschüss", "tschüs", "auf wiedersehen", "bis bald", "schönen tag noch", "au revoir",
        "à bientôt", "bonne journée", "tot ziens", "doei", "do widzenia", "na razie",
        "arrivederci", "buona giornata", "adiós", "adios", "hasta luego", "güle güle",
        "hoşça kal", "görüşürüz",
        # "that's all": the request is done
        "das war's", "das wär's", "das wäre alles", "das ist alles", "c'est tout",
        "ce sera tout", "eso es todo", "es todo", "dat was het", "dat is alles",
        "to wszystko", "è tutto", "hepsi bu", "bu kadar",
    ),
}  # fmt: skip
_LABEL_OF = {
    unicodedata.normalize("NFC", phrase).casefold(): label
    for label, phrases in _PHRASES.items()
    for phrase in phrases
}
# Parts of a message: split at punctuation, emoji and symbols ("Danke, tschüss! 👋"), not
# at an apostrophe inside a word ("das war's", "c'est tout").
_SEPARATORS = re.compile(r"(?:[^\w\s']|'(?!\w)|(?<!\w)')+")


def small_talk(text: str) -> str | None:
    """``greet``, ``thanks`` or ``goodbye`` when ``text`` is only such words (the last one
    counts: "Danke, tschüss!" is a goodbye); None otherwise."""
    if len(text) > 80:
        return None
    normal = unicodedata.normalize("NFC", text).casefold().replace("’", "'")
    parts = [" ".join(p.split()) for p in _SEPARATORS.split(normal)]
    parts = [p for p in parts if p]
    if not parts or not all(p in _LABEL_OF for p in parts):
        return None
    return _LABEL_OF[parts[-1]]

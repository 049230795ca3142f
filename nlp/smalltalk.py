"""Greetings, thanks, goodbyes and praise in the languages of a European shop's customers.

The bundled encoder reads English: "Tschüss!" or "Dziękuję" alone embeds close to nothing
the intent head knows, and on the conversation dev split "Tschüss!" read as a complaint
and escalated. A message that is nothing but such words (and punctuation or emoji) is
small talk whatever the model reads; anything longer is left to the model. Praise said in
so many words ("Très satisfaite de ma commande !", "mycket nöjd!") is praise, with
no "but" and no "not": on the fifth dev split the models read both as complaints.
"""

from __future__ import annotations

import re
import unicodedata

GREET, THANKS, GOODBYE, PRAISE = "greet", "thanks", "goodbye", "feedback_praise"

_PHRASES: dict[str, tuple[str, ...]] = {
    GREET: (
        # de, fr, nl, pl, it, es, tr, sv, cs, pt
        "hallo", "moin", "servus", "guten tag", "guten morgen", "guten abend", "grüß gott",
        "bonjour", "bonsoir", "salut", "coucou", "hoi", "goedemorgen", "goedemiddag",
        "goedenavond", "cześć", "dzień dobry", "witam", "buongiorno", "buonasera", "salve",
        "hola", "buenos días", "buenas tardes", "buenas", "merhaba", "selam", "günaydın",
        "kolay gelsin", "hej", "hejsan", "god morgon", "ahoj", "dobrý den", "olá", "ola",
        "bom dia", "boa tarde", "boa noite",
        # "I have a question": the customer opens the chat
        "ich habe eine frage", "ich hätte eine frage", "j'ai une question", "ik heb een vraag",
        "mam pytanie", "ho una domanda", "tengo una pregunta", "bir sorum var",
        "jag har en fråga", "mám dotaz", "tenho uma pergunta",
    ),
    THANKS: (
        "danke", "danke schön", "dankeschön", "vielen dank", "danke sehr", "merci",
        "merci beaucoup", "dank je", "dank je wel", "dankjewel", "bedankt", "dank u wel",
        "dziękuję", "dzięki", "grazie", "grazie mille", "gracias", "muchas gracias",
        "teşekkürler", "teşekkür ederim", "sağ olun", "sağol", "tack", "tack så mycket",
        "tusen tack", "děkuji", "děkuju", "díky", "obrigado", "obrigada", "muito obrigado",
        "muito obrigada",
    ),
    GOODBYE: (
        "tschüss", "tschüs", "auf wiedersehen", "bis bald", "schönen tag noch", "au revoir",
        "à bientôt", "bonne journée", "tot ziens", "doei", "do widzenia", "na razie",
        "arrivederci", "buona giornata", "adiós", "adios", "hasta luego", "güle güle",
        "hoşça kal", "görüşürüz", "hej då", "hejdå", "ha det bra", "na shledanou",
        "nashledanou", "tchau", "até logo", "até mais", "adeus",
        # a good weekend, evening or day
        "schönes wochenende", "schönen abend", "bon week-end", "bonne soirée",
        "buen fin de semana", "buon fine settimana", "fijn weekend", "fijne dag",
        "miłego dnia", "miłego weekendu", "iyi hafta sonları", "trevlig helg",
        "bom fim de semana", "hezký víkend",
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
# at an apostrophe inside a word ("das war's", "c'est tout"), and at "and" ("Tschüss und
# schönes Wochenende!").
_SEPARATORS = re.compile(r"(?:[^\w\s']|'(?!\w)|(?<!\w)')+|\s(?:und|and|et|y|e|en|i|ve|och|a)\s")
# Thanks for something ("Vielen Dank für die schnelle Hilfe"), in a few words, and not for
# nothing ("Danke für nichts" is sarcasm).
_THANKS_FOR = re.compile(
    r"(?P<thanks>.+?) (?:für|for|pour|por|per|voor|za|för|için|pro|pela|pelo) "
    r"(?!.*\b(?:nichts|nothing|rien|nada|niente|nulla|niets|nic|ingenting)\b)"
    r"\w+(?: \w+){0,3}"
)
_PRAISE = re.compile(
    r"\b(begeistert|(sehr |total |super |voll )?zufrieden|(großes |ein )?lob (an|für)|"
    r"(très |vraiment |trop )?(satisfaite?|ravie?|contente?)|"
    r"(muy )?(satisfech[oa]|encantad[oa])|(molto )?soddisfatt[oa]|bravissim[io]|"
    r"(zeer |heel |erg )?tevreden|(bardzo )?zadowolon[yaei]|polecam|(çok )?memnun(um| kaldım)?|"
    r"(muito )?satisfeit[oa]|adorei|(mycket )?nöjd|(riktigt |väldigt |jätte)bra (kund)?service|"
    r"(velmi )?spokojen[áýé]?|"
    # the shop or its service praised, or a purchase to come ("Ottimo negozio, tornerò
    # sicuramente", "Toller Service, das Paket war schon am nächsten Tag da!")
    r"(toller|super|top|klasse|spitzen) ?service|(bestelle|kaufe|komme) (sehr )?gerne wieder|"
    r"service (impeccable|au top|parfait)|je (vous )?recommande|"
    r"me encant(ó|a)|(excelente|genial|estupend[oa]) (servicio|tienda|atención)|volveré a comprar|"
    r"(te|les|os) felicit(o|amos)|"
    r"ottim[oa] (negozio|servizio|acquisto|esperienza)|torner(ò|o) (sicuramente|a comprare)|"
    r"(top|super) (service|winkel)|aanrader|(świetn\w*|super) (obsług\w*|sklep)|"
    r"(ótimo|excelente) (serviço|atendimento)|voltarei a comprar|"
    r"(toppen|super)service|tummen upp|"
    # ("Tack för en fin service.", "Tak for god hjælp", "Well done whoever made you.")
    r"(tack|tak|takk) (för|for) (en |et )?(fin|bra|god|snabb|hurtig|rask|utmärkt|fremragende|"
    r"super|suveræn|fantastisk)t? (service|hjälp|hjælp|hjelp|betjening|bemötande)|"
    r"well done,? (to )?(whoever|the (whole )?team|your team|everyone|all of you|guys)|"
    # ("Credit where it's due: …", "Vill bara säga tack!")
    r"credit where (it'?s|credit'?s|it is) due|(vill|ville) (bara )?(säga tack|tacka)|"
    # ("the little handwritten note in the box made my day 🥹")
    r"made my (day|week|month)|"
    # thanks passed on and "keep it up" ("Please pass on my thanks", "Continuem assim!",
    # "Complimenti al magazzino", "Chtěla bych pochválit vaši paní z linky")
    r"pass on (my|our) thanks|pass (my|our) thanks on|shout-?out to|keep it up|"
    r"keep up the (good|great) work|keep doing what you'?re doing|weiter so|"
    r"continuez comme (ç|c)a|sigan? as(í|i)|continuate cos(ì|i)|ga zo door|continuem assim|"
    r"complimenti (a|al|alla|allo|ai|agli|alle|per)|pochv(á|a)lit|"
    # Romanian and Greek ("Felicitări, cea mai rapidă livrare", "Πολύ ευχαριστημένος")
    r"felicit(ă|a)ri|(foarte )?mul(ț|t|ţ)umit(ă|a)?|(v(ă|a) )?mul(ț|t|ţ)umesc|"
    r"(πολύ )?ευχαριστημέν(ος|η|οι)|"
    r"(εξαιρετική|τέλεια|άψογη) εξυπηρέτηση|"
    # Finnish thanks for something, in its case ending ("Kiitos nopeasta vaihdosta"), and
    # its praise ("loistava palvelu", "sopivat täydellisesti")
    r"kiitos (\w+ )?\w+(sta|stä)|(loistava|erinomainen|mahtava|upea) (palvelu|kauppa)|"
    r"sopi(vat|i) täydellisesti)(?!\w)"
)
# A "but" or a "not" in any of these languages: the praise is not the point.
_BUT_OR_NOT = re.compile(
    r"\b(aber|nicht|kein\w*|mais|pas|ne|n'|pero|no|non|però|maar|niet|geen|ale|nie|"
    r"ama|değil|men|inte|mas|não|ani|but|not|nu|dar|(î|i)ns(ă|a)|δεν|αλλά|όχι|μην|mutta)\b|\?"
)


def small_talk(text: str) -> str | None:
    """``greet``, ``thanks`` or ``goodbye`` when ``text`` is only such words (the last one
    counts: "Danke, tschüss!" is a goodbye); None otherwise."""
    if len(text) > 80:
        return None
    normal = unicodedata.normalize("NFC", text).casefold().replace("’", "'")
    parts = [" ".join(p.split()) for p in _SEPARATORS.split(normal)]
    parts = [p for p in parts if p]
    labels = [_LABEL_OF.get(p) or _thanks_for(p) for p in parts]
    if not labels or None in labels:
        return None
    return labels[-1]


def _thanks_for(part: str) -> str | None:
    match = _THANKS_FOR.fullmatch(part)
    return THANKS if match and _LABEL_OF.get(match.group("thanks")) == THANKS else None


def praise(text: str) -> bool:
    """Whether ``text`` praises the shop in so many words in one of the customers'
    languages, with no "but", "not" or question in it."""
    normal = unicodedata.normalize("NFC", text[:1000]).casefold()
    return _PRAISE.search(normal) is not None and _BUT_OR_NOT.search(normal) is None

"""Order and account requests said in the languages of a European shop's customers.

The bundled encoder reads English: "Annulez ma commande s'il vous plaît" read as out of
scope, "Zrušte prosím moji objednávku 63877" as an order status and "Je voudrais annuler ma
commande" as an order status at 0.26, so the bot asked for the wrong thing. This module
finds the one request a message asks for in so many words (cancel, return, change the
address, where is it, and a login or password problem: "Mein Konto ist gesperrt, was kann
ich tun?" read as a greeting at 0.13); the pipeline (nlp/pipeline.py) reads the message as
that request where the intent model is unsure, next to small talk (nlp/smalltalk.py).
English is left to the model.
"""

from __future__ import annotations

import re
import unicodedata

# An order in the customers' languages (de, fr, es, it, pl, nl, tr, cs, sv, pt)
_ORDER = (
    r"(bestellung|lieferung|commande|colis|pedido|paquete|ordine|pacco|zamówieni\w*|"
    r"paczk\w*|bestelling|pakket|sipariş\w*|kargo\w*|objednávk\w*|zásilk\w*|beställning\w*|"
    r"paket\w*|encomenda|pacote)"
)
# The requests it finds, as the intent model's labels; cancel, return and a new address are
# changes to the order
CANCEL, RETURN, NEW_ADDRESS, STATUS, ACCOUNT = (
    "cancel_order",
    "refund_return",
    "change_address",
    "order_status",
    "account_login",
)
# An account in the customers' languages
_ACCOUNT = (
    r"(konto|compte|cuenta|account|hesab\w*|conta|účet\w*|kundenkonto|mijn account|"
    r"profil\w*)"
)
CHANGES = frozenset({CANCEL, RETURN, NEW_ADDRESS})
_REQUESTS: dict[str, re.Pattern[str]] = {
    CANCEL: re.compile(
        r"\b(stornier\w*|storno|annuler|annulez|annulation|cancelar|cancele|cancelen|"
        r"cancelación|annullare|annullate|annulla|anulowa\w*|anuluj\w*|annuleren|annuleer|"
        r"iptal|zrušit|zrušte|zrušení|avbryt|avboka|avbeställ\w*|cancelamento)(?!\w)"
    ),
    RETURN: re.compile(
        r"\b(zurückschicken|zurücksenden|zurückgeben|rücksendung|retourner|renvoyer|"
        r"remboursement|devolver|devolución|devolucion|devolução|reembolso|restituire|reso|"
        r"rimborso|zwrot\w*|zwróci\w*|odesła\w*|retourneren|retour\w*|terugsturen|iade|"
        r"vrátit|vrácení|returnera|returnering|rückerstattung|erstattung)(?!\w)"
    ),
    NEW_ADDRESS: re.compile(
        r"\b((adresse|lieferadresse|anschrift) (ändern|korrigieren)|"
        r"(falsche|neue) (lieferadresse|adresse)|(changer|modifier|corriger) (l'|mon )?"
        r"adresse|(cambiar|corregir) (la |mi )?dirección|(cambiare|correggere) (l'|il )?indirizzo|"
        r"(zmieni\w*|popraw\w*) adres\w*|zmiana adresu|adres (wijzigen|aanpassen)|"
        r"adres\w* değiştir\w*|změnit adresu|ändra adress\w*|alterar (o |a )?(endereço|morada))"
        r"(?!\w)"
    ),
    STATUS: re.compile(
        rf"\b(wo (ist|bleibt)|wann (kommt|kommen)|où (est|en est)|dónde está|dov'è|"
        rf"gdzie jest|kiedy (dotrze|przyjdzie)|waar (is|blijft)|nerede|kde je|var är|"
        rf"onde está|quand (arrive|va arriver))\b[^.?!]{{0,40}}\b{_ORDER}"
        rf"|\b{_ORDER}\b[^.?!]{{0,40}}\b(nerede|gdzie|wo|où|dónde)\b"
    ),
    # (not "anmelden": "für den Newsletter anmelden" is no login)
    ACCOUNT: re.compile(
        rf"\b({_ACCOUNT}\b[^.?!]{{0,20}}\b(gesperrt|bloqu\w*|bloccat[oa]|zablokowan\w*|"
        rf"geblokkeerd|kilitlen\w*|zablokován\w*|låst)|passwort|kennwort|einloggen|"
        rf"mot de passe|me connecter|contraseña|iniciar sesión|accedere|inloggen|wachtwoord|"
        rf"zalogować|zalogowa\w*|hasło|hasła|şifre\w*|giriş yap\w*|senha|lösenord|logga in|"
        rf"heslo|hesla|přihlásit)(?!\w)"
    ),
}


def order_request(text: str) -> str | None:
    """The one order or account request ``text`` asks for in one of the customers'
    languages, or None (none, or more than one: "stornieren oder zurückschicken?" is left
    to the model)."""
    normal = unicodedata.normalize("NFC", text[:1000]).casefold()
    found = [intent for intent, pattern in _REQUESTS.items() if pattern.search(normal)]
    return found[0] if len(found) == 1 else None

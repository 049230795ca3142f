"""Order and account requests said in the customers' languages are read as those requests."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from nlp.languages import order_request


@pytest.mark.parametrize(
    ("text", "intent"),
    [
        (
            "Annulez ma commande s'il vous plaît, je l'ai passée deux fois par erreur.",
            "cancel_order",
        ),
        ("Zrušte prosím moji objednávku 63877, děkuji.", "cancel_order"),
        ("Ich möchte meine Bestellung stornieren", "cancel_order"),
        (
            "Je voudrais retourner un article de ma commande n° 62018, c'est possible ?",
            "refund_return",
        ),
        ("Wie kann ich die Jacke zurückschicken?", "refund_return"),
        ("Ich muss die Lieferadresse ändern", "change_address"),
        ("Gdzie jest moje zamówienie?", "order_status"),
        ("Waar blijft mijn pakket?", "order_status"),
        ("Siparişim nerede?", "order_status"),
        # the status of an order, also typed without the Turkish letters
        ("Merhaba, siparis durumunu ogrenmek istiyorum", "order_status"),
        ("Wie ist der Status meiner Bestellung?", "order_status"),
        ("vorrei sapere lo stato del mio ordine", "order_status"),
        ("Mein Konto ist gesperrt, was kann ich tun?", "account_login"),
        ("Mon compte est bloqué après trop de tentatives", "account_login"),
        ("No puedo iniciar sesión", "account_login"),
        ("Şifremi unuttum", "account_login"),
        ("Jak se odhlásím z odběru novinek?", "opt_out"),
        ("Denme de baja del boletín, por favor.", "opt_out"),
        ("Bitte keine Werbung mehr per Post", "opt_out"),
        ("Hvad er jeres åbningstider i julen?", "opening_hours_contact"),
        ("Seid ihr am 24.12. erreichbar?", "opening_hours_contact"),
        ("Wie viele Punkte bekomme ich pro Euro?", "loyalty_points"),
        ("Kan jeg få en faktura tilsendt på mail?", "payment_problem"),
        ("Kann ich mit Klarna bezahlen?", "payment_problem"),
        ("Hur skapar jag ett konto hos er?", "account_login"),
        ("Welche Daten habt ihr über mich gespeichert?", "account_login"),
        # data-protection requests: the data kept asked about verb first, its erasure, an
        # article of the regulation invoked
        ("Jak dlouho uchováváte údaje o mých objednávkách?", "account_login"),
        ("Na podstawie art. 17 RODO żądam usunięcia moich danych.", "account_login"),
        ("Ich bitte um die Löschung meiner Daten.", "account_login"),
        ("A copy of my data please (Art. 15 GDPR).", "account_login"),
        ("Paczka przyszła uszkodzona, pudełko całe mokre.", "delivery_problem"),
        ("Laut DHL zugestellt, es ist aber nicht da.", "delivery_problem"),
        ("Mijn pakket ligt al een week bij de douane, wat moet ik doen?", "delivery_problem"),
        # a change asked for beside what went wrong is the change
        ("Kan jag avbryta min order? Beställde fel storlek", "cancel_order"),
        ("Das Paket liegt seit einer Woche beim Zoll", "delivery_problem"),
        ("Ist der Monitor 27 Zoll?", None),  # (an inch, not customs)
        ("Ich bekomme den Newsletter nicht mehr", None),  # no opt-out
        ("Wie kann ich mich für den Newsletter anmelden?", None),
        ("stornieren oder zurückschicken, was ist besser?", None),  # two requests
        ("where is my order?", None),  # English: the model reads it
        ("Wo ist euer Laden?", None),  # no order
        ("", None),
    ],
)
def test_order_requests_in_the_customers_languages(text: str, intent: str | None) -> None:
    assert order_request(text) == intent


def test_a_cancellation_in_french_is_asked_about_as_one(client: TestClient) -> None:
    res = client.post(
        "/api/v1/chat/messages",
        json={"session_id": "annuler", "text": "Bonjour, je voudrais annuler ma commande"},
    )
    assert res.status_code == 200
    assert res.json()["intent"]["label"] == "cancel_order"

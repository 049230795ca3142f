"""Entities in customer messages: what is found, its normalised value, and bad input."""

from __future__ import annotations

import datetime as dt
import itertools

import pytest

from nlp.entities import EntityExtractor

TODAY = dt.date(2026, 12, 4)  # a Friday


def found(text: str, **kw: object) -> list[tuple[str, str, str | None]]:
    extractor = EntityExtractor()
    return [(e.type, e.text, e.value) for e in extractor.extract(text, today=TODAY, **kw)]  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("where is O0001234?", [("order", "O0001234", "O0001234")]),
        ("order #12345 please", [("order", "12345", "12345")]),
        ("order 55821 hasn't come", [("order", "55821", "55821")]),
        ("Order-Nr. 55821", [("order", "55821", "55821")]),
        ("my order number is 77812", [("order", "77812", "77812")]),
        ("where is 57790?", [("order", "57790", "57790")]),
        ("status of 61288 pls", [("order", "61288", "61288")]),
        ("can I change the delivery address for 71120?", [("order", "71120", "71120")]),
        ("cancel 55821 please", [("order", "55821", "55821")]),
        ("refund for 55821", [("order", "55821", "55821")]),
        ("I was charged twice for 55821", [("order", "55821", "55821")]),
        ("why was I charged 34 for 55821?", [("order", "55821", "55821")]),
        ("when 68790 is arriving?", [("order", "68790", "68790")]),
        ("has 40331 shipped yet?", [("order", "40331", "40331")]),
        ("order no. A-7781", [("order", "A-7781", "A-7781")]),
        ("ｏｒｄｅｒ Ｏ０００１２３４", [("order", "O0001234", "O0001234")]),
        # the word for an order in the customers' languages
        ("czy zamówienie 61288 zostało dostarczone?", [("order", "61288", "61288")]),
        ("Waar blijft bestelling 57790?", [("order", "57790", "57790")]),
        ("cambiare l'indirizzo per l'ordine 44102", [("order", "44102", "44102")]),
        ("où est ma commande n° 55821 ?", [("order", "55821", "55821")]),
        ("Vorrei annullare l'ordine n. 61077", [("order", "61077", "61077")]),
        ("mi pedido 55821 no llegó", [("order", "55821", "55821")]),
        ("siparişim 55821 nerede", [("order", "55821", "55821")]),
        ("hvornår kommer min pakke? Ordrenummer 44102", [("order", "44102", "44102")]),
        ("Chtěl bych zrušit objednávku číslo 44102.", [("order", "44102", "44102")]),
        # and their abbreviations
        ("die Lieferadresse für Bestellnr. 55821 ändern", [("order", "55821", "55821")]),
        ("Bestell-Nr.: 55821", [("order", "55821", "55821")]),
        ("bestelnr 55821 graag annuleren", [("order", "55821", "55821")]),
        ("Auftragsnr. 55821", [("order", "55821", "55821")]),
        ("60417 numaralı siparişim nerede?", [("order", "60417", "60417")]),
        ("merhaba 60417 nolu siparisim nerede", [("order", "60417", "60417")]),
        ("Szia, a 40331 számú rendelésem hol tart?", [("order", "40331", "40331")]),
        ("A rendelésem száma 40331, mikor jön?", [("order", "40331", "40331")]),
        # after the word for a return or a refund
        ("die Ruecksendung zu 48213 ist schon lange her", [("order", "48213", "48213")]),
        ("mijn retour van 48213?", [("order", "48213", "48213")]),
        # after "where is" in the customers' languages, or before its verb
        ("Wo bleibt eigentlich 60417?", [("order", "60417", "60417")]),
        ("waar blijft 57790 nou?", [("order", "57790", "57790")]),
        ("fourth time asking where 55821 is", [("order", "55821", "55821")]),
        ("¿y el reembolso del 52290?", [("order", "52290", "52290")]),
        # several orders at once, and the number named a few sentences on
        (
            "Can you cancel one of them? The orders are 72964 and 72965.",
            [("order", "72964", "72964"), ("order", "72965", "72965")],
        ),
        (
            "Please cancel 73590 and 73591, I ordered twice.",
            [("order", "73590", "73590"), ("order", "73591", "73591")],
        ),
        (
            "Jeg har to bestillinger hos dere, én fra forrige måned som kom helt fint, og én fra "
            "søndag som jeg venter på nå. Når kan jeg regne med den siste? Nummeret er 73342.",
            [("order", "73342", "73342")],
        ),
        (
            "Hola, le escribo por un pedido que hizo mi hija Julia para mí, el número es el "
            "71120. Quiero anularlo.",
            [("order", "71120", "71120")],
        ),
        (
            "Please cancel my order before it ships, I found it cheaper elsewhere. It's 71340.",
            [("order", "71340", "71340")],
        ),
        (
            "Kan hij er één terugsturen? Bestelnummers 67120 en 67121.",
            [("order", "67120", "67120"), ("order", "67121", "67121")],
        ),
        ("Puuttuu yksi pipo. Tilaus 63912", [("order", "63912", "63912")]),
        ("Jak postupovat? Obj. 64520", [("order", "64520", "64520")]),
        ("die Punkte für meine Vorbestellung 61288 fehlen", [("order", "61288", "61288")]),
        ("bonus points for 40331 never came", [("order", "40331", "40331")]),
        ("Ti ginetai me tin paraggelia 52290?", [("order", "52290", "52290")]),
        ("Our office delivery 60417 only had half the chairs", [("order", "60417", "60417")]),
        ("can u check if 71455 was shipped to the right address?", [("order", "71455", "71455")]),
        (
            "I would like to ask where is my parcel, the number is 62115, I am waiting long time",
            [("order", "62115", "62115")],
        ),
        # typed on a phone: a space in the digits, the verb after the number
        ("onde esta a minha encomenda 66 190?", [("order", "66 190", "66190")]),
        ("need the invoice for O0001 187 pls", [("order", "O0001 187", "O0001187")]),
        ("kann ich 55821 noch stornieren?", [("order", "55821", "55821")]),
        ("annuler 55821 svp", [("order", "55821", "55821")]),
        ("komt mijn pakket 57790 nog voor kerst aan?", [("order", "57790", "57790")]),
        # a few words before the number, and a second order named for an address change
        ("The order number he wrote down is 61902.", [("order", "61902", "61902")]),
        (
            "Kan ni avbryta order 72990? Och byta adress på 72991 till Storgatan 5?",
            [("order", "72990", "72990"), ("order", "72991", "72991")],
        ),
        ("neue Adresse für 10115 Berlin", []),
        # "number" opening a sentence of a message about an order, Turkish "numaram"
        (
            "Kann ich meine Bestellung vom Sonntag noch stornieren? Nummer 61934.",
            [("order", "61934", "61934")],
        ),
        ("Sipariş numaram 76628.", [("order", "76628", "76628")]),
        ("Comanda mea 73408 trebuia să ajungă pe 2 decembrie.", [("order", "73408", "73408")]),
        ("Η παραγγελία μου 55821 δεν ήρθε", [("order", "55821", "55821")]),
        ("where is my order? tracking number 123456789", []),
        ("order status please, customer number 123456", []),
        ("ich möchte bestellen, 12 Stück", []),
        ("O000\u200b1234 it is", [("order", "O0001234", "O0001234")]),
        # and in scripts other than the Latin one, Japanese and Chinese without spaces
        ("Здравствуйте, где мой заказ 58841?", [("order", "58841", "58841")]),
        ("Заказ № 12345", [("order", "12345", "12345")]),
        ("אני רוצה לבטל את ההזמנה 63377\u200f", [("order", "63377", "63377")]),
        ("注文＃６２０１８はいつ届きますか？", [("order", "62018", "62018")]),
        ("注文番号O0001234はどこ", [("order", "O0001234", "O0001234")]),
        ("any update on 63390?", [("order", "63390", "63390")]),
        (
            "mail: Anna.Schmidt+shop@Example.DE.",
            [("email", "Anna.Schmidt+shop@Example.DE", "anna.schmidt+shop@example.de")],
        ),
        ("call 0151 23456789", [("phone", "0151 23456789", "+4915123456789")]),
        ("or +44 20 7946 0958", [("phone", "+44 20 7946 0958", "+442079460958")]),
        ("why was I charged 4.99 extra", [("money", "4.99", "4.99")]),
        ("paid €59,90", [("money", "€59,90", "59.90 EUR")]),
        ("EUR 1.200,50 in total", [("money", "EUR 1.200,50", "1200.50 EUR")]),
        ("on 12.05.2026", [("date", "12.05.2026", "2026-05-12")]),
        ("since 12.05.", [("date", "12.05.", "2026-05-12")]),
        ("it came yesterday", [("date", "yesterday", "2026-12-03")]),
        ("ordered last Tuesday", [("date", "last Tuesday", "2026-12-01")]),
        ("on 3 May", [("date", "3 May", "2026-05-03")]),
        ("2 weeks ago", [("date", "2 weeks ago", "2026-11-20")]),
        # a second id joined to the first, not a postcode after it
        ("Bestellung 55821, 10115 Berlin", [("order", "55821", "55821")]),
        (
            "cancel one of them, order 70114 and 70115",
            [("order", "70114", "70114"), ("order", "70115", "70115")],
        ),
        # dictated on a phone: spoken digits after the word for an order, the shop's "O" ids,
        # and emails with the words for "dot" and "at"
        (
            "status of my order number oh zero zero zero seven zero four zero",
            [("order", "oh zero zero zero seven zero four zero", "O0007040")],
        ),
        ("cancel order seven one one two zero pls", [("order", "seven one one two zero", "71120")]),
        (
            "reference oh zero zero one one zero zero five",
            [("order", "oh zero zero one one zero zero five", "O0011005")],
        ),
        (
            "el pedido siete uno uno dos cero, mi correo es julia punto krause arroba example "
            "punto de",
            [
                ("order", "siete uno uno dos cero", "71120"),
                ("email", "julia punto krause arroba example punto de", "julia.krause@example.de"),
            ],
        ),
        (
            "unsubscribe paul dot schneider at example dot de",
            [("email", "paul dot schneider at example dot de", "paul.schneider@example.de")],
        ),
        (
            "my email is anna at example dot com",
            [("email", "anna at example dot com", "anna@example.com")],
        ),
    ],
)
def test_finds_and_normalises(text: str, expected: list[tuple[str, str, str | None]]) -> None:
    assert found(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "my postcode is 10115",  # a postcode is no order number unless one was asked for
        "I ordered 2 items",
        "tracking JJD0001234567",
        "price 12.05",  # a bare decimal without a money word or a date's trailing dot
        "order yesterday",
        "where is 10 Downing Street",
        "where is 4.99 from",  # an amount
        "la commande depuis 10 jours",
        "ordine di 3 articoli",
        "#12345abc",
        "заказ на 2 штуки",
        "any update on the 2 items?",
        "new address 10115 Berlin",  # a postcode, not an order to change the address of
        "return address 10115?",
        "when 10115 comes up",  # no delivery of it
        "if 20000 people come",
        "order now 12345",
        "order 250 000 eur?",  # an amount
        "ich habe 10115 Berlin als Adresse",
        "the postcode on the order is 31-042",  # a postcode with a hyphen
        "my parcel 10115 Berlin",
        "parcel JJD0001234567",
        "Rücksendung an 10115 Berlin",  # a postcode before its town
        "wo ist 10115 Berlin?",
        "Erstattung von 12000 EUR",  # an amount
    ],
)
def test_numbers_that_are_not_order_numbers(text: str) -> None:
    assert [e for e in found(text) if e[0] == "order"] == []


def test_a_bare_number_is_an_order_number_when_one_was_asked_for() -> None:
    assert found("It's 55821") == []
    assert found("It's 55821", expect="order") == [("order", "55821", "55821")]
    spoken = "five five eight two one"
    assert found(spoken) == []
    assert found(spoken, expect="order") == [("order", spoken, "55821")]


@pytest.mark.parametrize(
    "text", ["I looked at example dot com", "one two three four five six", "meet me at home dot"]
)
def test_spoken_words_that_are_no_order_number_or_email(text: str) -> None:
    assert found(text) == []


def test_shop_patterns_replace_the_defaults() -> None:
    extractor = EntityExtractor([r"\b(SO-\d{6})\b"])
    assert [e.value for e in extractor.extract("SO-123456 and O0001234")] == ["SO-123456"]
    with pytest.raises(ValueError, match="capture group"):
        EntityExtractor([r"SO-\d{6}"])


@pytest.mark.parametrize(
    "text",
    [
        "x \ud800 y",  # an unpaired surrogate
        "1" * 4000,
        "order 12345 " * 330,
        "a@" * 2000,
        "€" * 4000,
        "\u202eO0001234\u202c اطلب",
        "",
    ],
)
def test_bad_input_never_fails_and_stays_bounded(text: str) -> None:
    result = EntityExtractor().extract(text)
    assert len(result) <= 20
    spans = [(e.start, e.end) for e in result]
    assert all(a_end <= b_start for (_, a_end), (b_start, _) in itertools.pairwise(spans))

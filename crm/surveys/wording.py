"""The survey questions in the customer's language.

The questions are settings (``CARELOOP_SURVEY_*_QUESTION``). Their stock English wording
comes with a translation into each language the response book answers in (the same register
as the book: Sie, vous, usted, Lei, u). A question an operator has reworded is asked as
written, in every language: a translation of the stock wording would ask something else.
"""

from __future__ import annotations

import re
from typing import Literal

from careloop.config import Settings
from crm.models import SurveyKind

Wording = Literal["csat", "nps", "ces", "comment", "skip"]

_SETTINGS: dict[Wording, str] = {
    "csat": "survey_csat_question",
    "nps": "survey_nps_question",
    "ces": "survey_ces_question",
    "comment": "survey_comment_question",
}
SKIP = "Skip"

TRANSLATIONS: dict[str, dict[Wording, str]] = {
    "de": {
        "csat": "Wie zufrieden sind Sie mit der Hilfe, die Sie bekommen haben? "
        "(1 = sehr unzufrieden, 5 = sehr zufrieden)",
        "nps": "Wie wahrscheinlich ist es, dass Sie uns einem Freund oder Kollegen "
        "empfehlen? (0 = gar nicht wahrscheinlich, 10 = äußerst wahrscheinlich)",
        "ces": "Wie einfach war es heute, das zu bekommen, was Sie brauchten? "
        "(1 = sehr schwierig, 7 = sehr einfach)",
        "comment": "Vielen Dank! Was ist der wichtigste Grund für Ihre Bewertung? "
        "Schreiben Sie ihn einfach, oder tippen Sie auf Überspringen.",
        "skip": "Überspringen",
    },
    "fr": {
        "csat": "Êtes-vous satisfait de l'aide que vous avez reçue ? "
        "(1 = très mécontent, 5 = très satisfait)",
        "nps": "Quelle est la probabilité que vous nous recommandiez à un ami ou à un "
        "collègue ? (0 = pas du tout probable, 10 = extrêmement probable)",
        "ces": "Avez-vous facilement obtenu ce dont vous aviez besoin aujourd'hui ? "
        "(1 = très difficile, 7 = très facile)",
        "comment": "Merci ! Quelle est la raison principale de votre note ? Écrivez-la "
        "simplement, ou appuyez sur Passer.",
        "skip": "Passer",
    },
    "es": {
        "csat": "¿Qué tan satisfecho está con la ayuda que recibió? "
        "(1 = muy insatisfecho, 5 = muy satisfecho)",
        "nps": "¿Qué probabilidad hay de que nos recomiende a un amigo o colega? "
        "(0 = ninguna, 10 = muy probable)",
        "ces": "¿Qué tan fácil le resultó hoy conseguir lo que necesitaba? "
        "(1 = muy difícil, 7 = muy fácil)",
        "comment": "¡Gracias! ¿Cuál es el motivo principal de su valoración? Escríbalo, "
        "o pulse Omitir.",
        "skip": "Omitir",
    },
    "it": {
        "csat": "Quanto è soddisfatto dell'aiuto ricevuto? "
        "(1 = per niente soddisfatto, 5 = molto soddisfatto)",
        "nps": "Quanto è probabile che ci consigli a un amico o a un collega? "
        "(0 = per niente probabile, 10 = estremamente probabile)",
        "ces": "Quanto è stato facile oggi ottenere ciò di cui aveva bisogno? "
        "(1 = molto difficile, 7 = molto facile)",
        "comment": "Grazie! Qual è il motivo principale della sua valutazione? Lo scriva "
        "pure, oppure tocchi Salta.",
        "skip": "Salta",
    },
    "nl": {
        "csat": "Hoe tevreden bent u met de hulp die u kreeg? "
        "(1 = zeer ontevreden, 5 = zeer tevreden)",
        "nps": "Hoe waarschijnlijk is het dat u ons aanbeveelt bij een vriend of collega? "
        "(0 = helemaal niet waarschijnlijk, 10 = zeer waarschijnlijk)",
        "ces": "Hoe makkelijk was het vandaag om te krijgen wat u nodig had? "
        "(1 = zeer moeilijk, 7 = zeer makkelijk)",
        "comment": "Dank u wel! Wat is de belangrijkste reden voor uw score? Typ hem "
        "gewoon, of tik op Overslaan.",
        "skip": "Overslaan",
    },
    "pl": {
        "csat": "Jak bardzo jesteś zadowolony z otrzymanej pomocy? "
        "(1 = bardzo niezadowolony, 5 = bardzo zadowolony)",
        "nps": "Jak bardzo prawdopodobne jest, że polecisz nas znajomemu lub koledze? "
        "(0 = wcale, 10 = bardzo prawdopodobne)",
        "ces": "Jak łatwo było dziś załatwić to, czego potrzebowałeś? "
        "(1 = bardzo trudno, 7 = bardzo łatwo)",
        "comment": "Dziękujemy! Jaki jest główny powód Twojej oceny? Po prostu go napisz "
        "albo stuknij Pomiń.",
        "skip": "Pomiń",
    },
    "pt": {
        "csat": "Qual é o seu grau de satisfação com a ajuda que recebeu? "
        "(1 = muito insatisfeito, 5 = muito satisfeito)",
        "nps": "Qual é a probabilidade de nos recomendar a um amigo ou colega? "
        "(0 = nada provável, 10 = extremamente provável)",
        "ces": "Foi fácil obter hoje aquilo de que precisava? (1 = muito difícil, 7 = muito fácil)",
        "comment": "Obrigado! Qual é o principal motivo da sua avaliação? Basta escrevê-lo, "
        "ou toque em Ignorar.",
        "skip": "Ignorar",
    },
    "sv": {
        "csat": "Hur nöjd är du med hjälpen du fick? (1 = mycket missnöjd, 5 = mycket nöjd)",
        "nps": "Hur troligt är det att du skulle rekommendera oss till en vän eller kollega? "
        "(0 = inte alls troligt, 10 = extremt troligt)",
        "ces": "Hur lätt var det att få det du behövde i dag? (1 = mycket svårt, 7 = mycket lätt)",
        "comment": "Tack! Vad är den främsta anledningen till ditt betyg? Skriv den bara, "
        "eller tryck på Hoppa över.",
        "skip": "Hoppa över",
    },
    "tr": {
        "csat": "Aldığınız yardımdan ne kadar memnunsunuz? "
        "(1 = hiç memnun değilim, 5 = çok memnunum)",
        "nps": "Bizi bir arkadaşınıza veya iş arkadaşınıza tavsiye etme olasılığınız nedir? "
        "(0 = hiç olası değil, 10 = son derece olası)",
        "ces": "Bugün ihtiyacınız olanı almak ne kadar kolaydı? (1 = çok zor, 7 = çok kolay)",
        "comment": "Teşekkür ederiz! Puanınızın başlıca nedeni nedir? Yazmanız yeterli "
        "ya da Atla'ya dokunun.",
        "skip": "Atla",
    },
}


def wording(what: Wording | SurveyKind, settings: Settings, language: str | None) -> str:
    """A survey question (or the comment question, or the Skip label) for a customer who
    writes in ``language`` (an ISO 639-1 code; None: English)."""
    key: Wording = what.value if isinstance(what, SurveyKind) else what
    if key == "skip":
        english = SKIP
    else:
        name = _SETTINGS[key]
        english = getattr(settings, name)
        if english != Settings.model_fields[name].default:
            return str(english)
    return TRANSLATIONS.get(language or "", {}).get(key, english)


def locale_language(locale: str | None) -> str | None:
    """The language of a CRM or browser locale ("de-AT", "pt_BR") where surveys have a
    translation, else None."""
    code = re.split(r"[-_]", (locale or "").strip(), maxsplit=1)[0].lower()
    return code if code in TRANSLATIONS else None

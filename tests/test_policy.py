"""The escalation policy as a pure function."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from bot.policy.escalation import (
    Action,
    CustomerSignals,
    Decision,
    EscalationReason,
    PolicyConfig,
    decide,
    priority,
)
from nlp.base import FALLBACK_INTENT, IntentPrediction, SentimentPrediction, Understanding
from nlp.tone import read_tone

CONFIG = PolicyConfig()


def u(intent: str, score: float = 0.0) -> Understanding:
    return Understanding("x", IntentPrediction(intent, 0.9), SentimentPrediction("neutral", score))


def test_answers_a_plain_question() -> None:
    d = decide(u("order_status"), previous_intents=[], previous_scores=[], config=CONFIG)
    assert d.action is Action.answer and d.response == "order_status"


def test_complaint_and_human_request_escalate() -> None:
    assert decide(
        u("complaint"), previous_intents=[], previous_scores=[], config=CONFIG
    ).reason is (EscalationReason.complaint)
    d = decide(u("human_agent"), previous_intents=[], previous_scores=[], config=CONFIG)
    assert d.action is Action.escalate and d.reason is EscalationReason.human_request


def test_strong_or_repeated_negative_sentiment_escalates() -> None:
    d = decide(u("order_status", -0.9), previous_intents=[], previous_scores=[], config=CONFIG)
    assert d.reason is EscalationReason.negative_sentiment
    d = decide(
        u("order_status", -0.6), previous_intents=["x"], previous_scores=[-0.55], config=CONFIG
    )
    assert d.reason is EscalationReason.repeated_negative
    d = decide(
        u("order_status", -0.6), previous_intents=["x"], previous_scores=[0.2], config=CONFIG
    )
    assert d.action is Action.answer


def test_calm_routine_questions_never_add_up_to_an_escalation() -> None:
    # "why was I charged 4.99 extra" read -0.49 and "ok forget about the callback" -0.47:
    # mildly negative-sounding questions, a whole conversation of them stays with the bot
    calm = [-0.49, -0.47, -0.45]
    for i, score in enumerate(calm):
        d = decide(
            u("payment_problem", score),
            previous_intents=["payment_problem"] * i,
            previous_scores=calm[:i][::-1],
            config=CONFIG,
        )
        assert d.action is Action.answer, score


def test_fallbacks_rephrase_then_escalate() -> None:
    d = decide(u(FALLBACK_INTENT), previous_intents=["greet"], previous_scores=[0], config=CONFIG)
    assert d.action is Action.rephrase
    d = decide(
        u(FALLBACK_INTENT), previous_intents=[FALLBACK_INTENT], previous_scores=[0], config=CONFIG
    )
    assert d.reason is EscalationReason.repeated_fallback


def test_opt_out() -> None:
    d = decide(u("opt_out"), previous_intents=[], previous_scores=[], config=CONFIG)
    assert d.action is Action.opt_out


def test_priority_formula() -> None:
    base = priority(EscalationReason.human_request, 0.0, CustomerSignals())
    assert base == 20
    angry_vip = priority(
        EscalationReason.complaint,
        -0.5,
        CustomerSignals(rfm_segment="Champions", churn_risk="high"),
    )
    assert angry_vip == 30 + 20 + 15 + 15


def assert_read(cues: dict[str, str], calm: Sequence[str] = ()) -> None:
    """Each text of ``cues`` carries its cue ("threat": any threat), each ``calm`` none."""
    for text, cue in cues.items():
        tone = read_tone(text)
        assert tone.threat is not None if cue == "threat" else getattr(tone, cue), text
    for text in calm:
        assert not read_tone(text).cues, text


def toned(text: str, intent: str = "order_status", score: float = 0.0) -> Understanding:
    return Understanding(
        text, IntentPrediction(intent, 0.9), SentimentPrediction("neutral", score), read_tone(text)
    )


def test_threats_formal_complaints_and_sarcasm_escalate_whatever_the_intent() -> None:
    for text, intent, score in [
        ("chargeback by Friday if I don't get my money", "refund_return", 0.0),
        ("my lawyer will be in touch", "greet", 0.1),
        ("Dear Sir or Madam, I hereby formally complain about my order", "order_status", 0.0),
        ("great, third time my parcel is lost, thanks a lot", "feedback_praise", 0.8),
        ("I'll leave a one-star review everywhere", "feedback_praise", 0.2),
    ]:
        d = decide(
            toned(text, intent, score), previous_intents=[], previous_scores=[], config=CONFIG
        )
        assert d.reason is EscalationReason.complaint, text


def test_requests_for_a_person_however_phrased_and_in_the_customers_languages() -> None:
    for text in (
        "pls connect me to a rep",
        "can someone call me back",
        "real human please",
        "is there anyone from your team I could speak to?",
        "Mensch bitte, kein Bot",
        "Ich möchte mit einem Mitarbeiter sprechen",
        "je voudrais parler à un conseiller",
        "ik wil iemand van de klantenservice spreken",
        "chcę porozmawiać z konsultantem",
        "posso parlare con un operatore?",
        "quiero hablar con una persona",
        "müşteri temsilcisi ile görüşmek istiyorum",
    ):
        d = decide(
            toned(text, FALLBACK_INTENT), previous_intents=[], previous_scores=[], config=CONFIG
        )
        assert d.reason is EscalationReason.human_request, text


def test_fraud_and_danger_are_urgent_but_a_stolen_parcel_or_a_gdpr_request_is_not() -> None:
    for text in (
        "I don't recognise a payment of 37.20 on my statement",
        "got a login alert from another country, that wasn't me",
        "the parcel had another customer's invoice with her name and address",
        "the kettle sparks when I switch it on",
        "the glass shattered and cut my hand",
        "my toddler swallowed a bead from the bracelet",
    ):
        d = decide(toned(text), previous_intents=[], previous_scores=[], config=CONFIG)
        assert d.reason is EscalationReason.urgent, text
    for text in (
        "my parcel was stolen from my doorstep, what do I do?",
        "please delete my account and my data (GDPR)",
        "I never ordered this size, I ordered an M",
        "inside was someone else's order, a pair of kids' shoes",
    ):
        d = decide(toned(text, score=-0.1), previous_intents=[], previous_scores=[], config=CONFIG)
        assert d.action is Action.answer, text


def test_the_end_of_patience_in_its_usual_words() -> None:
    for text, score in (
        ("cancel the order. I've asked four times now.", -0.1),
        ("two emails and no answer. I'm done waiting.", -0.1),
        ("nobody answers my emails. If it's not here by Monday I'll cancel.", 0.05),
    ):
        d = decide(toned(text, score=score), previous_intents=[], previous_scores=[], config=CONFIG)
        assert d.action is Action.escalate, text


def test_shouting_escalates_unless_it_reads_clearly_positive() -> None:
    for text in ("WHERE IS MY ORDER??? ANSWER ME", "WHY IS NOBODY ANSWERING MY EMAILS"):
        d = decide(toned(text, score=-0.05), previous_intents=[], previous_scores=[], config=CONFIG)
        assert d.reason is EscalationReason.negative_sentiment, text
    for text, score in [
        ("THANK YOU SO MUCH, GREAT SERVICE", 0.8),
        ("HELLO", 0.0),
        ("my email is ANNA.SCHMIDT@EXAMPLE.DE, order O0001234", 0.0),
    ]:
        d = decide(toned(text, score=score), previous_intents=[], previous_scores=[], config=CONFIG)
        assert d.action is Action.answer, text


def test_repeated_negative_needs_the_message_itself_to_be_negative() -> None:
    d = decide(
        u("goodbye", 0.0), previous_intents=["x", "x"], previous_scores=[-0.5, -0.6], config=CONFIG
    )
    assert d.action is Action.answer


def test_an_angry_opt_out_reaches_a_person_and_still_opts_out() -> None:
    calm = decide(
        toned("please stop sending me offers", "opt_out", -0.2),
        previous_intents=[],
        previous_scores=[],
        config=CONFIG,
    )
    assert calm.action is Action.opt_out
    for text, score in [
        ("Stop texting me at 7am with discount codes, it's harassment.", -0.3),
        ("stop sending me these emails", -0.9),  # strongly negative on its own
    ]:
        d = decide(
            toned(text, "opt_out", score), previous_intents=[], previous_scores=[], config=CONFIG
        )
        assert d.action is Action.escalate and d.opt_out, text


def test_two_impatience_cues_escalate_unless_the_message_reads_clearly_positive() -> None:
    text = "You promised bonus points and I never got them. 3rd time asking. This is a scam."
    assert read_tone(text).impatience_cues == 2
    d = decide(
        toned(text, "loyalty_points", 0.05), previous_intents=[], previous_scores=[], config=CONFIG
    )
    assert d.action is Action.escalate
    one = "2nd time asking: when do the points for my last order arrive?"
    assert read_tone(one).impatience_cues == 1
    d = decide(
        toned(one, "loyalty_points", 0.05), previous_intents=[], previous_scores=[], config=CONFIG
    )
    assert d.action is Action.answer
    praise = "3rd time asking for the catalogue, fed up of waiting but you are lovely"
    d = decide(
        toned(praise, "product_question", 0.6),
        previous_intents=[],
        previous_scores=[],
        config=CONFIG,
    )
    assert d.action is Action.answer


def decided(u: Understanding) -> Decision:
    return decide(u, previous_intents=[], previous_scores=[], config=CONFIG)


def test_one_impatience_cue_needs_a_negative_reading_or_a_likely_complaint() -> None:
    asking = "This is the third time I'm asking about order 77310. Any news?"
    assert decided(replace(toned(asking, score=0.05), complaint=0.59)).action is Action.escalate
    assert decided(replace(toned(asking, score=0.05), complaint=0.2)).action is Action.answer
    assert decided(replace(toned(asking, score=-0.05), complaint=0.2)).action is Action.escalate
    assert decided(replace(toned(asking, score=0.4), complaint=0.9)).action is Action.answer
    # a second cue backs the first: an ultimatum
    twice = "This is the third time I'm asking about order 77310. I want an answer today."
    assert decided(replace(toned(twice, score=0.05), complaint=0.2)).action is Action.escalate


def test_repeated_contact_ultimatums_fury_and_danger_are_read() -> None:
    impatient = (
        "I wrote to you twice already and nobody answered",
        "support ignored my 2 emails",
        "Third chat about this.",
        "My last two messages got no reply",
        "I want that money back TODAY",
        "I want this fixed today",
        "Cancel it before it ships or I'm refusing the parcel",
        "Why the hell did you take 59€ for express?",
        "Dritte Mail, dritte Woche, ich warte nicht länger!",
        "He escrito tres veces y sigo sin reembolso. ¡Ya basta!",
    )
    for text in impatient:
        assert read_tone(text).impatience, text
    serious = (
        "the plug got really hot and the plastic melted a bit",
        "the battery is visibly swollen",
        "the shelf came off the wall and nearly hit my baby",
        "someone login from Russia in my account",
        "my account shows orders I did not place them",
        "There was an invoice for a different person in my parcel",
    )
    for text in serious:
        assert read_tone(text).serious, text
    for calm in (
        "can I get it today?",
        "I need it today, is express possible?",
        "I ordered twice, loved it",
    ):
        assert not read_tone(calm).impatience, calm


def test_hazards_account_misuse_and_deadlines_are_read() -> None:
    serious = (
        "the toaster got so hot the handle warped, my daughter grabbed it",
        "the phone battery has puffed up and the back cover pops open",
        "my son came out in hives after wearing the new pyjamas",
        "the mirror fell down off the hallway wall an hour after my kid walked past",
        "there's mould in the baby's sleeping bag, is that a health risk?",
        "someone changed my password last night, I didn't request it.",
        "two orders appeared in my account that I never placed.",
        "the delivery note shows another customer's home address",
        "there's an unknown charge from you on my Visa",
        "please lock my account, someone is in my account right now",
    )
    for text in serious:
        assert read_tone(text).serious, text
    for calm in (
        "does the kettle get hot on the outside?",
        "how do I get mould off the shower curtain?",
        "I'm allergic to wool, what is the throw made of?",
        "is the cot safe for a newborn? what safety standard does it meet?",
        "what is your IBAN for a bank transfer?",
        "I never signed up for SMS, please remove my number",
        "I didn't make it to the post office yet, can I still return it next week?",
    ):
        assert not read_tone(calm).serious, calm
    impatient = (
        "I'll give you one more day to sort it out",
        "refund me within 48 hours, otherwise I'll take further steps",
        "my patience is gone",
        "two hours on hold and still no label",
        "I want it cancelled today, not in 3-5 working days.. done now",
    )
    for text in impatient:
        assert read_tone(text).impatience, text
    assert read_tone("my brother is a journalist, he'd love this story").threat == "public"
    assert not read_tone("do you price match your competitors?").impatience


def test_an_opt_out_with_angry_emoji_goes_to_a_person() -> None:
    d = decided(toned("take my number off your text list 😡", "opt_out", -0.1))
    assert d.action is Action.escalate and d.opt_out
    assert decided(toned("please take me off your list", "opt_out", 0.0)).action is Action.opt_out


def test_the_complaint_intent_the_complaint_head_doubts_needs_a_negative_reading() -> None:
    text = "what"
    assert decided(replace(toned(text, "complaint", 0.1), complaint=0.1)).action is Action.answer
    assert decided(replace(toned(text, "complaint", -0.1), complaint=0.1)).action is Action.escalate
    assert decided(replace(toned(text, "complaint", 0.1), complaint=0.4)).action is Action.escalate
    assert decided(toned(text, "complaint", 0.1)).action is Action.escalate  # no head: as before


def test_a_formal_salutation_is_not_a_complaint() -> None:
    assert not read_tone(
        "Dear Sir or Madam, do you offer any concessions for pensioners?"
    ).complaint
    assert read_tone("Dear Sir or Madam, I hereby formally complain about my order").complaint


def unsure(
    text: str, intent: str, confidence: float, score: float, complaint: float
) -> Understanding:
    return Understanding(
        text,
        IntentPrediction(intent, confidence),
        SentimentPrediction("neutral", score),
        read_tone(text),
        complaint=complaint,
    )


def test_a_few_words_the_model_is_unsure_of_are_no_complaint() -> None:
    # (the readings of the shipped models: "lol", "asdfgh qwerty", "omg")
    for case in (
        unsure("lol", "complaint", 0.38, 0.22, 0.66),
        unsure("asdfgh qwerty", "complaint", 0.46, -0.38, 0.47),
        unsure("omg", "complaint", 0.38, 0.27, 0.98),
    ):
        d = decide(case, previous_intents=[], previous_scores=[], config=CONFIG)
        assert d == Decision(Action.rephrase, response=FALLBACK_INTENT), case.text
    # a confident reading, a negative one, a tone cue or more words still escalate
    for case in (
        unsure("fix it NOW", "complaint", 0.59, -0.17, 0.36),
        unsure("ugh", FALLBACK_INTENT, 0.29, -0.58, 0.89),
        unsure("SCAM", "complaint", 0.45, -0.41, 0.51),
        unsure("this shop lost my parcel again", "complaint", 0.45, -0.2, 0.5),
    ):
        d = decide(case, previous_intents=[], previous_scores=[], config=CONFIG)
        assert d.reason is EscalationReason.complaint, case.text


def test_more_forms_of_sarcasm_are_read() -> None:
    for text in (
        "thanks sooo much for the 'premium cotton' shirt that shrank two sizes in one wash",
        "Oh brilliant, the discount code 'expired' five minutes after you emailed it to me.",
        "Absolutely loving the new 'feature' where my basket empties itself 👏",
        "Delighted to report the mirror arrived in approximately four hundred pieces.",
        "Such a thoughtful touch, sending someone else's invoice along with my order.",
    ):
        assert read_tone(text).sarcasm, text
    for text in (
        "Delighted with my new sofa, thank you!",
        "Two of the bowls are chipped, not broken. Could you send replacements? Thanks so much!",
        "So glad I found your shop",
    ):
        assert not read_tone(text).sarcasm, text


def test_ultimatums_swearing_and_threats_in_the_customers_languages_are_read() -> None:
    for text in (
        "Take me off your bloody mailing list. Now.",
        "just cancel the damn order",
        "If I don't get a delivery date by Friday I'm cancelling",
        "I've been on this chat for 20 minutes",
        "Das ist jetzt das DRITTE Mal, mir reichts!",
        "Ça fait 3 semaines. C'est une blague ?",
    ):
        assert read_tone(text).impatience, text
    assert read_tone("posting this on twitter see how u like it").threat == "public"
    assert read_tone("Wenn das Geld nicht kommt, schalte ich meinen Anwalt ein").threat == "legal"
    assert read_tone("closing my account, done w u").threat == "leave"
    assert read_tone("How do I close my account? I'm moving abroad.").threat is None
    assert read_tone("Der Wasserkocher hat Funken gesprüht, lebensgefährlich!").serious
    assert read_tone("Kann mich bitte jemand von euch anrufen?").wants_human
    assert read_tone("transfer me").wants_human
    assert not read_tone("transfer me 5 euros back please").wants_human
    # whole words only: a replacement is no rep, a personalised gift no person
    assert read_tone("can I get a rep?").wants_human
    assert not read_tone("it arrived scratched, can I get a replacement?").wants_human
    assert not read_tone("I need a personalised engraving on it").wants_human
    for text in (
        "I've unsubscribed e.fischer@example.com FOUR times and I still get your emails",
        "Two emails from k.larsen@example.com, zero answers.",
        "I already wrote this yesterday and the day before",
    ):
        assert read_tone(text).impatience, text
    assert not read_tone("I already paid the invoice").impatience
    for calm in ("can I get it now?", "What time is it now."):
        assert not read_tone(calm).impatience, calm


def test_asking_again_outrage_and_threats_in_the_customers_languages_are_read() -> None:
    for text in (
        "Das ist eine Frechheit!",
        "C'est la troisième fois que j'écris",
        "Terza mail, nessuna risposta",
        "Es inaceptable",
        "Jullie zijn oplichters",
        "Tredje gången jag skriver",
    ):
        assert read_tone(text).impatience, text
    assert read_tone("Vou falar com o meu advogado").threat == "legal"
    assert read_tone("Ik ga een slechte review schrijven").threat == "public"
    for calm in ("Het bedrag klopt niet?", "Ich habe zum ersten Mal bestellt", "Merci beaucoup"):
        assert not read_tone(calm).cues, calm


def test_dissatisfaction_said_in_the_customers_languages_is_a_complaint() -> None:
    for text in (
        "Jestem bardzo niezadowolona. The jacket looks nothing like the photos.",
        "Je suis très déçue. The bed linen pilled after the first wash.",
        "Ich bin wirklich enttäuscht.",
        "Sono molto deluso del servizio",
        "Ik ben erg teleurgesteld",
        "Estoy muy enfadada",
        "Çok kötü bir deneyim.",
    ):
        assert read_tone(text).complaint, text
    for text in ("Ich bin sehr zufrieden", "Je suis très contente", "Sono molto contento"):
        assert not read_tone(text).complaint, text


def test_a_complaint_lodged_a_scandal_and_nobody_answering_in_the_customers_languages() -> None:
    for text in (
        "Sehr geehrte Damen und Herren, hiermit beschwere ich mich offiziell über Ihren Service.",
        "Je vais déposer une réclamation.",
        "Quiero poner una queja formal.",
        "Złożę skargę.",
        "Ik wil een formele klacht indienen.",
    ):
        assert read_tone(text).complaint, text
    for text in ("To jest skandal!", "Das ist ein Skandal", "Nikt nie odbiera telefonu."):
        assert read_tone(text).impatience, text
    assert read_tone("Złożę skargę do UOKiK.").threat == "legal"
    for calm in ("Wo kann ich mich beschweren?", "Kann ich die Reklamation online machen?"):
        assert not read_tone(calm).cues, calm


def test_thanks_after_a_polite_question_signs_off_and_is_no_sarcasm() -> None:
    polite = (
        "The tracking still says 'label created', which seems a bit odd? Could you let me "
        "know if it has left the warehouse? Thanks a lot!"
    )
    assert not read_tone(polite).sarcasm
    for text in (
        "great, third time my parcel is lost, thanks a lot",
        "Still nothing? Thanks a lot.",
    ):
        assert read_tone(text).sarcasm, text


def test_more_of_the_customers_languages_are_read() -> None:
    assert read_tone("Gracias por nada 🙃").sarcasm
    assert read_tone("Danke für nichts.").sarcasm
    for text in ("Quero falar com uma pessoa, por favor", "kan någon ringa mig?"):
        assert read_tone(text).wants_human, text
    for text in (
        "se derritió el enchufe, casi se me quema la casa",
        "kablodan kıvılcım çıktı, elim yandı",
        "ma fille s'est coupée en ouvrant le carton",
        "Chi è entrato nel mio account?",
        "twee afschrijvingen die ik niet herken, ik heb niks besteld",
        "Mein Konto wurde gehackt",
    ):
        assert read_tone(text).serious, text
    for text in ("Yeter artık!", "3 emails, 0 replies.", "J'en ai assez."):
        assert read_tone(text).impatience, text
    assert read_tone("The present arrived smashed. Lovely.").sarcasm
    for calm in (
        "Kann jemand mein Konto löschen?",
        "Wer hat Zugriff auf mein Konto?",
        "Ich habe die Rücksendung noch nicht gemacht",
        "Ich habe das nicht bestellt, da ist wohl etwas vertauscht worden",
        "je n'ai pas commandé ça",
        "Gracias por todo",
        "Falar com vocês é sempre fácil, obrigado",
    ):
        assert not read_tone(calm).cues, calm


def test_requests_for_a_person_deadlines_in_capitals_and_thanks_for_quoted_praise() -> None:
    for text in (
        "Мне нужен оператор, please",
        "please, not the bot",
        "‏אני רוצה לדבר עם נציג שירות",
        "Chci mluvit s operátorem",
        "أريد التحدث مع موظف",
        "オペレーターと話したいです",
    ):
        assert read_tone(text).wants_human, text
    for text in ("Refund it TODAY please.", "I want an answer NOW"):
        assert read_tone(text).impatience, text
    assert read_tone("charged for a cancelled order, that's really not ok").formal_complaint
    quoted = "Kind regards and thanks SO much for the 'fast shipping' — only took 19 days."
    assert read_tone(quoted).sarcasm
    for calm in (
        "Can you refund it today please?",
        "is it ok to send it back after 30 days?",
        "Thank you SO much for your help!",
        "DHL says it arrives TODAY?",
        "please send it ASAP",
    ):
        tone = read_tone(calm)
        assert not (tone.impatience or tone.sarcasm or tone.formal_complaint), calm


def test_a_request_for_a_person_the_intent_model_only_guesses_is_not_sure() -> None:
    """Read below ``unsure_person`` with nothing in the words: "not sure", whose answer says
    how to reach a person; read surely, or asked for in so many words, it is escalated."""

    def person(text: str, confidence: float) -> Decision:
        understanding = replace(
            toned(text, "human_agent"), intent=IntentPrediction("human_agent", confidence)
        )
        return decide(understanding, previous_intents=[], previous_scores=[], config=CONFIG)

    assert person("wer hat gestern das Spiel gewonnen?", 0.17).action is Action.rephrase
    assert person("Which number can I call about an order?", 0.6).reason is (
        EscalationReason.human_request
    )
    for text in (
        "¿Me puede atender una persona real?",
        "Kan jag få prata med en riktig människa?",
        "Sorry maar ik wil echt met een mens praten",
        "Kan ik iemand van jullie klantenservice aan de lijn krijgen?",
        "Beni biri arayabilir mi? Botla konuşmak istemiyorum",
        "I'd appreciate a quick phone call from your staff about my order",
        "Kan en medarbejder ringe mig op?",
        "Is anyone actually working there or is it bots all the way down?",
    ):
        assert person(text, 0.2).reason is EscalationReason.human_request, text
    assert not read_tone("we got a call from your courier").wants_human
    assert not read_tone("is anyone there?").wants_human  # (a hello, not yet a request)
    for calm in ("tell me a joke", "can you tell me a joke?"):  # ("this is a joke" is one)
        assert not read_tone(calm).cues, calm
    assert read_tone("your service is a joke").impatience


def test_misuse_danger_patience_and_public_reviews_in_more_of_the_customers_languages() -> None:
    for text in (
        "hesabıma biri girmiş, e-posta adresim değiştirilmiş, ben yapmadım!",
        "Kartımdan benim yapmadığım 2 tane ödeme çekilmiş",
        "dentro c'era il documento di un altro cliente con nome e indirizzo",
        "w paczce była faktura z danymi zupełnie obcej osoby",
        "Il bollitore fa scintille",
        "Drei Abbuchungen, die ich nicht kenne. Jemand hat meine Karte benutzt",
        "mitt lösenord har ändrats, men det var inte jag",
    ):
        assert read_tone(text).serious, text
    for text in (
        "Vou abrir uma disputa no banco.",
        "je fais opposition auprès de ma banque",
    ):
        assert read_tone(text).threat == "chargeback", text
    for text in (
        "artık sabrım kalmadı!",
        "Wat een prutswerk.",
        "Al drie keer afgemeld!!",
        "jag har väntat 3 dagar på svar",
        "Ich warte seit zwei Wochen auf eine Antwort",
    ):
        assert read_tone(text).impatience, text
    assert read_tone("Paket açılmış geldi. Şikayetvar'a yazıyorum").complaint
    assert read_tone("Pouvez-vous me faire rappeler par quelqu'un ?").wants_human
    for calm in (
        "henüz ödeme yapmadım, kapıda ödeme var mı?",
        "un altro cliente ha lo stesso problema?",
    ):
        assert not read_tone(calm).serious, calm


def test_threats_fraud_injuries_and_leaving_said_in_german_italian_czech_and_more() -> None:
    cases = {
        "Wenn bis Freitag nichts kommt, hole ich mir mein Geld über PayPal zurück.": "threat",
        "Das ist eine Frechheit. Ich bestelle hier nie wieder.": "threat",
        "Servicio pésimo. No vuelvo a comprar aquí.": "threat",
        "Sono furioso, voglio una risposta oggi.": "formal_complaint",
        "In meinem Konto sind Bestellungen, die ich nie gemacht habe!": "serious",
        "Jemand hat mein Passwort": "serious",
        "meine Frau hat sich an der Hand geschnitten": "serious",
        "249 € abgebucht, obwohl ich gar nichts bestellt habe": "serious",
        "Das ist Betrug!": "impatience",
        "Můžu mluvit s živým člověkem?": "wants_human",
        "Wow, ten days for 'next day delivery'. Truly impressive work. 👏": "sarcasm",
    }
    assert_read(
        cases,
        [
            "Der Rechnungsbetrag betrug 49,90 €, stimmt das?",
            "Ich habe noch nichts bestellt, wie funktioniert das?",
            "Kann ich bis Freitag noch bestellen?",
            "Hat sich der Preis geändert?",
            "Thanks for 'express' shipping, it came the next day!",
        ],
    )


def guessed(text: str, confidence: float, head: float, score: float) -> Decision:
    """The decision on ``text`` read as a complaint with this confidence, complaint head
    and sentiment."""
    understanding = replace(
        toned(text, "complaint", score),
        intent=IntentPrediction("complaint", confidence),
        complaint=head,
    )
    return decide(understanding, previous_intents=[], previous_scores=[], config=CONFIG)


def test_a_complaint_the_intent_model_only_guesses_and_the_head_doubts_is_not_sure() -> None:
    login = "je n'arrive pas à me connecter avec Google"
    assert guessed(login, 0.13, 0.08, -0.37).action is Action.rephrase
    assert guessed(login, 0.35, 0.08, -0.37).reason is EscalationReason.complaint
    assert guessed(login, 0.13, 0.5, -0.37).reason is EscalationReason.complaint
    # strongly negative, or a cue in the words ("!!!"), still reaches a person
    assert guessed(login, 0.13, 0.08, -0.9).action is Action.escalate
    assert guessed("je n'arrive pas à me connecter!!!", 0.13, 0.08, -0.37).action is (
        Action.escalate
    )


def test_a_calm_question_the_intent_model_only_guesses_is_a_complaint_is_not_sure() -> None:
    asked = "Jammer dat de levering zo lang duurt. Enig idee wanneer het komt?"
    assert guessed(asked, 0.21, 0.6, -0.02) == Decision(Action.rephrase, response=FALLBACK_INTENT)
    # a surer intent, a surer head, a negative reading, a cue or no question still escalate
    for case in (
        guessed(asked, 0.55, 0.6, -0.02),
        guessed(asked, 0.21, 0.85, -0.02),
        guessed(asked, 0.21, 0.6, -0.4),
        guessed(
            "Jammer dat de levering zo lang duurt. Enig idee wanneer het komt???", 0.21, 0.6, -0.02
        ),
        guessed("Jammer dat de levering zo lang duurt.", 0.21, 0.6, -0.02),
    ):
        assert case.action is Action.escalate, case


def test_asking_again_and_now_in_capitals_in_the_customers_languages_is_impatience() -> None:
    for text in (
        "Zum dritten Mal: Wo bleibt meine Rückerstattung?",
        "ich habe schon zweimal geschrieben",
        "Ich will JETZT wissen, wo das Paket ist!",
        "c'est la troisième fois que je vous écris",
        "ya os he escrito tres veces",
        "voor de derde keer: waar is mijn pakket?",
        "piszę po raz trzeci",
        "Odpowiedzcie TERAZ",
    ):
        assert read_tone(text).impatience, text
    for calm in (
        "Kann ich zweimal bestellen?",
        "Jetzt habe ich noch eine Frage",
        "Wann kommt das Paket? Ich bin JETZT zu Hause?",
    ):
        assert not read_tone(calm).impatience, calm


def test_a_complaint_the_complaint_head_rules_out_is_not_sure() -> None:
    # (the shipped models' readings: a shipping question read as a complaint, unsure)
    case = unsure("how much is delivery to austria", "complaint", 0.39, -0.09, 0.03)
    assert decided(case) == Decision(Action.rephrase, response=FALLBACK_INTENT)
    # a surer reading, a negative one, a tone cue or a head less sure still escalate
    for case in (
        unsure("how much is delivery to austria", "complaint", 0.55, -0.09, 0.03),
        unsure("how much is delivery to austria", "complaint", 0.39, -0.6, 0.03),
        unsure("how much is delivery to austria?!?!", "complaint", 0.39, -0.09, 0.03),
        unsure("how much is delivery to austria", "complaint", 0.39, -0.09, 0.2),
    ):
        assert decided(case).action is Action.escalate, case


def test_charges_not_made_calls_back_quoted_promises_and_understatement_are_read() -> None:
    cases = {
        "There's a debit of 59,90 € from you but we haven't ordered anything": "serious",
        "On m'a débité 80 € pour une commande que je n'ai jamais passée": "serious",
        "Iemand heeft via mijn account besteld": "serious",
        "Ik herken deze betaling echt niet": "serious",
        "¿Me podría llamar alguien mañana?": "wants_human",
        "Yetkili biriyle görüşmek istiyorum": "wants_human",
        "Dwa tygodnie czekam i nikt nie odpisuje": "impatience",
        "Hiermit lege ich offiziell Beschwerde gegen Ihre Rechnung ein.": "formal_complaint",
        "Is it so hard to pack a glass properly?": "impatience",
        "Second parcel in a row that arrived open.": "impatience",
        "Nobody bothered to tell me the order was split.": "impatience",
        "Bravissimi, dieci giorni per una consegna 'express'.": "sarcasm",
        "Félicitations, votre livraison 'express' a pris deux semaines.": "sarcasm",
    }
    assert_read(
        cases,
        [
            "I haven't ordered anything yet, how much is shipping to Austria?",
            "Ik herken mijn bestelling aan het nummer, toch?",
            "Gibt es für eine 'Express'-Lieferung einen Aufpreis?",
        ],
    )


def test_more_understatement_sarcasm_injuries_and_missed_occasions_are_read() -> None:
    cases = {
        "Not impressed. Not impressed at all.": "formal_complaint",
        "I expected more from a shop that charges these prices.": "formal_complaint",
        "Glad to see my refund is so low on your list of priorities.": "sarcasm",
        "Well, that's just great. The 'premium' towels shed everywhere.": "sarcasm",
        "Mi sono tagliato con il bordo della lampada.": "serious",
        "Meine Tochter hat sich beim Auspacken an der Scherbe in die Hand geschnitten.": "serious",
        "Ik krijg reset-mails die ik niet heb aangevraagd.": "serious",
        "Dreimal vertröstet, nichts passiert.": "impatience",
        "İadem 2 hafta önce yapıldı, hala param yatmadı.": "impatience",
        "The flowers for my father's funeral never arrived.": "impatience",
        "Das Geschenk kam zu spät, die Hochzeit war gestern.": "impatience",
    }
    assert_read(
        cases,
        [
            "Will it arrive before the wedding on Saturday?",
            "Your driver waited while I came down the stairs, please thank him!",
            "Is it too late to add a gift card for a wedding?",
        ],
    )


def test_requests_for_a_person_in_everyday_words_and_a_question_about_the_bot() -> None:
    for text in (
        "est-il possible d'échanger avec un conseiller svp ?",
        "Kan ik iemand van jullie aan de lijn krijgen?",
        "hola, me pasas con alguien de atención al cliente?",
        "Ich erwarte, dass sich ein Mensch bei mir meldet.",
        "Are you a real person? I want a human please",
    ):
        assert read_tone(text).wants_human, text
    for text in ("are you a real person or a bot? just curious", "am i talking to a real person"):
        assert not read_tone(text).wants_human, text
    for text in ("Ich bin wirklich stinksauer!", "Nadal nie mam pieniędzy. To już przesada."):
        assert read_tone(text).cues, text


def test_cues_typed_without_their_accents_are_read_alike() -> None:
    assert_read(
        {
            "müşteri temsilcisine bağlar mısınız lütfen": "wants_human",
            "musteri temsilcisine baglar misiniz lutfen": "wants_human",
            "kargo gumrukte bekliyor, artik sabrim tasti": "impatience",
            "voy a poner una reclamacion oficial": "formal_complaint",
        },
        # (folding makes "Betrug" of nothing: a question whether a text is a scam stays calm)
        ["Hab ne SMS bekommen, angeblich von euch. Echt oder Betrug?"],
    )


def test_shame_the_last_order_misuse_and_the_privacy_authority_in_more_words() -> None:
    assert_read(
        {
            "ärligt talat, ni borde skämmas. tre veckor utan svar": "formal_complaint",
            "Shame on you for calling yourselves sustainable.": "formal_complaint",
            "servizio clienti inesistente. vergognatevi": "formal_complaint",
            "dit is echt de laatste keer dat ik hier bestel": "threat",
            "Das ist das letzte Mal, dass ich hier bestelle.": "threat",
            "poi segnalo al garante privacy": "threat",
            "or I'm reporting you to the data protection authority": "threat",
            "mail dat mijn wachtwoord is gewijzigd maar dat heb ik niet gedaan": "serious",
            "charged £59.99 for something i never ordered??": "serious",
            "who do i talk to about this": "wants_human",
        },
        [
            "La última vez que compré aquí llegó todo bien.",
            "I received something I never ordered, can I send it back?",
        ],
    )


def test_thanks_the_intent_model_is_sure_of_is_no_complaint_on_the_head_alone() -> None:
    thanks = replace(toned("thx so much ur a lifesaver!!", "thanks", 0.17), complaint=0.94)
    assert decided(thanks).action is not Action.escalate
    # sarcastic thanks carry a cue, and a negative reading still counts
    sarcastic = "thanks a lot, third time my parcel is lost"
    assert decided(replace(toned(sarcastic, "thanks"), complaint=0.94)).action is Action.escalate
    negative = replace(toned("thanks I guess", "thanks", -0.2), complaint=0.94)
    assert decided(negative).action is Action.escalate


def test_a_joke_mails_unanswered_smoke_and_a_person_in_more_languages() -> None:
    assert_read(
        {
            "¿Hay alguna persona con la que pueda hablar?": "wants_human",
            "Kan iemand van jullie mij even bellen?": "wants_human",
            "could someone from your sales team email me?": "wants_human",
            "Jullie 'klantenservice' is een grap.": "impatience",
            "Ça fait deux mails sans réponse.": "impatience",
            "ya van tres correos sin respuesta": "impatience",
            "Die Lichterkette hat angefangen zu qualmen.": "serious",
            "jag har aldrig handlat hos er": "serious",
            "Ganz ehrlich, so ein Chaos habe ich selten erlebt.": "formal_complaint",
            "Ich werde meine Bank bitten, die Zahlung zurückzubuchen.": "threat",
        },
        [
            "Können Sie mir die Zahlung zurückbuchen?",
            "tell me a joke",
            "I sent two emails with photos of the parcel.",
        ],
    )


def test_terse_requests_service_insults_and_someone_elses_invoice_are_read() -> None:
    assert_read(
        {
            "mens aub": "wants_human",
            "konsultant proszę": "wants_human",
            "Je veux parler à un être humain, un vrai.": "wants_human",
            "Potreste farmi richiamare da un collega?": "wants_human",
            "péssimo atendimento": "formal_complaint",
            "Servicio pésimo.": "formal_complaint",
            "the invoice inside belongs to another customer": "serious",
        },
        [
            # thanks for a call, a quick replacement and a sign-off after a polite request
            "I really appreciate you taking the time to call me back.",
            "The replacement arrived almost immediately, with a handwritten card.",
            "It will go to my old flat. If it has shipped, please let me know and I'll arrange "
            "a redirect myself. Thanks a lot!",
        ],
    )


def test_shouting_with_an_angry_face_escalates_whatever_the_sentiment_reads() -> None:
    furious = toned("VAR ÄR MIN BESTÄLLNING?!? 😡", score=0.54)
    assert decided(furious).action is Action.escalate
    assert decided(toned("where is my order? 😡", score=0.54)).action is not Action.escalate


def test_danish_requests_unanswered_mails_hazards_and_someone_elses_data_are_read() -> None:
    assert_read(
        {
            "Jeg vil tale med et menneske, ikke en robot.": "wants_human",
            "Det her er tredje gang jeg skriver.": "impatience",
            "Ho scritto due email e zero risposte.": "impatience",
            "Zwei Mails und keine Antwort.": "impatience",
            "Min datter havde den i munden. Det er farligt!": "serious",
            "not exactly impressed tbh": "formal_complaint",
            "I already typed in my card number before I noticed the sender looked odd.": "serious",
            "Ik heb mijn kaartgegevens al ingevuld.": "serious",
            "Me ha llegado un paquete con la factura de otra persona.": "serious",
            "Esto es un problema de privacidad grave.": "serious",
        },
        [
            # someone else's parcel alone is a wrong delivery, not a data leak
            "recebi a encomenda de outra pessoa, o que faço?",
            "Me ha llegado el pedido de otra persona.",
            "I'm impressed, it arrived in two days.",
        ],
    )


def test_shouting_at_the_end_of_patience_escalates_whatever_the_sentiment_reads() -> None:
    ultimatum = "Wenn sie bis Freitag nicht da ist, storniere ich alles. Wo ist sie???"
    assert decided(toned(ultimatum, score=0.33)).action is Action.escalate
    calm = "Wenn sie bis Freitag nicht da ist, storniere ich alles. Wo ist sie?"
    assert decided(toned(calm, score=0.33)).action is not Action.escalate


def test_czech_danish_and_sarcasm_about_trouble_in_other_languages_are_read() -> None:
    assert_read(
        {
            "To je naprostá ostuda.": "impatience",
            "Na e-maily nikdo neodpovídá.": "impatience",
            "Podám stížnost u ČOI.": "threat",
            "Někdo se přihlásil do mého účtu a změnil doručovací adresu.": "serious",
            "Jeg er så træt af jer.": "impatience",
            "Complimenti, davvero. Tre giorni e il sito che non funziona.": "sarcasm",
            "Bozuk ürün gönderdiniz. Harika hizmet 👏": "sarcasm",
        },
        [
            "Complimenti, il pacco è arrivato in due giorni!",
            "Félicitations à la personne qui a emballé mon colis, très soigné !",
            "Některé zboží je vyprodané?",
            "Vorrei andare coi bambini al negozio.",
        ],
    )


def test_greek_and_romanian_cues_and_thanks_a_lot_for_real_help() -> None:
    assert_read(
        {
            "Θέλω να μιλήσω με κάποιον αμέσως.": "wants_human",
            "Vreau să vorbesc cu un operator.": "wants_human",
            "Απαράδεκτο! Ντροπή σας.": "impatience",
            "Este o rușine.": "impatience",
            "Ο γιος μου παραλίγο να πνιγεί με ένα! Είναι επικίνδυνο.": "serious",
            "inside is the invoice and address of another person": "serious",
            "I want the difference back or I return everything.": "impatience",
            "Cheers a lot, really.": "sarcasm",
        },
        ["Thanks a lot for the fast help, very nice from you!"],
    )


def test_hungarian_and_norwegian_cues_reviews_and_so_done_with_this_are_read() -> None:
    assert_read(
        {
            "Élő ügyintézőt kérek, nem chatbotot.": "wants_human",
            "Ez felháborító! Három hete várok.": "impatience",
            "Három hete várok és senki nem válaszol.": "impatience",
            "pakken er borte og ingen svarer meg": "impatience",
            "trenger hjelp NÅ": "impatience",
            "noen har brukt kontoen min og bestilt for 3000 kr": "serious",
            "c'est du foutage de gueule": "impatience",
            "3 relances et toujours rien": "impatience",
            "1 star. would give 0 if i could": "formal_complaint",
            "im so done with this": "impatience",
        },
        [
            "Milyen számon érhetem el az ügyfélszolgálatot?",
            "kan dere sende den nå i dag?",
            "Is it done with the two-day shipping?",
            "The reviews gave it 5 stars, is it waterproof?",
        ],
    )


def test_what_customers_do_not_say_outright_is_read() -> None:
    assert_read(
        {
            "Maybe I'll post my experience under your next photo for your followers.": "threat",
            "I won't be recommending you to anyone after this.": "threat",
            "fine, I'll tell my colleagues not to order here": "threat",
            "Dit was de laatste keer dat ik hier iets bestel.": "threat",
            "Zgłoszę to do rzecznika konsumentów.": "threat",
            "Teen valituksen kuluttajaneuvontaan.": "threat",
            "Obrátim sa na Slovenskú obchodnú inšpekciu.": "threat",
            "Jag anmäler er till Allmänna reklamationsnämnden.": "threat",
            "Na toll. Wieder ein Code, der nicht geht.": "sarcasm",
            "Delivery fee doubled overnight. Cool cool cool.": "sarcasm",
            "Can someone give me a call tomorrow morning?": "wants_human",
            "I need somebody who can actually approve a refund.": "wants_human",
            "Could I write to a real person instead?": "wants_human",
            "Gibt es bei euch überhaupt echte Menschen?": "wants_human",
            "Haluaisin puhua oikean ihmisen kanssa.": "wants_human",
            "Chcel by som hovoriť s operátorom.": "wants_human",
            "This is my third attempt to reach anyone about my refund.": "impatience",
            "Starting to feel like I'm talking to a wall here.": "impatience",
            "Don't bother replying, I've stopped expecting it.": "impatience",
            "My emails seem to just vanish over there.": "impatience",
            "Does my parcel even exist at this point?": "impatience",
            "Cuatro correos, cero respuestas.": "impatience",
        },
        [
            "If the box arrives damaged, should I accept it and report it?",
            "How do I report it if my address changes?",
            "Got burned before by cheap wool, is this one itchy?",
            "A bit fed up with the app logging me out, is that a known bug?",
            "Can you recommend a jacket for hiking?",
            "Do I need someone who can sign for the parcel?",
            "Wann gibt es die Größe 40 wieder?",
            "Super schnelle Lieferung, gerne wieder!",
        ],
    )


def test_doubts_that_what_happened_turned_round_are_praise() -> None:
    for text in [
        "Honestly didn't expect much for the price, but the lamp is beautiful.",
        "I was ready to complain but the new one came the next morning. Fair play.",
        "Ich wollte schon meckern, aber das Paket kam doch noch pünktlich. Danke!",
        "Nie spodziewałem się, ale dostawa była ekspresowa.",
    ]:
        # (read as a strongly negative complaint, as the models read such praise)
        decision = decide(
            toned(text, "complaint", -0.8),
            previous_intents=[],
            previous_scores=[],
            config=CONFIG,
        )
        assert decision == Decision(Action.answer, response="feedback_praise"), text
    asked = decide(
        toned(
            "Had my doubts, but the coat fits well. Do you have it in green?", "product_question"
        ),
        previous_intents=[],
        previous_scores=[],
        config=CONFIG,
    )
    assert asked == Decision(Action.answer, response="product_question")
    for text in [
        "I had my doubts but it is even worse than I feared.",
        "Didn't expect much, but it broke after one day.",
        "Had my doubts but this is a scam.",
        "Was ready to be patient, but I want to talk to a person now.",
    ]:
        decision = decide(
            toned(text, "complaint", -0.6), previous_intents=[], previous_scores=[], config=CONFIG
        )
        assert decision.action is Action.escalate, text


def test_long_messages_with_several_things_at_once_are_read() -> None:
    assert_read(
        {
            "WHERE IS MY PARCEL. Paid extra for next-day delivery on Monday.": "shouting",
            "Fijn hoor, die 'snelle levering' op jullie homepage. Besteld op 2 november.": (
                "sarcasm"
            ),
            "Kan jeg blive stillet om til en medarbejder? Det er lidt for kompliceret.": (
                "wants_human"
            ),
            "Mohla bych mluvit s nějakým člověkem? Chatbot mi nabízí stejné odkazy.": (
                "wants_human"
            ),
            "Mám tři platby, které jsem neprovedla. Nic jsem neobjednávala.": "serious",
            "Jag fick en faktura med namn och adress till en person i Malmö.": "serious",
            "Já é a terceira vez que peço o cancelamento. Cancelem já!": "impatience",
            "Third time I'm asking, where is it?": "impatience",
        },
        [
            # (a shop's banner quoted in capitals is no shouting, nor is buying again)
            "The banner said 'FREE NEXT DAY DELIVERY', so when will it come?",
            "Já é a terceira vez que compro convosco e nunca tive um único problema.",
            "This is the third time I order from you, is there a loyalty discount?",
        ],
    )


def test_praise_in_so_many_words_is_praise_whatever_the_models_read() -> None:
    for text in [
        "Your colleague sorted out my mess of an order without a single sigh. Please pass on "
        "my thanks.",
        "Já é a terceira vez que compro convosco e nunca tive um único problema. Continuem assim!",
        "Complimenti al magazzino: ho ordinato alle 23 e alle 10 era già spedito.",
        "Chtěla bych pochválit vaši paní z linky, byla moc milá.",
        "Nach dem Ärger im Sommer hatte ich eigentlich nicht mehr vor, bei Ihnen zu bestellen. "
        "Aber diesmal lief alles perfekt. Danke!",
    ]:
        # (read as a negative complaint, as the models read such praise)
        decision = decide(
            toned(text, "complaint", -0.6), previous_intents=[], previous_scores=[], config=CONFIG
        )
        assert decision == Decision(Action.answer, response="feedback_praise"), text
    for text in [
        "Ich war immer sehr zufrieden, jetzt kam das Paket kaputt an.",  # (trouble told)
        "Keep it up, the third time my parcel is lost!",  # (a cue)
        "really great service guys, 40 minutes on hold with your 'hotline'. keep it up",
        "spent my weekend on hold just to get cut off. really great service guys, keep it up",
    ]:
        decision = decide(
            toned(text, "complaint", -0.6), previous_intents=[], previous_scores=[], config=CONFIG
        )
        assert decision.action is Action.escalate, text


def test_customers_not_used_to_chat_are_read() -> None:
    assert_read(
        {
            # a person asked for, the way people new to chat ask
            "Hej, kan jeg tale med et rigtigt menneske? Jeg forstår ikke regningen.": (
                "wants_human"
            ),
            "Est-ce qu'une vraie personne peut m'appeler ? Mon numéro : 06 12 34 56 78.": (
                "wants_human"
            ),
            "Boa tarde, isto é um robô? Se for, peço que me passe a um funcionário.": (
                "wants_human"
            ),
            "Jag är 78 år. Finns det någon person jag kan prata med?": "wants_human",
            "Θα ήθελα να μιλήσω με έναν υπάλληλο, παρακαλώ.": "wants_human",
            # sarcastic thanks after a grievance, and an apology demanded
            "My account got 'merged' with my daughter's and she saw her present. Thanks a lot.": (
                "sarcasm"
            ),
            "Żądam zwrotu pieniędzy za to pakowanie i przeprosin.": "impatience",
            "Ich finde es unmöglich, dass man bei Ihnen nur noch mit einem Computer schreiben "
            "kann.": "impatience",
            "J'ai reçu mon colis avec une facture au nom d'une autre personne.": "serious",
        },
        [
            # (a real person named, not asked for; thanks "ever so much"; a first purchase)
            "I don't know if this goes to a real person but if it does - thank you.",
            "Thank you ever so much, you've been very helpful. I shall tell my daughter.",
            "I had never bought anything on the internet before and you helped me so much.",
        ],
    )
    for text in [
        "Tack för en fin service. Paketet kom fram i tid och det låg inget pris i paketet.",
        "Even a computer can be polite, it seems! Well done whoever made you.",
    ]:
        # (read as a negative complaint, as the models read such thanks)
        decision = decide(
            toned(text, "complaint", -0.4), previous_intents=[], previous_scores=[], config=CONFIG
        )
        assert decision == Decision(Action.answer, response="feedback_praise"), text


def test_money_matters_are_read() -> None:
    assert_read(
        {
            "I would like to speak to a member of your finance team about the VAT.": (
                "wants_human"
            ),
            "Is there anyone in your finance team I can actually email directly?": "wants_human",
            "Basta, voglio parlare con un responsabile.": "wants_human",
            "Ich zahle doch keine 5,95 € Rücksendekosten für einen Fehler, den ihr gemacht habt.": (
                "impatience"
            ),
            "Zum letzten Mal: Wo bleibt meine Erstattung über 67,40 €?": "impatience",
        },
        [
            # (a card statement's descriptor and currency code, and happy thanks)
            "Hi, my bank statement shows CARELOOP*SHOP 0.89 EUR - what is it?",
            "Amazing, thank you so much, you've saved my month 😭💛",
        ],
    )
    for text in [
        "Credit where it's due: I messaged about a double charge at 11pm and the money was "
        "back by breakfast. Impressive.",
        "Vill bara säga tack! Ni återbetalade mellanskillnaden när priset sänktes. Grymt.",
    ]:
        # (read as a negative complaint, as the models read such thanks)
        decision = decide(
            toned(text, "complaint", -0.5), previous_intents=[], previous_scores=[], config=CONFIG
        )
        assert decision == Decision(Action.answer, response="feedback_praise"), text


def test_delivery_drama_is_read() -> None:
    assert_read(
        {
            "Können Sie mich bitte mit einem Kollegen aus dem Versand verbinden?": "wants_human",
            "I would appreciate it if a member of your customer service team could contact me.": (
                "wants_human"
            ),
            "Your courier threw my parcel over a 2m gate. Happy to send it to the local paper.": (
                "threat"
            ),
            "Kolmas viesti tässä asiassa, eikä kukaan vastaa. Riittää jo.": "impatience",
            "To si ze mě děláte srandu? Chci peníze zpátky, hned.": "impatience",
            "my parcel came with someone else's delivery note inside, full name and address": (
                "serious"
            ),
            "Thank you so much for delivering her birthday present three days after her "
            "birthday.": "sarcasm",
        },
    )
    decision = decide(
        toned("the little handwritten note in the box made my day 🥹", "complaint", -0.3),
        previous_intents=[],
        previous_scores=[],
        config=CONFIG,
    )
    assert decision == Decision(Action.answer, response="feedback_praise")


def test_products_before_and_after_buying_are_read() -> None:
    assert_read(
        {
            "Guten Tag, ich hätte gern jemanden am Telefon wegen meiner Reklamation.": (
                "wants_human"
            ),
            "Dit is al de tweede föhn op rij die na een week kapot gaat.": "impatience",
            "Meu filho cortou o dedo no brinquedo, tem uma ponta afiada.": "serious",
            "Mi hijo se cortó con el borde de la bandeja.": "serious",
            "the charger melted into the socket last night": "serious",
            "I'll try the reset first and get back to you if it still doesn't work": "calm_said",
            "Ok, provo a resettarlo e se non va vi riscrivo. Ciao!": "calm_said",
        },
        calm=[
            # (a smoke alarm that beeps and candles that arrived soft are no danger)
            "the smoke detector I bought keeps beeping even with new batteries",
            "my candles arrived melted, it was a hot day",
        ],
    )


def test_accounts_logins_and_privacy_are_read() -> None:
    assert_read(
        {
            "Mein Passwort wurde geändert. Das war ich nicht! Bitte sperren Sie mein Konto.": (
                "serious"
            ),
            "Me llegó un aviso de inicio de sesión sospechoso. No he sido yo.": "serious",
            "Someone got into my account and ordered two phones": "serious",
            "my dad's account was used by someone else, he never ordered this": "serious",
            "Seit gestern bekomme ich Spam an diese Adresse. Gab es ein Datenleck?": "serious",
            "Your cookie banner is not GDPR compliant and you know it.": "threat",
            "I write on behalf of my client, who asks for all data you hold about her.": "threat",
            "Trotz meines Widerspruchs bekomme ich weiter Werbung. Ich fordere Sie letztmalig "
            "auf, das zu lassen.": "impatience",
            "Bravo, deuxième carte refusée sans raison.": "sarcasm",
        },
        calm=[
            "Do you sell my data to advertisers? Just asking before I sign up.",
            "love that you send the points summary every month, makes me use them",
        ],
    )


def test_people_who_buy_for_work_are_read() -> None:
    assert_read(
        {
            "Θέλω να μιλήσω με υπεύθυνο για την παραγγελία μας.": "wants_human",
            "Proszę o kontakt telefoniczny, chodzi o fakturę dla firmy.": "wants_human",
            "Kurumsal temsilcinizle görüşmek istiyorum.": "wants_human",
            "Wir hätten gern einen festen Ansprechpartner. Wen kann ich anrufen?": "wants_human",
            "Τρίτη φορά που γράφω για το τιμολόγιο.": "impatience",
            "Tohle je naposledy, co u vás objednáváme.": "threat",
            "Θα απευθυνθούμε σε δικηγόρο.": "threat",
            "The box had a delivery note for a completely different company in it, with their "
            "address.": "serious",
            "Wow, 'next-day delivery' apparently means 'next week'.": "sarcasm",
            "Brilliant. Ordered 12 identical mugs, got them in three different colours.": (
                "sarcasm"
            ),
            "Thanks for the banners, they came the day after the event. Truly world-class "
            "service.": "sarcasm",
        },
        calm=["Wow, the whole order came the next morning!"],
    )


def test_calm_said_in_so_many_words_is_not_handed_over_on_a_reading_alone() -> None:
    calm = [
        "Not angry, just confused: the driver's photo shows my parcel on a doormat that is "
        "definitely not my doormat 😅",
        "No stress at all, but the tracking has said 'Delay due to high volumes' for three days "
        "now. Is it worth waiting?",
        "I am not blaming anybody, but I would be grateful if you could advise what can be done.",
        "ik heb nog geen verzendbevestiging gekregen voor bestelling 70018. Geen haast hoor!",
    ]
    for text in calm:
        # (read strongly negative, an unsure complaint, and the complaint head sure of it)
        understood = replace(
            toned(text, "delivery_problem", -0.95),
            complaint=0.98,
            intent=IntentPrediction("complaint", 0.43),
        )
        decision = decide(understood, previous_intents=[], previous_scores=[], config=CONFIG)
        assert decision.action is not Action.escalate, text
    for text in [
        "Not angry, just disappointed. Expected a lot better from you.",  # (a let-down)
        "Still waiting on the refund. No rush, it's only been a month 🙂",  # (the sarcasm)
        "No rush, but this is the third time I'm asking.",  # (a cue)
    ]:
        understood = replace(toned(text, "refund_return", -0.95), complaint=0.98)
        decision = decide(understood, previous_intents=[], previous_scores=[], config=CONFIG)
        assert decision.action is Action.escalate, text

"""Dialogue state: requests about one order, the slots they need, and what the bot asked for.

Six requests need an order: order status, a delivery problem, cancel order, change address,
return/refund, and a payment problem with a named order ("I was charged twice for
O0001234": the order's amount and status, and a person offered to check the charge).
Their slots are the order number, a proof of ownership (the email the order was placed
with, or its delivery postcode), the new address, the reason for a return and what went
wrong with a delivery. A slot can be filled by the first message ("status of
O0001234? my email is …", "the parcel for O0001234 never arrived") or, after the bot asked
for it, by the customer's next message, whatever its intent reads.

The state lives in ``conversations.dialogue`` (JSON), so it survives restarts and serves any
number of processes. It expires after ``timeout``; "never mind" drops it, as does a goodbye
or a thanks that fills nothing; after ``max_tries`` replies that fill nothing the bot offers
a person, and a "yes" to that offer fetches one. A postal address is no order number; for
a change of address it is the new address, whenever it comes. When a request is done, the
conversation keeps the order it was about (its *focus*, for ``timeout`` too): a follow-up
without an order number ("and when does it arrive?", "can I still cancel it?") is about
that order; "where is my order?" still asks about the latest one.

Order details (status, carrier, tracking, address) are shown only to someone known to own
the order: a chat linked to the customer (Telegram deep link, or a signed web login) or a
visitor who names the order number with its email or postcode. A wrong pair reveals
nothing and does not say which half was wrong; an unknown order number or email gets the
same reply. A corrected half sent alone next goes with the other half of the wrong pair.
Failed proofs are limited per conversation and per visitor, then the bot hands over. A
successful proof links an anonymous chat to the CRM customer.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from sqlalchemy.orm import Session

from bot.policy.escalation import Action, Decision, EscalationReason, PolicyConfig
from bot.replying import Replier
from bot.responses import Reply
from crm.customers import service as customers
from crm.models import (
    WITH_A_PERSON,
    ChannelIdentity,
    Conversation,
    Customer,
    Order,
    OrderStatus,
)
from crm.orders import service as orders
from nlp.base import FALLBACK_INTENT, Understanding, plain_text
from nlp.entities import (
    DATE,
    EMAIL,
    MONEY,
    ORDER,
    PHONE,
    Entity,
    EntityExtractor,
    entities_of,
    replace_entities,
)
from nlp.languages import delivery_went_wrong
from nlp.smalltalk import GOODBYE, GREET, PRAISE, THANKS

log = logging.getLogger(__name__)

ORDER_STATUS = "order_status"
DELIVERY_PROBLEM = "delivery_problem"
CANCEL_ORDER = "cancel_order"
CHANGE_ADDRESS = "change_address"
REFUND_RETURN = "refund_return"
# A payment question is a request about an order only where it names one ("charged twice for
# O0001234"); "do you take PayPal?" gets the general answer, with no offer to look one up.
PAYMENT_PROBLEM = "payment_problem"
TASKS = frozenset(
    {ORDER_STATUS, DELIVERY_PROBLEM, CANCEL_ORDER, CHANGE_ADDRESS, REFUND_RETURN, PAYMENT_PROBLEM}
)
# A reply naming an order often reads as "order status": only the other requests may take
# over one in progress ("cancel O0001234" after "where is my order?"), a payment question
# only where it names the order.
SWITCH_TASKS = TASKS - {ORDER_STATUS, PAYMENT_PROBLEM}
# Requests that ask about one order right away; the others may be general questions ("how do
# returns work?"), so for those the bot answers in general and offers to look at an order.
DIRECT_TASKS = frozenset({ORDER_STATUS, DELIVERY_PROBLEM})
# Intents that say nothing against reading a message as a slot ("55821", "hi, it's O0001234").
LOOSE_INTENTS = frozenset({FALLBACK_INTENT, "out_of_scope", "greet", "thanks", "goodbye"})
# A message naming an order with one of these intents asks about that order ("O0001234, my
# email is …" reads like contact details to the intent model).
ORDER_TALK_INTENTS = LOOSE_INTENTS | {"opening_hours_contact"}
NEVER_MIND_INTENT = "cancel_request"
_SMALL_TALK = frozenset({GREET, THANKS, GOODBYE, PRAISE})
# "ok bye", "thanks, I'll look for it": the customer ends a request that is still asking.
_CLOSING = frozenset({"thanks", "goodbye"})
_NEVER_MIND = re.compile(
    r"(?i)\b(never\s?mind|forget (it|about it|that)|doesn'?t matter|no need|not needed|"
    r"stop asking)\b"
)
_YES = re.compile(
    r"(?i)^\W*(yes|yeah|yep|yup|sure|ok(ay)?|please( do)?|ja|do it|go ahead|"
    r"correct|confirm(ed)?|y|"
    # in the customers' languages
    r"oui|d'accord|sí|si|sì|claro|certo|tak|evet|ano|sim|jawohl|genau|klar|graag)(?!\w)"
)
# "Where is my order?" asks about the customer's current order, not the one just discussed
# ("and when does it arrive?" does).
_MY_ORDER = re.compile(
    r"(?i)\b(my|the)\s+(latest|last|newest|most recent|new|current|other)\s+"
    r"(order|parcel|package|delivery|shipment)|\bmy\s+(order|parcel|package|delivery|shipment)"
)
# "ok how do I reset it?", "ok, do I need the receipt?" after the offer of a person ask
# something else; "yes please", "ok do it", "sure, what happens now?" and "yes, can I talk
# to someone?" take it.
_THEN_ASKS = re.compile(
    r"(?i)\W*((and|so|but|then)\s+)?((how|what(?!\s+(happens|now|next)\b)|where|when|why|which)\b|"
    r"(is|are|do|does|did)\s+(i|you|we|they|he|she|there|my|the)\b)"
)
# "ok thx", "ok, bye", "okay no need" after the offer of a person close the chat instead
_THEN_CLOSES = re.compile(
    r"(?i)\W*(thx|thanks|thank you|thank u|ty|tysm|cheers|ta|bye|goodbye|cya|see (you|ya)|"
    r"all good|never ?mind|nvm|no need|i'?m (good|fine)|that'?s (all|fine|ok(ay)?)|"
    r"got it|understood|cool|danke|merci|gracias|grazie|dzięki|bedankt|tschüss)\b"
)
_NO = re.compile(
    r"(?i)^\W*(no|nope|nah|don'?t|do not|keep it|nein|n|non|nee|nie|hayır|ne|nej|não|nao)(?!\w)"
)
# "Can I still cancel it?", "I'd like to return this": a change to the order just discussed.
_ABOUT_IT = re.compile(
    r"(?i)\b(cancel|return|send|change|refund|exchange|redirect)\b(\s+[\w']+){0,3}?\s+"
    r"(it|this|that|them|these)\b"
)
# "Did my refund go through?", "still no refund", "when will I get my money back?": about a
# refund, not a new return.
_ASKS_FOR_REFUND = re.compile(
    r"(?i)\b(did|has|have|where|when|status|yet|still|haven'?t|hasn'?t|not|no|how long)\b"
    r"[^.?!]{0,40}\b(refund|money)|\brefund\b[^.?!]{0,40}\b(go(ne)? through|arrived?|come|"
    r"processed|status|yet|take)\b|\bget (my|the) money\b|\b(returned|sent (\w+ )?back)\b"
    r"[^.?!]{0,40}\b(ago|last week|yesterday|already)\b"
)
# "where can I find my order number?", "what's my order number?": a question where it is
_WHERE_IS_THE_NUMBER = re.compile(
    r"(?i)\b(where|how)\b[^.?!\n]{0,30}?\border\s*(number|no\b|nr\b|id\b)"
    r"|\bwhat('?s| is) (my|the) order\s*(number|no\b|nr\b|id\b)"
)
# "I don't have the order number", "can't find my order no.": asked for the number, the
# customer says where it is missing, and hears where to find it.
_NO_NUMBER = re.compile(
    r"(?i)\b(don'?t|do not|didn'?t|did not|can'?t|cannot|can not|couldn'?t|no)\b"
    r"[^.?!]{0,30}?\b(order\s*(number|no\b|id\b|#)|number|confirmation)"
    # ("I don't know it", "no idea", "can't find it", "I lost it": the number asked for)
    r"|\b(don'?t|dont|do not|can'?t|cannot)\s+(know|have|remember|find|see)\s+(it|that)\b"
    r"|\bno idea\b|\b(lost|deleted)\s+(it|the (e-?mail|mail|confirmation))\b"
)
# "new address is Hauptstraße 5, 01069 Dresden", "il motivo: la taglia è sbagliata": the
# words that introduce the address or the reason asked for are not part of it
_ADDRESS_LEAD = re.compile(
    r"(?i)^\W*((my|the|our|meine|ma|mi|il|mijn|mój)\s+)?(new|neue|nouvelle|nueva|nuovo|nieuwe|"
    r"nowy)?\s*(delivery\s+|shipping\s+)?(address|(liefer)?adresse|anschrift|direcci[oó]n|"
    r"indirizzo|adres)\s*(is\b|ist\b|est\b|es\b|è|:|-)*\s*"
)
_REASON_LEAD = re.compile(
    r"(?i)^\W*((the|my|il|der|le|el|de)\s+)?(reason|motivo|grund|raison|reden|pow[oó]d)\s*"
    r"(is\b|ist\b|est\b|es\b|è|:|-)*\s*"
)
# A postal address ("Hauptstr. 12, 80331 München", "12 Baker Street", "via Roma 5"): its
# numbers are no order numbers, and given for a change of address it is the new address.
_STREET = r"stra(ss|ß)e|str\.?|weg|gasse|platz|allee|damm"
_ADDRESS = re.compile(
    rf"(?i)\b[^\W\d_][\w'.-]*?({_STREET})\s*\d+[a-z]?\b"
    rf"|\b((?-i:[^\W\d_a-z][\w'.-]*)\s+){{0,2}}({_STREET})\s+\d+[a-z]?\b"  # (Berliner Allee 5)
    # a street named without its kind, before a postcode and town ("Zeil 10, 60313 Frankfurt")
    r"|\b(?!(order|bestellung|auftrag|commande|pedido|ordine)\b)"
    r"((?-i:[^\W\d_a-z][\w'.-]*)\s+){1,3}\d+[a-z]?,\s*\d{4,5}\s+[^\W\d_]{3,}"
    r"|\b\d+[a-z]?,?\s+([^\W\d_][\w'-]*\s+){1,3}(street|st|road|rd|avenue|ave|lane|ln|drive|"
    r"dr|close|court|crescent|terrace|boulevard|blvd)\b"
    r"|\b(rue|via|viale|calle|avenida|ulica|ul\.)\s+[^\W\d_][^\d,;]{1,40}?\d+"
    r"|\b\d+,?\s+(rue|avenue|boulevard|chemin)\b"
)
_ADDRESS_WORD = re.compile(r"(?i)\b(address|adresse|anschrift|indirizzo|direcci[oó]n)\b")
_POSTCODE_TOWN = re.compile(r"\b\d{4,5}\s+[^\W\d_]{3,}")
# What went wrong with a delivery, said in the message that asks about it ("the parcel for
# O0001234 never arrived", "my jacket arrived with a hole in the sleeve").
_PROBLEM = re.compile(
    r"(?i)\b(never|not|nothing|(did|does|do|has|have|had|was|were|is|ca|wo)n'?t)\s+"
    r"(\w+\s+){0,2}?(arrived?|came|come|received?|got|"
    r"delivered|turned up|showed up|work(s|ed|ing)?)\b(?!\s+yet)"
    # ("it says delivered but I don't have it")
    r"|\b(says|said|shows|showing|marked( as)?)\s+(it('s| was| is)\s+)?delivered\s+but\b"
    r"|\b((do|does|did|have|has)n'?t|do not|did not|never)\s+(have|got|get|see|seen)\s+"
    r"(it|them|anything|a thing|the (parcel|package|order))\b(?!\s+yet)"
    r"|\b(missing|damaged|broken|broke|crack(s|ed)?|smashed|shattered|crushed|dent(s|ed)?|"
    r"chipped|bent|torn|ripped|"
    r"holes?|stain(s|ed)?|wet|soaked|leak(ed|ing|s)?|(was|were|been) opened|stolen|lost|faulty|"
    r"defective|incomplete|empty|scratch(es|ed)?|wrong (item|size|colou?r|product|one|thing|"
    r"parcel|model|order)|instead of|only (got|received|came)|(got|received) nothing)\b"
)
_HYPOTHETICAL = re.compile(r"(?i)\b(if|what happens|in case|what do i do)\b")
# A delivery problem asked about in general ("what happens if my parcel gets lost?"), not
# reported ("I got a damaged item, what do I do?")
_IN_GENERAL = re.compile(
    r"(?i)\b(what happens|what if|in case|if (my|a|the|an) (parcel|package|order|item|delivery))\b"
)
# Why an item goes back, said with the request ("I'd like to return O0001234 because it's
# too small", "return my shoes, they don't fit").
_BECAUSE_WORDS = r"because|since|cause|cos|coz|bc"
_RETURN_REASON = re.compile(
    rf"(?i)\b({_BECAUSE_WORDS})\s+\S"
    r"|\btoo\s+(small|big|large|tight|loose|short|long|wide|narrow|heavy|dark|light)\b"
    # ("exchange it for a bigger size", "swap them for another colour")
    r"|\b(exchange|swap|change)\b[^.?!]{0,30}?\b(bigger|smaller|larger|other|different|"
    r"another)\s+(size|colou?r|model|one)\b"
    r"|\b(do(es)?n'?t|do(es)? not|didn'?t|did not)\s+(fit|like|want|need|match|work)\b"
    r"|\b(damaged|broken|faulty|defective|wrong (size|colou?r|item|model)|not as (described|"
    r"pictured|shown|advertised)|changed my mind|poor quality|bad quality|arrived late)\b"
)
# An exchange asked for ("swap them for a bigger size", "umtauschen"): the return's answer
# says how to get the other size, not only where the refund goes.
_EXCHANGE = re.compile(r"(?i)\b(exchang\w*|swap\w*|umtausch\w*|[ée]change\w*|cambi(o|ar))\b")
_BECAUSE = re.compile(rf"(?i)\b({_BECAUSE_WORDS})\s+(?=\S)")
# What a postcode given as the proof looks like: two digits or more ("80331", "31-042",
# "1012 AB"), or a digit beside a letter ("SW1A 1AA"); a lone "3" ("3 weeks") is none.
_MAY_BE_POSTCODE = re.compile(r"(?i)\d[\s-]?\d|[^\W\d_]\d|\d(?!(st|nd|rd|th)\b)[^\W\d_]")
_NO_POSTCODE = frozenset({ORDER, DATE, MONEY, PHONE})
# A yes that takes an answer's hint of a person ("ok please help"): at most this many words
_SHORT_YES_WORDS = 4
# "ok", "alright.": an answer acknowledged, no yes to the person its hint offers
_ACKNOWLEDGED = re.compile(r"(?i)\W*(ok(ay)?|k|alright|all right|right|i see)\W*")
# A code too long for a postcode (the longest, "SW1A 1AA" or "01310-100", have at most 8
# letters and digits in a row): a carrier's tracking number, "ZX60417GLS0", "JJD0066190802"
_LONG_CODE = re.compile(r"(?<![^\W_])(?=[^\W_]*\d)[^\W_]{9,}(?![^\W_])")
# A bare number beside the order number that may be its postcode ("55821 10115")
_POSTCODE_DIGITS = re.compile(r"\d{4,5}")
# A number given as a postcode ("postcode 1012 AB", "CAP 00184", "kod pocztowy 31-042") is
# no order number, even where the bot asked for one.
_NAMED_POSTCODE = re.compile(
    r"(?i)\b(post\s?code|postal code|zip(\s?code)?|plz|postleitzahl|cap|code postal|"
    r"c[oó]digo postal|kod pocztowy|postnummer|posta kodu)\b[\s:.#-]*\w[\w -]{1,8}"
)
CANCELLABLE = frozenset({OrderStatus.placed, OrderStatus.paid})
RETURNABLE = frozenset({OrderStatus.shipped, OrderStatus.delivered})
_REFUNDED = frozenset({OrderStatus.returned, OrderStatus.cancelled})


@dataclass(frozen=True)
class DialogueConfig:
    timeout: dt.timedelta = dt.timedelta(minutes=30)
    max_tries: int = 3
    max_failures_per_conversation: int = 3
    max_failures_per_visitor: int = 5
    failure_window: dt.timedelta = dt.timedelta(hours=24)
    # an intent read below this is unsure (the policy's line): an unsure "never mind" drops
    # no request, only the words do
    unsure: float = PolicyConfig.unsure_intent


@dataclass
class State:
    """The request in progress (stored as JSON on the conversation)."""

    task: str
    awaiting: str | None = None  # order | proof | address | reason | problem | confirm
    soft: bool = False  # an offer to look at an order: a reply that fills nothing drops it
    order: str | None = None  # the order number the customer named
    email: str | None = None
    focus: str | None = None  # the order this conversation was last about (already shown)
    address: str | None = None
    reason: str | None = None  # a return's reason, or what went wrong with a delivery
    tries: int = 0
    updated_at: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def load(cls, data: dict[str, Any] | None) -> State | None:
        if not data or data.get("task") not in TASKS:
            return None
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        return cls(**known)


@dataclass
class Turn:
    """What the dialogue did with one message."""

    decision: Decision
    replies: list[Reply]


class Dialogue:
    """Runs the order requests; one instance serves every conversation (no state of its own)."""

    def __init__(
        self, replier: Replier, extractor: EntityExtractor, config: DialogueConfig
    ) -> None:
        self.replier = replier
        self.extractor = extractor
        self.config = config

    def step(
        self,
        session: Session,
        *,
        conversation: Conversation,
        identity: ChannelIdentity,
        customer: Customer,
        text: str,
        understanding: Understanding,
        entities: list[Entity],
        earlier_emails: Sequence[str] = (),
        earlier_texts: Sequence[str] = (),
        slot_only: bool = False,
    ) -> Turn | None:
        """Handle one customer message as part of an order request; None when it is none.

        ``earlier_emails`` are the emails the customer gave earlier in this conversation
        (newest first): "paul@example.de" and then "O0010021, did my refund go through?"
        is an order number with its email; ``earlier_texts`` their earlier messages (newest
        first), where a postcode may have been named before the order number. With
        ``slot_only`` (a complaint over a request in progress) the message counts only where
        it fills what the request waits for."""
        now = self.replier.clock()
        offer = (conversation.dialogue or {}).get("offer")
        if offer in ("human", "hint"):  # the bot offered a person last time: this answers it
            data = {k: v for k, v in (conversation.dialogue or {}).items() if k != "offer"}
            conversation.dialogue = data if "focus" in data else None
            # (an answer's hint, "… type 'agent'", is taken by a short yes only: "ok, other
            # thing: my order hasn't arrived" goes on, and a bare "ok" acknowledges it)
            short = (
                len(text.split()) <= _SHORT_YES_WORDS
                and not entities
                and not _ACKNOWLEDGED.fullmatch(text)
            )
            if _takes_offer(text) and self._recent(data, now) and (offer == "human" or short):
                return self._hand_over(
                    session, conversation, customer, "human_agent", EscalationReason.human_request
                )
        # ("where is my order?" asks about the latest, not the order in focus)
        focus = None if _MY_ORDER.search(text) else self._focus(conversation, now)
        state = self._load(conversation, now)
        if state is not None:
            state.focus = focus
        intent = understanding.intent.label
        if intent == NEVER_MIND_INTENT and (
            understanding.intent.confidence < self.config.unsure
            or (state is not None and state.awaiting == "reason" and not _NEVER_MIND.search(text))
        ):
            # ("still not here", read as never mind at 0.22; "changed my mind", at 0.60,
            # answers "what's the reason for returning it?")
            intent = FALLBACK_INTENT
        if state is not None and (intent == NEVER_MIND_INTENT or _NEVER_MIND.search(text)):
            conversation.dialogue = None
            context = self.replier.context(session, customer, conversation, order=False)
            return Turn(
                Decision(Action.answer, "dialogue_dropped"),
                self.replier.render(context, "dialogue_dropped"),
            )
        awaiting_order = state is not None and state.awaiting == "order"
        if not entities_of(entities, ORDER) and (
            awaiting_order
            # "66190 / paul@example.de - shipped yet?": a bare number beside the email is
            # the order number (the proof is right there), as after "what's the number?";
            # so is one in an order request after the email ("my email is …", then "has
            # 40331 shipped?")
            or (
                (entities_of(entities, EMAIL) or (intent in TASKS and earlier_emails))
                and (state is None or state.awaiting is None)
            )
        ):
            entities = [*entities, *self._bare_orders(text, entities)]
        named = entities_of(entities, ORDER)
        emails = entities_of(entities, EMAIL)
        filled = state is not None and self._fill(state, text, named, emails, intent)
        if slot_only and not filled:
            return None

        if state is None:
            task = intent if intent in TASKS else None
            if task is None and named and intent in ORDER_TALK_INTENTS:
                task = ORDER_STATUS
            if not named and _WHERE_IS_THE_NUMBER.search(text):
                # ("where can I find my order number?" was asked to send its order number):
                # where it is, and the lookup waits for it (soft: anything else drops it)
                state = State(task=task or ORDER_STATUS, awaiting="order", soft=True, focus=focus)
                self._save(conversation, state, now)
                context = self.replier.context(session, customer, conversation, order=False)
                return Turn(
                    Decision(Action.answer, "where_order_number"),
                    self.replier.render(context, "where_order_number"),
                )
            if (
                task == ORDER_STATUS
                and understanding.intent.confidence < self.config.unsure
                and _stated_reason(DELIVERY_PROBLEM, text)
            ):  # ("I ordered 2 items but only got 1, order O0004000": status at 0.28)
                task = DELIVERY_PROBLEM
            if task is None or (task == PAYMENT_PROBLEM and not named):
                return None
            state = State(task=task, focus=focus)
            if task == REFUND_RETURN and _ASKS_FOR_REFUND.search(text):
                state.extra["refund_status"] = True  # a question, not a new return
            else:  # "… because it's too small", "the parcel never arrived": not asked again
                state.reason = _stated_reason(task, text)
            if task == DELIVERY_PROBLEM and not named and _IN_GENERAL.search(text):
                # "what happens if my parcel gets lost?": asked in general, no apology, and a
                # reply that gives no order drops the offer to look at one (soft)
                state.extra["general"], state.soft = True, True
        elif not filled:
            # ("I don't know the number": no new topic, whatever the intent model reads)
            no_number = state.awaiting == "order" and _NO_NUMBER.search(text) is not None
            if intent in SWITCH_TASKS and intent != state.task:
                state = State(task=intent, order=state.order, email=state.email, focus=state.focus)
            elif (
                intent not in LOOSE_INTENTS | _CLOSING
                and intent != state.task
                and not state.soft
                and state.awaiting in ("address", "confirm")
            ):
                # A question on the side ("wait, when are you open?") is answered, and the
                # request waits one more message for the address or the yes it asked for
                # (soft: a reply that fills nothing then drops it).
                state.soft = True
                self._save(conversation, state, now)
                return None
            elif (
                state.soft
                or intent in _CLOSING
                or (intent not in LOOSE_INTENTS and intent != state.task)
            ) and not no_number:  # ("I don't know the number": opening hours at 0.31)
                self._end(conversation, state, now)  # the customer moved on, or said goodbye
                return None
            else:  # no answer, or the same request again ("I just want to know where it is")
                state.tries += 1
                if state.tries >= self.config.max_tries:
                    log.info("bot.dialogue.gave_up conversation=%s", conversation.id)
                    return self._give_up(session, conversation, customer, state, now)
                if no_number:
                    if state.extra.get("no_number"):  # (said twice: a person can find it)
                        return self._give_up(session, conversation, customer, state, now)
                    state.extra["no_number"] = True
                    self._save(conversation, state, now)  # (where to find it; still asked)
                    context = self.replier.context(session, customer, conversation, order=False)
                    return Turn(
                        Decision(Action.answer, "no_order_number"),
                        self.replier.render(context, "no_order_number"),
                    )
                return self._ask(session, conversation, customer, state, now, retry=True)
        else:
            state.tries = 0
            if (
                intent in SWITCH_TASKS | {PAYMENT_PROBLEM}
                and intent != state.task
                and state.awaiting in ("order", "proof")
                and named  # (a bare proof, "postal code 31-042", asks for nothing new)
            ):
                state.task = intent  # "cancel O0001234" after "where is my order?"
        if (
            state.task == CHANGE_ADDRESS
            and state.address is None
            and (spans := _address_spans(text, entities))
        ):  # ("… I used the wrong address! The right one is Leopoldstr. 5, 80802 München")
            found = text[min(a for a, _ in spans) : max(b for _, b in spans)]
            state.address, state.soft = " ".join(found.split())[:300], False
        if state.order is None and named:
            state.order = named[0]
        if state.email is None and emails:
            state.email = emails[0]
        refused = set(state.extra.get("refused_emails", []))
        if state.email is None and state.order is not None:
            state.email = next((e for e in earlier_emails if e not in refused), None)
        elif state.email is None and state.task in DIRECT_TASKS and state.awaiting is None:
            # ("hi, I'm Ben, ben@example.com", then "where's my order?"): only the number
            state.extra["email_given"] = any(e not in refused for e in earlier_emails)
        return self._resolve(
            session, conversation, identity, customer, state, text, entities, now, earlier_texts
        )

    def _bare_orders(self, text: str, entities: list[Entity]) -> list[Entity]:
        """The bare ids in ``text`` ("66190", "#66190") read as order numbers, except where
        ``entities`` (the extractor's reading without expecting an order) has a phone
        number, an amount or a date: "call me on +49 151 23456789" holds no order number."""
        plain = plain_text(text)
        others = [(e.start, e.end) for e in entities if e.type != ORDER]
        others += _address_spans(plain)
        others += [m.span() for m in _NAMED_POSTCODE.finditer(plain)]
        return [
            e
            for e in self.extractor.extract(text, expect=ORDER)
            if e.type == ORDER
            and e.value
            and not any(e.start < end and start < e.end for start, end in others)
        ]

    def await_proof(self, conversation: Conversation, ref: str) -> None:
        """Keep the order a general answer's question named: the email or postcode sent
        next shows it, and a message that gives neither drops it (soft)."""
        now = self.replier.clock()
        focus = self._focus(conversation, now)
        state = State(task=ORDER_STATUS, awaiting="proof", soft=True, order=ref, focus=focus)
        self._save(conversation, state, now)

    def in_progress(self, conversation: Conversation) -> bool:
        """Whether a request is in progress (the bot waits for a slot or a confirmation)."""
        return self.awaiting(conversation) is not None

    def awaiting(self, conversation: Conversation) -> str | None:
        """What a request in progress waits for (order, proof, address, reason, problem,
        confirm; "" when nothing yet), or None when none is in progress."""
        state = State.load(conversation.dialogue)
        return None if state is None else state.awaiting or ""

    # -- slots ---------------------------------------------------------------------------

    def _fill(
        self, state: State, text: str, named: list[str], emails: list[str], intent: str
    ) -> bool:
        """Fill what the bot asked for from this message; whether it filled anything."""
        match state.awaiting:
            case "order":
                # After a wrong pair, the half sent again goes with the other half of that
                # pair ("sorry, typo: anna@…" after "O0001234" and a mistyped email).
                unmatched = state.extra.pop("unmatched", None) or {}
                if named:
                    state.order = named[0]
                    if emails:
                        state.email = emails[0]
                    elif unmatched.get("email") and named[0] != unmatched.get("order"):
                        state.email = unmatched["email"]
                    return True
                if emails and unmatched.get("order") and emails[0] != unmatched.get("email"):
                    state.order, state.email = unmatched["order"], emails[0]
                    return True
                if unmatched.get("order") and _NAMED_POSTCODE.search(text):
                    # ("The office postcode is 50672": that order, with a postcode this time)
                    state.order = unmatched["order"]
                    return True
                suggested = state.extra.get("suggested")
                # "yes" to "is it about order O…?", or the new address right away
                new_address = state.task == CHANGE_ADDRESS and bool(_address_spans(text))
                if suggested and (_YES.search(text) or new_address):
                    state.order = str(suggested)
                    return True
                if emails and state.email is None:
                    state.email = emails[0]
                    return True
                if state.reason is None and (reason := _stated_reason(state.task, text)):
                    state.reason, state.soft = reason, False  # ("they're too small")
                    if suggested:  # (the answer to "is it about order O…?" is about it)
                        state.order = str(suggested)
                    return True
                return new_address  # (kept by step as the new address)
            case "proof":
                if named and named[0] != state.order:
                    state.order, state.email = named[0], None
                if emails:
                    state.email = emails[0]
                    return True
                return bool(re.search(r"\d", text)) or bool(named)  # a postcode, perhaps
            case "address":
                cleaned = _without_lead(_ADDRESS_LEAD, " ".join(text.split()))
                if len(cleaned) >= 6 and re.search(r"\d", cleaned):
                    state.address = cleaned[:300]
                    return True
                return False
            case "reason" | "problem":
                cleaned = _without_lead(_REASON_LEAD, " ".join(text.split()))
                if len(cleaned) >= 2 and (state.awaiting == "reason" or intent not in _SMALL_TALK):
                    state.reason = cleaned[:300]
                    return True
                return False
            case "confirm":
                if _YES.search(text):
                    state.extra["confirmed"] = True
                    return True
                if _NO.search(text):
                    state.extra["confirmed"] = False
                    return True
                return False
        return False

    # -- the request -----------------------------------------------------------------------

    def _resolve(
        self,
        session: Session,
        conversation: Conversation,
        identity: ChannelIdentity,
        customer: Customer,
        state: State,
        text: str,
        entities: list[Entity],
        now: dt.datetime,
        earlier_texts: Sequence[str] = (),
    ) -> Turn:
        order: Order | None = None
        if state.order is not None:
            found = orders.find_order(session, ref=state.order)
            if found is not None and found.customer_id == customer.id:
                order = found
            else:
                # ("55821 10115": a second bare number that is no order is the postcode)
                postcodes = [
                    e
                    for e in entities
                    if e.type == ORDER
                    and e.value != state.order
                    and _POSTCODE_DIGITS.fullmatch(str(e.value))
                    and orders.find_order(session, ref=str(e.value)) is None
                ]
                proof_text = _proof_text(text, [e for e in entities if e not in postcodes])
                if state.task == CHANGE_ADDRESS:  # (the new address's postcode is no proof)
                    # (blanked in place: the spans overlap, "Zeil 10, 60313 Frankfurt" and
                    # its "60313 Frankfurt", and cutting them out shifted the text after)
                    for start, end in _address_spans(proof_text):
                        proof_text = proof_text[:start] + " " * (end - start) + proof_text[end:]
                if state.email is None and not _MAY_BE_POSTCODE.search(proof_text):
                    earlier = _earlier_postcode(state, earlier_texts)
                    if earlier is None:
                        state.awaiting, state.soft = "proof", False
                        return self._ask(session, conversation, customer, state, now)
                    proof_text = earlier
                verdict = self._verify(
                    session, conversation, identity, customer, state, found, proof_text, now
                )
                if isinstance(verdict, Turn):
                    return verdict
                order, customer = verdict
        elif state.task in DIRECT_TASKS and customers.is_known(customer):
            order = self._in_focus(session, state, customer) or orders.latest_order(
                session, customer_id=customer.id
            )
        elif _ABOUT_IT.search(text) and customers.is_known(customer):
            order = self._in_focus(session, state, customer)  # "can I still cancel it?"
        if order is None:
            return self._ask(session, conversation, customer, state, now)
        return self._act(session, conversation, customer, state, order, now)

    def _verify(
        self,
        session: Session,
        conversation: Conversation,
        identity: ChannelIdentity,
        customer: Customer,
        state: State,
        order: Order | None,
        proof_text: str,
        now: dt.datetime,
    ) -> tuple[Order, Customer] | Turn:
        """Check the order number against the email or postcode; the order and its owner, or
        the turn that refuses (revealing nothing) or hands over."""
        ref = state.order or ""
        in_conversation, by_visitor = orders.failed_attempts(
            session,
            identity_id=identity.id,
            conversation_id=conversation.id,
            since=now - self.config.failure_window,
        )
        if (
            in_conversation >= self.config.max_failures_per_conversation
            or by_visitor >= self.config.max_failures_per_visitor
        ):
            return self._hand_over(session, conversation, customer)
        ok = order is not None and (
            (state.email is not None and orders.owner_email_matches(session, order, state.email))
            or orders.postcode_matches(order, proof_text)
        )
        orders.record_attempt(
            session,
            identity_id=identity.id,
            conversation_id=conversation.id,
            ref=ref,
            succeeded=ok,
            at=now,
        )
        log.info(
            "bot.dialogue.verify conversation=%s identity=%s ok=%s",
            conversation.id,
            identity.id,
            ok,
        )
        if not ok or order is None:
            if (
                in_conversation + 1 >= self.config.max_failures_per_conversation
                or by_visitor + 1 >= self.config.max_failures_per_visitor
            ):
                return self._hand_over(session, conversation, customer)
            if state.email:  # never tried again unasked from an earlier message
                state.extra["refused_emails"] = [
                    *state.extra.get("refused_emails", []),
                    state.email,
                ]
            state.extra["unmatched"] = {"order": ref, "email": state.email}
            state.order = state.email = None
            state.awaiting, state.soft = "order", False
            self._save(conversation, state, now)
            context = self.replier.context(session, customer, conversation, order=False)
            return Turn(
                Decision(Action.answer, "order_not_matched"),
                self.replier.render(context, "order_not_matched"),
            )
        if not customers.is_known(customer):
            customer, _ = customers.link_identity(
                session, identity=identity, customer_id=order.customer_id
            )
            log.info(
                "bot.dialogue.linked conversation=%s customer=%s", conversation.id, customer.id
            )
        return order, customer

    def _act(
        self,
        session: Session,
        conversation: Conversation,
        customer: Customer,
        state: State,
        order: Order,
        now: dt.datetime,
    ) -> Turn:
        """Carry on with the request for a verified order."""
        context = self.replier.context(session, customer, conversation, order=order)
        # (the customer's words, quoted mid-sentence: "…: it was the wrong size. Start it …")
        context["reason"] = (state.reason or "").rstrip(" .!?…") or state.reason
        # (waiting for a person already: the answers offer none, a colleague is coming)
        context["queued"] = conversation.status in WITH_A_PERSON
        ref = orders.order_ref(order)
        done, offer = True, False  # (offer: a person is offered after the answer)
        reason: EscalationReason | None = None

        def note(text: str, request: str) -> None:  # (for the agents, with the order)
            self.replier.note(session, conversation, text, order_id=order.id, request=request)

        match state.task:
            case "order_status":
                keys = ["order_status_detail"]
                if _late(order, now):
                    context["late"], offer = True, True
                    keys.append("order_late")
            case "delivery_problem":
                if state.reason:  # what went wrong: a person sorts it out, as a complaint
                    reason = EscalationReason.complaint
                    note(f"Delivery problem with order {ref}: {state.reason}", "delivery_problem")
                    keys = ["delivery_problem_noted"]
                elif state.extra.get("general"):  # ("and what if it doesn't come?")
                    keys = ["delivery_problem_general"]
                else:  # (small talk next drops the question: soft)
                    state.awaiting, state.soft, state.order = "problem", True, ref
                    done, keys = False, ["delivery_problem_order"]
            case "cancel_order":
                if order.status not in CANCELLABLE:
                    keys = [f"cancel_{order.status.value}"]
                    if order.status is OrderStatus.delivered:  # "Shall I start a return?"
                        state = State(task=REFUND_RETURN, awaiting="confirm", soft=True, order=ref)
                        state.extra["offered"], done = True, False
                elif state.awaiting == "confirm" and "confirmed" in state.extra:
                    if state.extra["confirmed"]:
                        reason = EscalationReason.order_request
                        note(
                            f"Cancellation requested for order {ref} ({order.status.value}).",
                            "cancel_order",
                        )
                        keys = ["cancel_requested"]
                    else:
                        keys = ["cancel_kept"]
                else:
                    state.awaiting, state.soft, state.order = "confirm", False, ref
                    done, keys = False, ["cancel_confirm"]
            case "change_address":
                if order.status not in CANCELLABLE:
                    keys = ["change_address_too_late"]
                elif state.address:
                    reason = EscalationReason.order_request
                    note(
                        f"New delivery address requested for order {ref}: {state.address}",
                        "change_address",
                    )
                    context["new_address"] = state.address
                    keys = ["change_address_requested"]
                else:
                    state.awaiting, state.soft, state.order = "address", False, ref
                    done, keys = False, ["ask_new_address"]
            case "payment_problem":  # (a person checks a charge with the payment provider)
                offer, keys = True, ["payment_order"]
            case _:  # refund_return
                if order.status not in RETURNABLE:
                    keys = [f"return_{order.status.value}"]
                    if state.extra.get("refund_status") and order.status in _REFUNDED:
                        offer = True  # ("did my refund go through?": if it's late, a person)
                        keys.append("refund_check_offer")
                elif state.extra.get("offered") and not state.extra.get("confirmed"):
                    keys = ["return_not_started"]  # ("no" to "shall I start a return?")
                elif state.extra.get("refund_status") and not state.reason:
                    # ("did my refund go through?"; "yes, I sent it back" takes the offer)
                    keys, offer = ["refund_not_received"], True
                elif state.reason:
                    note(f"Return of order {ref}: {state.reason}", "refund_return")
                    context["exchange"] = _EXCHANGE.search(state.reason) is not None
                    keys = ["return_registered"]
                else:
                    state.awaiting, state.soft, state.order = "reason", False, ref
                    done, keys = False, ["ask_return_reason"]
        state.focus = ref
        if done:
            self._end(conversation, state, now)
        else:
            self._save(conversation, state, now)
        if offer and not context["queued"]:  # ("yes" takes the offer)
            self.offer_person(conversation)
        replies = self.replier.render(context, *keys)
        if reason is not None:
            self.replier.enqueue(session, conversation, customer, reason, 0.0)
            return Turn(Decision(Action.escalate, keys[-1], reason), replies)
        return Turn(Decision(Action.answer, keys[-1]), replies)

    def _ask(
        self,
        session: Session,
        conversation: Conversation,
        customer: Customer,
        state: State,
        now: dt.datetime,
        *,
        retry: bool = False,
    ) -> Turn:
        """Ask for what the request still needs."""
        shown: Order | None = None  # an order shown in the question: only the customer's own
        focused = False  # ... the one this conversation was about (else their latest)
        keys: list[str]
        if state.awaiting in ("address", "reason", "problem", "confirm") and state.order:
            asks = {
                "address": "ask_new_address",
                "reason": "ask_return_reason",
                "problem": "delivery_problem_order",
            }
            keys = [asks.get(state.awaiting, "cancel_confirm")]
            found = orders.find_order(session, ref=state.order)
            if found is not None and found.customer_id == customer.id:
                shown = found
        elif state.order is not None:
            state.awaiting = "proof"
            keys = ["ask_order_proof"]
        else:
            first = state.awaiting is None
            if not first and state.extra.get("no_number"):
                # "I don't have the order number", then "my email is …": the bot cannot
                # look an order up by an email alone; a person can find it
                return self._give_up(session, conversation, customer, state, now)
            state.awaiting = "order"
            if state.task in DIRECT_TASKS or not first:
                # (an email given now or earlier in the chat: only the number is asked for)
                given = state.email or state.extra.get("email_given")
                keys = ["ask_order_number" if given else "ask_order_and_proof"]
            else:
                # "How do returns work?": the general answer, and an offer to look at an order.
                state.soft = True
                if customers.is_known(customer):
                    shown = self._in_focus(session, state, customer)
                    focused = shown is not None
                    shown = shown or orders.latest_order(session, customer_id=customer.id)
                if shown is not None:
                    state.extra["suggested"] = orders.order_ref(shown)
                keys = [state.task, "ask_which_order" if shown else "offer_order_lookup"]
        context = self.replier.context(session, customer, conversation, order=shown)
        context |= {"retry": retry, "ref": state.order, "focused": focused}
        context["email_given"] = bool(state.extra.get("email_given"))
        context["new_address"] = state.address
        general = bool(state.extra.get("general"))
        context["general"] = general
        context["trouble"] = state.task == DELIVERY_PROBLEM and not general  # (an apology)
        self._save(conversation, state, now)
        return Turn(Decision(Action.answer, keys[-1]), self.replier.render(context, *keys))

    def _give_up(
        self,
        session: Session,
        conversation: Conversation,
        customer: Customer,
        state: State,
        now: dt.datetime,
    ) -> Turn:
        """End the request and offer a person ("yes" takes the offer): the customer cannot
        give what it needs (tried too often, or has no order number)."""
        key = "no_number_offer_human" if state.extra.get("no_number") else "dialogue_offer_human"
        self._end(conversation, state, now)
        self.offer_person(conversation)
        context = self.replier.context(session, customer, conversation, order=False)
        return Turn(Decision(Action.answer, key), self.replier.render(context, key))

    def _hand_over(
        self,
        session: Session,
        conversation: Conversation,
        customer: Customer,
        key: str = "verification_failed",
        reason: EscalationReason = EscalationReason.verification_failed,
    ) -> Turn:
        """To a person, saying ``key`` first: after too many failed proofs, or when the
        customer says yes to the offer of a person."""
        conversation.dialogue = None
        context = self.replier.context(session, customer, conversation, order=False)
        replies = self.replier.render(context, key)
        replies += self.replier.escalate(session, conversation, customer, reason, 0.0, context)
        log.info("bot.dialogue.handed_over conversation=%s reason=%s", conversation.id, reason)
        return Turn(Decision(Action.escalate, key, reason), replies)

    def _in_focus(self, session: Session, state: State, customer: Customer) -> Order | None:
        """The order this conversation was last about, if it is this customer's."""
        if state.focus is None:
            return None
        found = orders.find_order(session, ref=state.focus)
        return found if found is not None and found.customer_id == customer.id else None

    # -- storage -------------------------------------------------------------------------

    def _focus(self, conversation: Conversation, now: dt.datetime) -> str | None:
        """The order a finished (or running) request was about, while it is recent."""
        data = conversation.dialogue or {}
        focus = data.get("focus")
        return focus if isinstance(focus, str) and self._recent(data, now) else None

    def _load(self, conversation: Conversation, now: dt.datetime) -> State | None:
        state = State.load(conversation.dialogue)
        if state is None:
            return None
        if not self._recent(conversation.dialogue or {}, now):
            conversation.dialogue = None
            return None
        return state

    def offer_person(self, conversation: Conversation, *, hint: bool = False) -> None:
        """Note that the bot offered a person: a "yes" as the next message takes the offer
        (after a ``hint``, a general answer's "… type 'agent'", only a short yes)."""
        conversation.dialogue = {
            **(conversation.dialogue or {}),
            "offer": "hint" if hint else "human",
            "updated_at": self.replier.clock().isoformat(),
        }

    def _recent(self, data: dict[str, Any], now: dt.datetime) -> bool:
        """Whether the stored dialogue was updated within ``timeout``."""
        try:
            updated = dt.datetime.fromisoformat(str(data.get("updated_at")))
        except ValueError:
            return False
        return now - updated <= self.config.timeout

    def _end(self, conversation: Conversation, state: State, now: dt.datetime) -> None:
        """The request is over; the conversation keeps only its focus."""
        conversation.dialogue = (
            {"focus": state.focus, "updated_at": now.isoformat()} if state.focus else None
        )

    def _save(self, conversation: Conversation, state: State, now: dt.datetime) -> None:
        state.updated_at = now.isoformat()
        conversation.dialogue = asdict(state)


def _address_spans(text: str, entities: Sequence[Entity] = ()) -> list[tuple[int, int]]:
    """Where ``text`` holds a postal address: its street and house number, and beside
    them (or after the word "address") a postcode with its town ("80331 München"); none
    overlaps an order number or an email of ``entities`` ("… address for order 55821
    ben@example.com" names no town "55821 ben")."""
    spans = [m.span() for m in _ADDRESS.finditer(text)]
    if spans or _ADDRESS_WORD.search(text):
        spans += [m.span() for m in _POSTCODE_TOWN.finditer(text)]
    taken = [(e.start, e.end) for e in entities if e.type in (ORDER, EMAIL)]
    return [(a, b) for a, b in spans if not any(a < end and start < b for start, end in taken)]


def _earlier_postcode(state: State, texts: Sequence[str]) -> str | None:
    """A postcode named in an earlier message ("my postcode is 04109", then "where's order
    O0008001?"), as the proof for the order named now; tried once per request, so a
    postcode that did not match is not tried again with the next order number. Not for a
    change of address."""
    if state.extra.get("earlier_postcode_tried") or state.task == CHANGE_ADDRESS:
        return None  # (for a change of address, a postcode named may be the new one)
    for text in texts:
        if named := _NAMED_POSTCODE.search(plain_text(text)):
            state.extra["earlier_postcode_tried"] = True
            return named.group(0)
    return None


def _late(order: Order, now: dt.datetime) -> bool:
    """Whether an order on its way should have arrived by now (its expected delivery day
    has passed)."""
    return (
        order.status in (*CANCELLABLE, OrderStatus.shipped)
        and order.estimated_delivery is not None
        and order.estimated_delivery < now.date()
    )


def _takes_offer(text: str) -> bool:
    """Whether the message says yes to the offer of a person, asking nothing else; "ok thx"
    and "ok bye" acknowledge and close ("yes thanks", "sure thanks" take it)."""
    yes = _YES.search(text)
    if yes is None or _THEN_ASKS.match(text, yes.end()):
        return False
    return not (yes.group(1).casefold().startswith("ok") and _THEN_CLOSES.match(text, yes.end()))


def names_a_problem(text: str) -> bool:
    """Whether the message says something went wrong with a delivery ("never arrived", "the
    box is soaked", "wrong size")."""
    return _PROBLEM.search(text) is not None


def names_a_proof(text: str, entities: Sequence[Entity]) -> bool:
    """Whether the message gives what proves an order is the customer's: an email, or a
    postcode named as one ("PLZ 50672", "postcode 1012 AB")."""
    return (
        bool(entities_of(entities, EMAIL)) or _NAMED_POSTCODE.search(plain_text(text)) is not None
    )


def _without_lead(lead: re.Pattern[str], text: str) -> str:
    """``text`` without the words that introduce it ("new address is ..."), unless they are
    all there is."""
    rest = lead.sub("", text, count=1)
    return rest if len(rest) >= 2 else text


def _stated_reason(task: str, text: str) -> str | None:
    """What went wrong with a delivery, or why an item goes back, when the message that
    asks for it says so: the customer's words (after "because" where they give one)."""
    pattern = {DELIVERY_PROBLEM: _PROBLEM, REFUND_RETURN: _RETURN_REASON}.get(task)
    said_so = pattern is not None and pattern.search(text) is not None
    if task == DELIVERY_PROBLEM and not said_so:
        said_so = delivery_went_wrong(text)  # ("Mein Paket kam beschädigt an")
    if not said_so or _HYPOTHETICAL.search(text):
        return None  # ("what happens if my parcel is lost?" asks in general)
    said = " ".join(text.split())
    because = _BECAUSE.search(said) if task == REFUND_RETURN else None
    if because is not None and len(said) - because.end() >= 4:
        said = said[because.end() :]
    return said[:300]


def _proof_text(text: str, entities: list[Entity]) -> str:
    """The text with the named order numbers, dates, amounts, phone numbers and tracking
    codes blanked (so "55821" is no postcode proof, nor is "3 weeks ago" or a pasted
    "ZX60417GLS0"), in the form the entities were found in (full-width digits as ASCII
    ones)."""
    blanked = replace_entities(plain_text(text), entities, dict.fromkeys(_NO_POSTCODE, " "))
    return _LONG_CODE.sub(lambda m: " " * len(m.group(0)), blanked)

"""The conversation engine: inbound → understand → decide → outbound, free of any channel.

A message's walk: the models and the entity extractor read it (outside the database
transaction); a repeated message id returns the first answer; a survey answer goes to
:mod:`bot.surveys`; a command has its fixed action; anything else is stored and decided:
escalation triggers first (:mod:`bot.policy.escalation`), then a request about an order
(:mod:`bot.dialogue`), then the intent's answer from the response book.
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
import re
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import TypeVar, overload

from sqlalchemy.orm import Session

from bot.channels import Channels
from bot.channels.web import WebChat
from bot.dialogue import (
    DELIVERY_PROBLEM,
    DIRECT_TASKS,
    ORDER_STATUS,
    ORDER_TALK_INTENTS,
    PAYMENT_PROBLEM,
    SWITCH_TASKS,
    TASKS,
    Dialogue,
    DialogueConfig,
    Turn,
    names_a_problem,
    names_a_proof,
)
from bot.faq import FaqMatcher
from bot.inbound import Command, InboundMessage, Outcome
from bot.policy.escalation import (
    THANKS_OR_PRAISE,
    Action,
    Decision,
    EscalationReason,
    PolicyConfig,
    decide,
)
from bot.replying import Replier, signals
from bot.responses import FAQ_PREFIX, Reply, ResponseBook
from bot.surveys import SurveyAnswers
from careloop.config import Settings
from crm.conversations import service as conversations
from crm.conversations.routing import Office
from crm.customers import service as customers
from crm.db import utcnow
from crm.hours import BusinessHours
from crm.models import (
    WITH_A_PERSON,
    ChannelIdentity,
    Conversation,
    ConversationStatus,
    Customer,
    Message,
)
from crm.surveys import service as surveys
from nlp.base import FALLBACK_INTENT, IntentPrediction, Understanding
from nlp.entities import (
    DEFAULT_ORDER_PATTERNS,
    EMAIL,
    ORDER,
    Entity,
    EntityExtractor,
    entities_of,
    replace_entities,
)
from nlp.language_id import language_of_locale
from nlp.languages import names_what_to_stop
from nlp.pipeline import NLU
from nlp.smalltalk import GOODBYE, GREET, PRAISE, THANKS
from nlp.tone import WORD, read_tone

log = logging.getLogger(__name__)
T = TypeVar("T")
CANCEL_INTENT = "cancel_request"  # "never mind": withdraw a request for a human
COMPLAINT_INTENT = "complaint"
HUMAN_AGENT_INTENT = "human_agent"
CONTACT_INTENT = "opening_hours_contact"
OPT_OUT_INTENT = "opt_out"
PRODUCT_INTENT = "product_question"
# A topical reading below this is taken as "not sure" (Engine._barely_read)
BARELY_READ = 0.2
# An item that broke or stopped working in use ("the zipper broke after two weeks", "the
# kettle stopped working"): a product question whose answer starts with "Good question!"
# and points to the product page. It gets the warranty's answer instead.
_FAULT = re.compile(
    r"(?i)\b(stopped (working|charging|heating)|(won'?t|doesn'?t|does not|will not) (turn|"
    r"switch) on|fell apart|falls apart|came (apart|off|loose)|peel(s|ed|ing)( off)?|"
    r"worn through)\b"
)
# A follow-up on a frequent question's answer that is at least this near to another frequent
# question asks that one: "and how long does it take?" after "do you ship to Switzerland?"
# is 0.52 near to "How long does delivery take?", "and how much is it?" 0.40 to "How much
# does shipping cost?"; "and to the UK?" is nearest (0.49) to the countries' own question.
# Below the frequent questions' own line (``faq_min_similarity``, 0.75): a follow-up says
# little, and it only chooses among the frequent questions.
FOLLOW_UP_FAQ_SIMILARITY = 0.35
# An unsure topical reading below this, of a message reading at least this positive, with
# praise next, is praise (Engine._unsure_praise)
PRAISE_OVER, PRAISE_SENTIMENT = 0.6, 0.25
# A question of at most this many words, later in a chat, that the intent model reads
# unsure as a complaint while the complaint head gives it less than this, asks about the
# answer (Engine._short_question_read_as_complaint)
SHORT_QUESTION_WORDS, COMPLAINT_HEAD_DOUBTS = 8, 0.1
DEFERRABLE = frozenset(
    {
        EscalationReason.complaint,
        EscalationReason.repeated_negative,
        EscalationReason.at_risk_customer,
    }
)
# Answers that may come twice in a row ("thanks", then "thanks again"); any other answer
# the previous message got is not given again (a person is offered).
_SAID_AGAIN_FREELY = frozenset({GREET, THANKS, GOODBYE, PRAISE, "help"})
# "and to the UK?", "what about sundays?": a follow-up on the previous answer, of at most
# this many words
_FOLLOW_UP = re.compile(r"(?i)\W*(and|what about|how about|what of|same (for|with)|also)\b")
_FOLLOW_UP_WORDS = 6
# "what can I do?" after an answer (the warranty's: read out of scope, 0.43, "I'm afraid I
# can't help with that"): the bot has said what it knows, and offers a person
_WHAT_NOW = re.compile(
    r"(?i)\W*((so|ok|okay|and|but) )?(what (can|should|do) i do( now| then| about (it|that))?|"
    r"what now|now what)\W*"
)
# A follow-up that asks something of its own after its opener ("and how long does it
# take?"), not only a place or a day ("and to the UK?", "what about Sundays?")
_ASKS_SOMETHING = re.compile(
    r"(?i)\b(how|what|when|where|which|why|who|can|could|do|does|is|are|will|would)\b"
)
# What a second reading without the order numbers and emails may find: an order request,
# or a greeting ("hi, I'm Ben, ben@example.com": not sure, 0.27)
_READ_WITHOUT_DATA = TASKS | {"greet"}
# Readings a second reading without the order numbers and emails never replaces: a
# complaint or an opt-out, even an unsure one, stays what the policy reads it as
_NOT_READ_AGAIN = frozenset({"complaint", OPT_OUT_INTENT})
# The general answers a follow-up may get again (besides the frequent questions)
_FOLLOWABLE = frozenset(
    {
        CONTACT_INTENT,
        "payment_problem",
        "loyalty_points",
        "product_question",
        "discount_offer",
        "account_login",
    }
)
# "actually never mind, where is O0001234": withdrawn in so many words, whatever the intent
# model reads (here a lookup, 0.45, over never mind, 0.43)
_STARTS_NEVER_MIND = re.compile(r"(?i)\W*((actually|ok(ay)?|oh|ah|sorry)\W+)?never\s?mind\b")
# "never mind, where is O0004000?": a question about the order named
_ASKS_ABOUT_ORDER = re.compile(r"(?i)\?|\b(where|when|status|track(ing)?|arrived?)\b")
# "and what if it doesn't come?", "what if it gets lost": what happens to a parcel that never
# arrives, asked in general (after an order was shown the intent model read the first as a
# product question, 0.31)
_WHAT_IF_NEVER_COMES = re.compile(
    r"(?i)\b(what if|what happens if|and if|in case)\b[^.?!]{0,40}\b("
    r"(doesn'?t|does not|won'?t|will not|never|don'?t|do not) (come|arrive|turn up|show up|"
    r"get here|get delivered)|(gets?|is|was|goes|go) (lost|missing)|(gets?|is|was) stolen)\b"
)
# "Which number can I call with questions about an order?", "what's your phone number?": the
# contact answer (the intent model read the first as a request for a person, 0.38)
_ASKS_FOR_THE_NUMBER = re.compile(
    r"(?i)\b(which|what)('?s| is)?( the| your)? (phone |telephone |hotline |contact )?number "
    r"(can|do|should|could|would) (i|we) (call|ring|dial|use)\b|\b(which|what)('?s| is) "
    r"(your|the) (phone|telephone|hotline|customer service|service) number\b|"
    r"\bnumber (to|i can|i could) (call|ring|dial)\b"
)
# "I have a problem with my order", "Problem mit meiner Bestellung": something went wrong
# with an order, said before what (the intent model read the first as a cancellation, 0.24,
# and the order, once proven, heard that it can no longer be cancelled)
_PROBLEM_WITH_AN_ORDER = re.compile(
    r"(?i)\b(problem|issue|trouble|something('s| is)? wrong)\s+(with|about|regarding)\s+"
    r"(my|an|the|this|our)\s+(order|parcel|package|delivery|purchase)\b|"
    r"\b(problem|probl[eè]me|problema|probleem)\s+(mit|avec|con|met)\s+(meiner|der|ma|la|mi|"
    r"il mio|mijn|de)\s+(bestellung|lieferung|commande|livraison|pedido|ordine|bestelling)\b"
)
# "help", "what can you do?": the web chat's /help (the intent model reads "help" as thanks)
_ASKS_WHAT_THE_BOT_DOES = re.compile(
    r"(?i)\W*(help( me)?( please| pls)?|menu|options|what can (you|u) do( for me)?|"
    r"what (can|should) i ask( you)?|what do you do|how does (this|it) work)\W*"
)
# "are you a bot?", "am I talking to a real person?", "Bist du ein Bot?": a question about
# the bot, which the writers of the evaluation data label out of scope, not a request for a
# person ("are you a real person or a bot? just curious" read as one at 0.43). The answer
# says what the bot is and offers a person.
_BOT_WORDS = (
    r"(real |actual |live )?(bot|robot|chat ?bot|human|person|ai|machine|program|computer|"
    r"script|mensch|roboter|humain|personne|humano|persona|umano|mens|człowiek|człowiekiem|"
    r"pessoa|robô|människa|insan)"
)
_ASKS_IF_A_BOT = re.compile(
    r"(?i)\W*((hi|hello|hey|hallo|bonjour|hola|ciao|hej|cześć|olá|merhaba)\W+)?("
    rf"(are|r) (you|u) (a |an )?{_BOT_WORDS}( or (a |an )?{_BOT_WORDS})?|"
    rf"am i (talking|chatting|speaking|writing) (to|with) (a |an )?{_BOT_WORDS}"
    rf"( or (a |an )?{_BOT_WORDS})?|is this (a |an )?{_BOT_WORDS}( or (a |an )?{_BOT_WORDS})?|"
    rf"(bist du|sind sie) (ein |eine )?{_BOT_WORDS}( oder (ein )?{_BOT_WORDS})?|"
    rf"(es-tu|êtes-vous|tu es|vous êtes) (un |une )?{_BOT_WORDS}|(eres|es usted) (un |una )?"
    rf"{_BOT_WORDS}|(sei|è) (un |una )?{_BOT_WORDS}|(ben je|bent u) een {_BOT_WORDS}|"
    rf"czy (jesteś|to) {_BOT_WORDS}|(és|é|você é) (um |uma )?{_BOT_WORDS}|"
    rf"är du en {_BOT_WORDS}|(sen )?{_BOT_WORDS} m[ıi]s[ıi]n"
    r")\W*(just (curious|asking|wondering)|lol|haha|out of curiosity)?\W*"
)


def _about_the_bot(text: str) -> str | None:
    """The answer a question about the bot itself gets: "help" for what it does ("what can
    you do?"), "about_me" for whether it is a bot; None for any other message."""
    for pattern, key in ((_ASKS_WHAT_THE_BOT_DOES, "help"), (_ASKS_IF_A_BOT, "about_me")):
        if pattern.fullmatch(text):
            return key
    return None


# An unhappy customer handed over with an order lookup still gets the lookup meanwhile, as
# does one who reports danger or fraud about a named order ("the fan from O0012040 smells
# burnt", then the email: the person takes it, and the order is shown); one who asked for a
# person gets the person only.
LOOKUP_WHILE_QUEUED = DEFERRABLE | {
    EscalationReason.negative_sentiment,
    EscalationReason.urgent,
}
# The requests the bot still takes while the customer waits for a person: looking up an
# order's delivery or its charge. A cancellation, a change or a return waits for the person,
# and its order is looked up meanwhile (shown once the customer proves it is theirs).
QUEUED_TASKS = DIRECT_TASKS | {PAYMENT_PROBLEM}
# Digits or an email: what an order number, an email or a postcode is written with
_CARRIES_DATA = re.compile(r"\d|@")


class Engine:
    """Holds the loaded models and policy; every call takes the caller's session."""

    def __init__(
        self,
        nlu: NLU,
        responses: ResponseBook,
        policy: PolicyConfig | None = None,
        *,
        hours: BusinessHours | None = None,
        clock: Callable[[], dt.datetime] = utcnow,
        settings: Settings | None = None,
        extractor: EntityExtractor | None = None,
        dialogue: DialogueConfig | None = None,
        channels: Channels | None = None,
    ) -> None:
        self.settings = settings or Settings()
        # Where the bot's replies go: the web chat always; others register when they start.
        self.channels = channels or Channels([WebChat()])
        self.nlu = nlu
        self.policy = policy or PolicyConfig()
        self.hours = hours
        self.clock = clock
        self.extractor = extractor or EntityExtractor(
            self.settings.order_id_patterns or DEFAULT_ORDER_PATTERNS,
            region=self.settings.import_default_region,
        )
        self.replier = Replier(
            responses,
            hours=hours,
            office=Office.of(self.settings),
            clock=clock,
            tracking_urls=self.settings.tracking_urls,
        )
        self.surveys = SurveyAnswers(self.settings, self.replier, clock, self.channels)
        self.dialogue = Dialogue(
            self.replier, self.extractor, dialogue or dialogue_config(self.settings, self.policy)
        )
        self.faq = FaqMatcher(nlu.encoder.encode, self.settings.faq_min_similarity)

    @property
    def responses(self) -> ResponseBook:
        return self.replier.responses

    @responses.setter
    def responses(self, book: ResponseBook) -> None:
        self.replier.responses = book

    def intent_labels(self) -> list[str]:
        """The intents the loaded model knows (what agents may relabel a message to)."""
        return sorted(self.nlu.intent.head.labels)

    def handle(self, session: Session, inbound: InboundMessage) -> Outcome:
        """Store, understand and answer one inbound message (idempotent on its message id)."""
        # Understand first: the models run outside the database transaction, which on
        # SQLite holds the write lock from its first statement.
        survey_button = surveys.parse_button(inbound.button) if inbound.button else None
        understanding = (
            None if inbound.command or survey_button else self.nlu.understand(inbound.text)
        )
        found = [] if inbound.command else self.extractor.extract(inbound.text)
        entities = [e.as_dict() for e in found]
        # (what the bot acts on; the message keeps the models' own reading)
        reading = understanding and self._read_without_data(understanding, found)
        identity, conversation = conversations.find_visitor(
            session, channel=inbound.channel, external_id=inbound.user_id
        )
        new_customer = identity is None
        if identity is None:
            identity, new_customer = customers.create_identity(
                session,
                channel=inbound.channel,
                external_id=inbound.user_id,
                username=inbound.username,
                first_name=inbound.first_name,
            )
        if not new_customer and (conversation is None or survey_button is not None):
            # It may be a survey answer, which is stored without ON CONFLICT: check for a
            # repeat first. (A first message cannot be one; otherwise the insert checks.)
            existing = conversations.find_message(
                session, channel=inbound.channel, channel_message_id=inbound.message_id
            )
            if existing is not None:
                return self._duplicate(session, existing)
        customers.mark_reachable(session, identity=identity)
        linked = False
        if inbound.link_customer_id is not None:
            _, linked = customers.link_identity(
                session, identity=identity, customer_id=inbound.link_customer_id
            )
            if linked and conversation is not None:
                session.refresh(conversation)
        if inbound.command is None and (survey_button is not None or not new_customer):
            answered = self.surveys.answer(
                session,
                identity,
                inbound,
                survey_button,
                understanding,
                entities,
                open_conversation=conversation,
            )
            if answered is not None:
                return answered
        fresh = conversation is None
        if conversation is None:
            conversation = conversations.start_conversation(
                session,
                identity=identity,
                customer=identity.customer,
                new_customer=new_customer,
                reply_window=dt.timedelta(days=self.settings.campaign_reply_window_days),
            )
        message = conversations.insert_inbound(
            session,
            conversation=conversation,
            text=inbound.text,
            channel_message_id=inbound.message_id,
            nlu=understanding.as_dict() if understanding else None,
            entities=entities,
            payload={"command": inbound.command.value} if inbound.command else None,
        )
        if message is None:  # a concurrent delivery of the same message won the race
            existing = conversations.find_message(
                session, channel=inbound.channel, channel_message_id=inbound.message_id
            )
            assert existing is not None
            return self._duplicate(session, existing)
        language = understanding.language if understanding is not None else None
        if language is not None and self.dialogue.awaiting(conversation) == "address":
            language = None  # ("Hauptstraße 14, 90402 Nürnberg" says nothing of the customer)
        if language is None and conversation.language is None:
            language = language_of_locale(inbound.locale)  # until their words say
        if language not in (None, conversation.language):
            conversation.language = language  # (answers follow it)
        # Read only when the decision needs it (a negative or "not sure" message, an order
        # request missing its email): most messages are answered without this query.
        history: Sequence[conversations.EarlierInbound] = (
            []
            if fresh
            else _Later(
                lambda: conversations.recent_inbound(
                    session, conversation_id=conversation.id, before_id=message.id, limit=5
                )
            )
        )
        if reading is None:
            assert inbound.command is not None
            decision, texts = self._command(session, conversation, inbound, linked=linked)
        else:
            decision, texts = self._decide(
                session, conversation, identity, message, reading, found, history
            )
        replies = self.replier.send(
            session, conversation, message, texts, channel=self.channels.get(inbound.channel)
        )
        log.info(
            "bot.message.handled conversation=%s intent=%s sentiment=%.2f action=%s",
            conversation.id,
            understanding.intent.label if understanding else f"/{inbound.command}",
            understanding.sentiment.score if understanding else 0.0,
            decision.action,
        )
        return Outcome(
            message,
            conversation,
            replies,
            understanding.as_dict() if understanding else None,
            False,
            decision,
            entities,
            linked=customers.is_known(session.get_one(Customer, conversation.customer_id)),
        )

    def _duplicate(self, session: Session, existing: Message) -> Outcome:
        conversation = session.get_one(Conversation, existing.conversation_id)
        return Outcome(
            existing,
            conversation,
            conversations.replies_to(session, message_id=existing.id),
            existing.nlu,
            duplicate=True,
            entities=existing.entities or [],
            linked=customers.is_known(session.get_one(Customer, conversation.customer_id)),
        )

    def _decide(
        self,
        session: Session,
        conversation: Conversation,
        identity: ChannelIdentity,
        message: Message,
        understanding: Understanding,
        entities: list[Entity],
        history: Sequence[conversations.EarlierInbound],
    ) -> tuple[Decision, list[Reply]]:
        customer = session.get_one(Customer, conversation.customer_id)

        def step(reading: Understanding, *, slot_only: bool = False) -> Turn | None:
            return self._step(
                session,
                conversation,
                identity,
                customer,
                message,
                reading,
                entities,
                history,
                slot_only=slot_only,
            )

        if conversation.status is ConversationStatus.waiting and (
            understanding.intent.label == CANCEL_INTENT
            or _STARTS_NEVER_MIND.match(message.text) is not None
        ):
            # "never mind" while still in the queue: back to the bot, out of the queue.
            conversation.status = ConversationStatus.bot
            conversation.priority = 0
            log.info("bot.escalation.cancelled conversation=%s", conversation.id)
            context = self.replier.context(session, customer, conversation)
            replies = self.replier.render(context, "escalation_cancelled")
            if entities_of(entities, ORDER) and _ASKS_ABOUT_ORDER.search(message.text):
                # "actually never mind, where is O0004000": the lookup starts now
                turn = step(_read_as(understanding, ORDER_STATUS))
                replies += turn.replies if turn is not None else []
            return Decision(Action.answer, "escalation_cancelled"), replies
        if conversation.status is ConversationStatus.waiting:
            # In the queue: the bot still answers an order lookup the customer proves (no
            # one need wait for a person to read out a tracking number); the rest waits.
            reading = self._lookup_while_queued(conversation, understanding, entities, history)
            if reading is not None:
                turn = step(reading)
                if turn is not None:
                    return turn.decision, turn.replies
            return Decision(Action.silent), self._queue_reminder(session, conversation, customer)
        if conversation.status in WITH_A_PERSON:
            # A person has this conversation: the bot stays quiet.
            return Decision(Action.silent), []
        data_only = only_data(message.text, entities)
        if (
            data_only
            or self._unsure_person(understanding, entities)
            or self._unsure_opt_out(conversation, understanding, entities)
            or self._says_nothing(understanding)
        ):
            # "O0001234 anna@example.com": the intent model reads noise into bare order
            # numbers and emails; such a message says nothing but the data it carries.
            understanding = _read_as(understanding, FALLBACK_INTENT)
        elif self._unsure_praise(understanding):
            understanding = _read_as(understanding, PRAISE)
        elif self._asks_what_if_it_never_comes(understanding):
            understanding = _read_as(understanding, DELIVERY_PROBLEM)
        elif self._asks_for_the_number(understanding):
            understanding = _read_as(understanding, CONTACT_INTENT)
        elif self._unsure_problem_with_an_order(understanding):
            understanding = _read_as(understanding, DELIVERY_PROBLEM)
        elif (
            self._short_question_read_as_complaint(understanding, history)
            or self._question_read_as_thanks(understanding)
            or self._barely_read(understanding, entities)
        ):
            understanding = _read_as(understanding, FALLBACK_INTENT)
        if self._asks_what_now(conversation, understanding, entities, history):
            self.dialogue.offer_person(conversation)  # ("yes" takes it)
            context = self.replier.context(session, customer, conversation)
            message.payload = {**(message.payload or {}), "understood": "what_now"}
            return Decision(Action.answer, "what_now"), self.replier.render(context, "what_now")
        followed = self._follows_up(conversation, understanding, entities, history)
        if followed is not None and followed.startswith(FAQ_PREFIX):
            # "do you ship to Austria?", then "and to the UK?": the same entry answers it,
            # or the one a follow-up that asks something names ("and how long does it
            # take?"); "and to Switzerland?" after the shipping costs asks for those (it is
            # nearer to "Do you ship to Switzerland?", 0.64, than to their 0.54)
            named = (
                self.faq.match(
                    self.responses.faq,
                    understanding.text,
                    understanding.vector,
                    at_least=FOLLOW_UP_FAQ_SIMILARITY,
                )
                if _ASKS_SOMETHING.search(_FOLLOW_UP.sub("", understanding.text, count=1))
                else None
            )
            followed = followed if named is None else named.key
            message.payload = {**(message.payload or {}), "faq": followed}
            context = self.replier.context(session, customer, conversation)
            return Decision(Action.answer, followed), self.replier.render(context, followed)
        if followed is not None:  # ("when are you open?", then "and on sundays?")
            understanding = _read_as(understanding, followed)
        decision = decide(
            understanding,
            previous_intents=_Later(lambda: [_understood_as(m) for m in history]),
            previous_scores=_Later(lambda: [m.sentiment_score for m in history]),
            config=self.policy,
            signals=signals(customer),
        )
        # The shop's frequent questions ("do you ship to Austria?") come before the general
        # answers and the order requests, also while one waits for an order number; a
        # message naming an order or an email is about that order, and an address, a
        # reason or a yes the bot asked for goes to the request first.
        answering = decision.action in (Action.answer, Action.rephrase)
        awaiting = self.dialogue.awaiting(conversation)  # (None: no request in progress)
        faq_first = awaiting in (None, "order", "proof") and not (
            entities_of(entities, ORDER) or entities_of(entities, EMAIL)
        )
        # ("I need an invoice for O0001234", a payment question: the shop's answer, before
        # the look at the order that a charge on it gets)
        faq_first = faq_first or (
            awaiting is None and understanding.intent.label == PAYMENT_PROBLEM
        )
        # "help", "Help me please" (read as thanks, or as a request for a person): the help
        # text says what the bot does and how to reach a person
        helped = answering or (
            decision.reason is EscalationReason.human_request and not understanding.tone.wants_human
        )
        about = _about_the_bot(message.text) if helped and faq_first else None
        if about is not None:
            context = self.replier.context(session, customer, conversation)
            return Decision(Action.answer, about), self.replier.render(context, about)
        if answering and faq_first:
            faq = self._faq(session, conversation, customer, message, understanding, entities)
            if faq is not None:
                return faq
        # A request in progress reads the reply first: "it doesn't fit" answers "why do you
        # return it?" and is no complaint. A complaint that answers nothing it asked ("this
        # is unacceptable, I want a refund now" while it waits for the order number), a
        # request for a person, an opt-out or a strongly negative message still wins.
        deferred = awaiting is not None and decision.reason in DEFERRABLE
        dialogue_may_take_it = (
            answering
            or decision.reason is EscalationReason.repeated_fallback
            or deferred
            # (a return's reason reads negative by nature)
            or (decision.reason is EscalationReason.negative_sentiment and awaiting == "reason")
        )
        if dialogue_may_take_it:
            turn = step(understanding, slot_only=deferred and not answering)
            if turn is not None:
                return turn.decision, turn.replies
            if answering and not faq_first:
                faq = self._faq(session, conversation, customer, message, understanding, entities)
                if faq is not None:
                    return faq
        if not answering:
            conversation.dialogue = None  # an escalation or an opt-out ends any request
        if data_only and decision.action is Action.rephrase:
            # "anna@example.com" alone, with no request to take it: not "could you rephrase
            # that?" but what it is about (the email is used when an order request follows)
            decision = Decision(Action.answer, "data_only")
            message.payload = {**(message.payload or {}), "understood": "data_only"}
        elif decision.action is Action.rephrase and message.intent != FALLBACK_INTENT:
            # (a reading set aside as "not sure": the next "not sure" in a row reaches a
            # person, as after the intent model's own)
            message.payload = {**(message.payload or {}), "understood": FALLBACK_INTENT}
        context = self.replier.context(session, customer, conversation)
        if followed is None and self._said_just_before(decision, history):
            # "my discount code doesn't work", then "it says invalid": the same answer
            # twice in a row helps no one; a person is offered instead ("yes" takes it).
            self.dialogue.offer_person(conversation)
            if len(history) > 1 and _understood_as(history[1]) == decision.response:
                # A third time ("ok how do I reset it", not a yes): the answer once more,
                # with the offer, rather than "I can only repeat" twice.
                again = self.replier.render(context, decision.response)
                return decision, again + self.replier.render(context, "offer_human")
            return Decision(Action.answer, "repeat_offer_human"), self.replier.render(
                context, "repeat_offer_human"
            )
        if decision.response == PRODUCT_INTENT and (
            names_a_problem(understanding.text) or _FAULT.search(understanding.text)
        ):
            context["fault"] = True  # (the warranty's answer, not "Good question!")
        replies = self.replier.render(context, decision.response)
        if decision.action is Action.answer:
            # "did my voucher get applied to #66190?": the general answer, and the order
            # kept for the email or postcode that may follow, as after a frequent question
            self._keep_for_proof(conversation, entities)
        if (
            decision.action is Action.answer
            and decision.response not in _SAID_AGAIN_FREELY  # (a greeting's "yes" asks nothing)
            and _offers_a_person(replies)
        ):
            # "my account is locked": the answer ends "… type 'agent'" with a button for a
            # person, and "ok please help" next got "You're welcome!"; a yes takes it now
            self.dialogue.offer_person(conversation, hint=True)
        if decision.action is Action.opt_out or decision.opt_out:
            customers.opt_out(session, customer_id=customer.id)
        if decision.action is Action.escalate and decision.reason is not None:
            replies += self.replier.escalate(
                session,
                conversation,
                customer,
                decision.reason,
                understanding.sentiment.score,
                context,
            )
            reading = (
                self._lookup_while_queued(conversation, understanding, entities, history)
                if decision.reason in LOOKUP_WHILE_QUEUED
                else None
            )
            if reading is not None:
                # "Where is O0008233??? nothing for days": a person will answer, and the
                # lookup starts now (it asks for the proof, or answers a linked chat).
                turn = step(reading)
                if turn is not None:
                    replies += turn.replies
        return decision, replies

    @staticmethod
    def _said_just_before(
        decision: Decision, history: Sequence[conversations.EarlierInbound]
    ) -> bool:
        """Whether this general answer is the one the customer's previous message got."""
        if decision.action is not Action.answer or decision.response in _SAID_AGAIN_FREELY:
            return False
        return bool(history) and _understood_as(history[0]) == decision.response

    def _follows_up(
        self,
        conversation: Conversation,
        understanding: Understanding,
        entities: list[Entity],
        history: Sequence[conversations.EarlierInbound],
    ) -> str | None:
        """The answer key ("faq.0", "opening_hours_contact") of the previous message that
        this one follows up on, or None: a few words that start like a follow-up ("and to
        the UK?", "what about Sundays?"), which the intent model is unsure of, after a
        general answer or a frequent question, with no request in progress. The previous
        answer covers the follow-up ("We deliver to Germany, Austria, … not outside
        Europe"), so it is given again rather than a "not sure" or an offer of a person."""
        if (
            not _FOLLOW_UP.match(understanding.text)
            or len(WORD.findall(understanding.text)) > _FOLLOW_UP_WORDS
            or understanding.intent.confidence >= self.policy.unsure_intent
            or understanding.tone.cues
            or entities_of(entities, ORDER)
            or entities_of(entities, EMAIL)
            or self.dialogue.in_progress(conversation)
            or not history
        ):
            return None
        return _general_answer(history[0])

    def _asks_what_now(
        self,
        conversation: Conversation,
        understanding: Understanding,
        entities: list[Entity],
        history: Sequence[conversations.EarlierInbound],
    ) -> bool:
        """ "what can I do?", "so what now?" right after a general answer or a frequent
        question, with no request in progress and no tone cue: the answer has said what the
        bot knows, so a person is offered."""
        if (
            not history
            or _WHAT_NOW.fullmatch(understanding.text) is None
            or understanding.tone.cues
            or entities
            or self.dialogue.in_progress(conversation)
        ):
            return False
        return _general_answer(history[0]) is not None

    def _read_without_data(
        self, understanding: Understanding, entities: list[Entity]
    ) -> Understanding:
        """The message read as an order request (or a greeting) when, with its order
        numbers and emails left out, the intent model reads one surely where it was unsure
        of the whole ("I want to return O0010700 ida@example.com": not sure, 0.48; "I want
        to return": a return). Order numbers and emails look like noise or contact details
        to it. Costs a second reading, only for an unsure message naming an order or email,
        before the database transaction (as the first reading)."""
        data = [e for e in entities if e.type in (ORDER, EMAIL)]
        if (
            not data
            or understanding.intent.confidence >= self.policy.unsure_intent
            or understanding.intent.label in _NOT_READ_AGAIN
        ):
            return understanding
        text = replace_entities(understanding.text, data)
        if len(WORD.findall(text)) < 2:
            return understanding
        intent = self.nlu.understand(text).intent
        if intent.label not in _READ_WITHOUT_DATA or intent.confidence < self.policy.unsure_intent:
            return understanding
        log.info("bot.intent.read_without_data intent=%s", intent.label)
        return replace(understanding, intent=intent)

    def _barely_read(self, understanding: Understanding, entities: list[Entity]) -> bool:
        """A topic the intent model reads at less than ``BARELY_READ``: on the eight
        conversation dev splits 7 of 20 such readings were right ("Liefert ihr auch nach
        Österreich?" got the opening hours at 0.15, "¿Cuánto cuesta el envío?" was asked
        for an order number at 0.13), so "not sure" is the better answer; two in a row
        reach a person. A complaint or a request for a person keeps its own checks, and a
        message naming an order or an email its lookup."""
        intent = understanding.intent
        return (
            intent.confidence < BARELY_READ
            and intent.label not in (FALLBACK_INTENT, COMPLAINT_INTENT, HUMAN_AGENT_INTENT)
            and not (entities_of(entities, ORDER) or entities_of(entities, EMAIL))
        )

    def _says_nothing(self, understanding: Understanding) -> bool:
        """Punctuation alone ("?", "...") that the intent model is unsure of and that carries
        no tone cue ("?" was read as thanks at 0.18: "You're welcome!")."""
        return (
            not any(c.isalnum() for c in understanding.text)
            and understanding.intent.confidence < self.policy.unsure_intent
            and not understanding.tone.cues
        )

    def _asks_what_if_it_never_comes(self, understanding: Understanding) -> bool:
        """A question what happens if a parcel never arrives or gets lost, with no tone cue,
        not read as a request for a person nor surely as a complaint: the lost-parcel
        answer, whatever topic the intent model reads ("what if it doesn't come at all? do I
        get a new one or my money back?": a return, 0.65; "what if it gets lost": a
        complaint, 0.35)."""
        intent = understanding.intent
        return (
            _WHAT_IF_NEVER_COMES.search(understanding.text) is not None
            and intent.label != HUMAN_AGENT_INTENT
            and (intent.label != COMPLAINT_INTENT or intent.confidence < self.policy.unsure_intent)
            and not understanding.tone.cues
        )

    def _question_read_as_thanks(self, understanding: Understanding) -> bool:
        """A question after a thank-you that the intent model reads, unsure, as thanks or
        praise ("thanks! how long does the change take?": praise at 0.22): the customer asks
        something, and "Thank you, that's great to hear!" answers nothing. It is read as "not
        sure", so the shop's frequent questions may answer it."""
        return (
            understanding.intent.label in THANKS_OR_PRAISE
            and understanding.intent.confidence < self.policy.unsure_intent
            and "?" in understanding.text
            and not understanding.tone.cues
        )

    def _short_question_read_as_complaint(
        self, understanding: Understanding, history: Sequence[conversations.EarlierInbound]
    ) -> bool:
        """A short question later in a chat that the intent model reads, unsure, as a
        complaint and the complaint head does not ("ok and how long does that take?" after
        the refund's answer: complaint 0.27, the head 0.01; "what does that mean?", "what if
        it's lost?"): the customer asks about the answer, and is not handed over with an
        apology. It is read as "not sure", so a second one reaches a person. A first message
        never is here (the written chat messages' subtle complaints, "Does anyone at your
        company actually read the emails …?", are first messages), nor one with a tone cue or
        a strongly negative reading. The policy reads any question so, first messages
        included, in a narrower case: a reading above -0.3 and the complaint head below 0.8
        (``_only_guessed`` in bot/policy/escalation.py; it costs that rhetorical question)."""
        complaint = understanding.complaint
        return (
            understanding.intent.label == COMPLAINT_INTENT
            and understanding.intent.confidence < self.policy.unsure_intent
            and complaint is not None
            and complaint < COMPLAINT_HEAD_DOUBTS
            and "?" in understanding.text
            and len(WORD.findall(understanding.text)) <= SHORT_QUESTION_WORDS
            and not understanding.tone.cues
            and understanding.sentiment.score > self.policy.strong_negative
            and len(history) > 0
        )

    def _asks_for_the_number(self, understanding: Understanding) -> bool:
        """A question for the shop's phone number, with no cue in the words, that the intent
        model reads as a request for a person or is unsure of: the contact answer, which
        gives the number. On the six dev splits and the written chat messages every such
        question is labelled a contact question."""
        intent = understanding.intent
        return (
            _ASKS_FOR_THE_NUMBER.search(understanding.text) is not None
            and not understanding.tone.cues
            and (
                intent.label in (HUMAN_AGENT_INTENT, FALLBACK_INTENT)
                or intent.confidence < self.policy.unsure_intent
            )
        )

    def _unsure_problem_with_an_order(self, understanding: Understanding) -> bool:
        """A problem with an order, said before what it is, that the intent model reads
        unsure and as no complaint nor a request for a person, with no tone cue ("I have a
        problem with my order": a cancellation at 0.24): the delivery problem's questions
        (which order, then what went wrong), not a cancellation's or a return's answer."""
        intent = understanding.intent
        return (
            _PROBLEM_WITH_AN_ORDER.search(understanding.text) is not None
            and intent.confidence < self.policy.unsure_intent
            and intent.label not in (COMPLAINT_INTENT, HUMAN_AGENT_INTENT)
            and not understanding.tone.cues
        )

    def _unsure_praise(self, understanding: Understanding) -> bool:
        """Praise that the intent model reads, unsure, as its topic, with praise next: "The
        courier was so friendly, please pass it on!" (a delivery problem at 0.42, praise
        0.29: "I'm sorry about that"), "your returns are so easy" (returns at 0.51). The
        message reads positive and asks nothing, names no problem and has no tone cue (the
        sarcasm of "Fantastic, the 'premium' packaging was a plastic bag" has one). On the
        three conversation dev splits it changes three readings, all praise; on the 3,080
        BANKING77 test questions none."""
        ranking = understanding.intent.ranking
        return (
            len(ranking) >= 2
            and ranking[1][0] == PRAISE
            and ranking[0][0] not in (PRAISE, COMPLAINT_INTENT)
            and ranking[0][1] < PRAISE_OVER
            and understanding.sentiment.score >= PRAISE_SENTIMENT
            and "?" not in understanding.text
            and not understanding.tone.cues
            and not names_a_problem(understanding.text)
        )

    def _unsure_person(self, understanding: Understanding, entities: list[Entity]) -> bool:
        """A request for a person that only the intent model reads, unsure, into a message
        naming an order or an email ("I want to return O0000199 karla@example.com", 0.35):
        it reads order numbers and emails as contact details. No such message among the
        conversation dev splits and the written chat messages is a request for a person."""
        return (
            understanding.intent.label == HUMAN_AGENT_INTENT
            and understanding.intent.confidence < self.policy.unsure_intent
            and not understanding.tone.wants_human
            and bool(entities_of(entities, ORDER) or entities_of(entities, EMAIL))
        )

    def _unsure_opt_out(
        self, conversation: Conversation, understanding: Understanding, entities: list[Entity]
    ) -> bool:
        """The email or order number the bot asked for, sent in a sentence that the intent
        model reads, unsure, as an opt-out ("la mia email è giulia@example.it", 0.30), or
        as one that names nothing to stop sending ("my email is jonas@example.de, please
        stop it if you can", 0.51, about an order): it reads the word email into it. Such a
        message answers the question and withdraws no consent. A sure opt-out
        ("unsubscribe anna@example.com", 0.97) stays one."""
        return (
            understanding.intent.label == OPT_OUT_INTENT
            and (
                understanding.intent.confidence < self.policy.unsure_intent
                or not names_what_to_stop(understanding.text)
            )
            and not understanding.tone.cues
            and self.dialogue.awaiting(conversation) in ("order", "proof")
            and bool(entities_of(entities, ORDER) or entities_of(entities, EMAIL))
        )

    def _queue_reminder(
        self, session: Session, conversation: Conversation, customer: Customer
    ) -> list[Reply]:
        """For a customer who writes while waiting in the queue ("hello?", "anyone
        there??"): when a person will answer, unless the bot said something in the last
        ``CARELOOP_QUEUE_REMINDER_MINUTES`` (no reply to every message)."""
        last = conversations.last_bot_message_at(session, conversation_id=conversation.id)
        every = dt.timedelta(minutes=self.settings.queue_reminder_minutes)
        if last is not None and self.clock() - last < every:
            return []
        return self.replier.when_answered(
            session, self.replier.context(session, customer, conversation)
        )

    def _faq(
        self,
        session: Session,
        conversation: Conversation,
        customer: Customer,
        message: Message,
        understanding: Understanding,
        entities: list[Entity],
    ) -> tuple[Decision, list[Reply]] | None:
        """The answer of the frequent question nearest to the message, if near enough
        (noted on the message: it was understood, whatever its intent read). A message
        naming an order or an email is matched once more with "my order" and "my email" in
        their place ("I need an invoice for O0004000": 0.737, "… for my order": 0.897): a
        second encoding inside the transaction, only for a message naming an order or an
        email that no order request takes and that met no question as it is.

        An order it names is kept for the proof that may follow ("Can I get an invoice for
        order O0001187?", then the email: that order is shown, not forgotten)."""
        found = self.faq.match(self.responses.faq, understanding.text, understanding.vector)
        if found is None and (general := _data_named(understanding.text, entities)) is not None:
            found = self.faq.match(self.responses.faq, general, None)
        if found is None:
            return None
        log.info("bot.faq.answered key=%s similarity=%.3f", found.key, found.similarity)
        self._keep_for_proof(conversation, entities)
        message.payload = {**(message.payload or {}), "faq": found.key}
        context = self.replier.context(session, customer, conversation)
        return Decision(Action.answer, found.key), self.replier.render(context, found.key)

    def _keep_for_proof(self, conversation: Conversation, entities: list[Entity]) -> None:
        """Keep the first order an answered message names for the email or postcode sent
        next, unless a request is in progress."""
        named = entities_of(entities, ORDER)
        if named and not self.dialogue.in_progress(conversation):
            self.dialogue.await_proof(conversation, named[0])

    def _lookup_while_queued(
        self,
        conversation: Conversation,
        understanding: Understanding,
        entities: list[Entity],
        history: Sequence[conversations.EarlierInbound],
    ) -> Understanding | None:
        """How the dialogue reads this message while the conversation waits for a person,
        or None where it may not take it. It may take an order lookup (status, delivery) in
        progress, or one this message asks for by naming the order. A request to cancel,
        change or return a named order waits for the person and is read as a look at that
        order meanwhile ("I had an allergic reaction to the cream from order 44102, I want
        a refund", then the email: the order is shown, the person makes the refund). Not
        "where is my order?" with no order named.

        A complaint or a product fault that names an order is read as a look at that order
        ("the fan from O0012040 smells burnt"): the person still takes the complaint, and
        the order is shown once the customer proves it is theirs
        ("#40331 - it's been a while, I'm beginning to think it was a figment of my
        imagination", then the email). Where the intent model's next reading is a lookup
        ("Good evening, could you tell me something about order O0003002?" read as a
        complaint over ``order_status``) it is that lookup.

        A charge is looked at too: "I was charged twice" (escalated), then "O0001234
        anna@example.de" shows what that order came to, not its delivery."""
        intent = understanding.intent.label
        if self.dialogue.in_progress(conversation):
            task = (conversation.dialogue or {}).get("task")
            if task not in QUEUED_TASKS:
                return None
            if intent not in SWITCH_TASKS:
                return understanding
            # ("sorry, wrong number, it's 66190" after a wrong pair, read as a new address
            # at 0.36): an unsure reading of a change is no change where the lookup waits for
            # the order or its proof and the message carries digits or an email, nor is a
            # proof named as one ("Die Lieferadresse war mein Büro, PLZ 50672.")
            return (
                _read_as(understanding, task)
                if (
                    understanding.intent.confidence < self.policy.unsure_intent
                    or names_a_proof(understanding.text, entities)
                )
                and self.dialogue.awaiting(conversation) in ("order", "proof")
                and _CARRIES_DATA.search(understanding.text) is not None
                else None
            )
        if not entities_of(entities, ORDER):
            return None
        data_only = only_data(understanding.text, entities)
        loose = intent in ORDER_TALK_INTENTS or data_only
        if loose and any(m.intent == PAYMENT_PROBLEM for m in history[:2]):
            return _read_as(understanding, PAYMENT_PROBLEM)
        if intent in QUEUED_TASKS | ORDER_TALK_INTENTS:
            return understanding
        if intent in SWITCH_TASKS:  # (a change to the order: the person makes it)
            return _read_as(understanding, ORDER_STATUS)
        if data_only:  # ("O0010700 ida@example.com")
            return _read_as(understanding, FALLBACK_INTENT)
        ranking = understanding.intent.ranking
        if intent not in (COMPLAINT_INTENT, PRODUCT_INTENT):
            return None
        runner_up = ranking[1] if len(ranking) > 1 else None
        label, confidence = (
            runner_up
            if runner_up is not None and runner_up[0] in DIRECT_TASKS
            else (ORDER_STATUS, understanding.intent.confidence)
        )
        return replace(understanding, intent=IntentPrediction(label, confidence, ranking))

    def _step(
        self,
        session: Session,
        conversation: Conversation,
        identity: ChannelIdentity,
        customer: Customer,
        message: Message,
        understanding: Understanding,
        entities: list[Entity],
        history: Sequence[conversations.EarlierInbound],
        *,
        slot_only: bool = False,
    ) -> Turn | None:
        """The order dialogue's turn on this message (:mod:`bot.dialogue`), noted on it."""
        turn = self.dialogue.step(
            session,
            slot_only=slot_only,
            conversation=conversation,
            identity=identity,
            customer=customer,
            text=message.text,
            understanding=understanding,
            entities=entities,
            earlier_emails=_Later(
                lambda: [
                    str(e["value"])
                    for m in history
                    for e in m.entities or []
                    if e.get("type") == EMAIL and e.get("value")
                ]
            ),
            earlier_texts=_Later(lambda: [m.text for m in history]),
        )
        if turn is not None:
            message.payload = {**(message.payload or {}), "dialogue": turn.decision.response}
        return turn

    def _command(
        self, session: Session, conversation: Conversation, inbound: InboundMessage, *, linked: bool
    ) -> tuple[Decision, list[Reply]]:
        """Commands bypass the NLU: each has one fixed, predictable action."""
        customer = session.get_one(Customer, conversation.customer_id)
        context = self.replier.context(session, customer, conversation)
        human_has_it = conversation.status in WITH_A_PERSON
        render = self.replier.render
        match inbound.command:
            case Command.start:
                keys = ["linked" if linked else "start"]
                if inbound.argument and inbound.link_customer_id is None:
                    keys.insert(0, "link_invalid")
                return Decision(Action.answer, response=keys[-1]), render(context, *keys)
            case Command.help:
                return Decision(Action.answer, response="help"), render(context, "help")
            case Command.stop:
                customers.opt_out(session, customer_id=customer.id)
                return Decision(Action.opt_out, response="opt_out"), render(context, "opt_out")
            case Command.consent:
                customers.give_consent(session, customer_id=customer.id)
                return Decision(Action.answer, response="consent_given"), render(
                    context, "consent_given"
                )
            case Command.agent:
                if human_has_it:
                    return Decision(Action.silent), render(context, "already_waiting")
                reason = EscalationReason.human_request
                conversation.dialogue = None
                replies = render(context, "human_agent")
                replies += self.replier.escalate(
                    session, conversation, customer, reason, 0.0, context
                )
                return Decision(Action.escalate, "human_agent", reason), replies
            case _:
                if human_has_it:
                    return Decision(Action.silent), []
                return Decision(Action.answer, response="unsupported"), render(
                    context, "unsupported"
                )


def dialogue_config(settings: Settings, policy: PolicyConfig) -> DialogueConfig:
    return DialogueConfig(
        timeout=dt.timedelta(minutes=settings.dialogue_timeout_minutes),
        max_tries=settings.dialogue_max_tries,
        max_failures_per_conversation=settings.verify_max_failures_per_conversation,
        max_failures_per_visitor=settings.verify_max_failures_per_visitor,
        unsure=policy.unsure_intent,
    )


_FILLER = frozenset(
    {
        *("my", "the", "a", "an", "is", "it", "its", "it's", "here", "this", "that", "and"),
        *("or", "number", "no", "nr", "order", "email", "e-mail", "mail", "address"),
        *("postcode", "post", "code", "zip", "plz", "ok", "okay", "sure", "yes", "yeah"),
        *("please", "pls", "thanks", "thank", "you", "hi", "hello", "hey", "of", "for"),
        *("on", "with", "from", "as"),
    }
)
_WORDS = re.compile(r"[^\W\d_]{2,}")


def only_data(text: str, entities: Sequence[Entity]) -> bool:
    """Whether the message is just entities and filler words ("order O0001234, my email is
    anna@example.com", "postcode 10115")."""
    rest = replace_entities(text, entities)
    words = [w.lower() for w in _WORDS.findall(rest)]
    has_data = bool(entities) or any(c.isdigit() for c in rest)
    return has_data and all(w in _FILLER for w in words)


def _data_named(text: str, entities: Sequence[Entity]) -> str | None:
    """``text`` with its order numbers and emails put as "my order" and "my email", or
    None when it names none."""
    named = replace_entities(text, entities, {ORDER: "my order", EMAIL: "my email"})
    return named if named != text else None


def _read_as(understanding: Understanding, intent: str) -> Understanding:
    """The message read as ``intent`` (with the intent model's confidence)."""
    return replace(understanding, intent=IntentPrediction(intent, understanding.intent.confidence))


def _understood_as(message: conversations.EarlierInbound) -> str | None:
    """The intent the bot acted on: a message the dialogue took (an order number, an email),
    a frequent question answered or data alone ("anna@example.com") counts as understood
    even when the intent model said "not sure"."""
    payload = message.payload or {}
    taken = payload.get("dialogue") or payload.get("faq") or payload.get("understood")
    return str(taken) if taken else message.intent


def _general_answer(message: conversations.EarlierInbound) -> str | None:
    """The key of the frequent question or the general answer (opening hours, payments, …)
    the message got, or None where it got something else (an order request, small talk)."""
    previous = _understood_as(message)
    if previous is None or not (previous.startswith(FAQ_PREFIX) or previous in _FOLLOWABLE):
        return None
    return previous


def _offers_a_person(replies: Sequence[Reply]) -> bool:
    """Whether an answer comes with a button that asks for a person ("Talk to a person")."""
    return any(_asks_for_a_person(b.text) for r in replies for b in r.buttons)


@functools.lru_cache(maxsize=256)
def _asks_for_a_person(label: str) -> bool:
    """Whether a button's label asks for a person: read once per label (the book's labels
    are few; reading the tone of one took 126 µs, on every answer with a button)."""
    return read_tone(label).wants_human


class _Later(Sequence[T]):
    """A list computed when (and once) it is first read."""

    def __init__(self, compute: Callable[[], Sequence[T]]) -> None:
        self._compute = compute
        self._items: Sequence[T] | None = None

    def _read(self) -> Sequence[T]:
        if self._items is None:
            self._items = self._compute()
        return self._items

    @overload
    def __getitem__(self, index: int) -> T: ...
    @overload
    def __getitem__(self, index: slice) -> Sequence[T]: ...
    def __getitem__(self, index: int | slice) -> T | Sequence[T]:
        return self._read()[index]

    def __len__(self) -> int:
        return len(self._read())

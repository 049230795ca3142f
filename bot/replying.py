"""What the bot says: replies rendered from the response book with CRM context, put in the
outbox, and hand-overs to the agents' queue."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from typing import Any
from urllib.parse import quote

from babel.dates import format_date
from babel.numbers import format_currency
from sqlalchemy.orm import Session

from bot.channels import Channel
from bot.policy.escalation import CustomerSignals, EscalationReason, priority
from bot.responses import Reply, ResponseBook
from crm.conversations import inbox
from crm.conversations import service as conversations
from crm.conversations.routing import Office
from crm.hours import BusinessHours
from crm.models import Conversation, Customer, Direction, Message, Order, Sender
from crm.orders import service as orders
from nlp.language_id import language_of_locale


def tracking_url(order: Order, urls: Mapping[str, str]) -> str | None:
    """The carrier's tracking page for the order (``urls``: templates by carrier name, any
    case, with ``{number}``), or None without a known carrier and a tracking number."""
    if not order.carrier or not order.tracking_number:
        return None
    by_name = {name.casefold(): url for name, url in urls.items()}
    template = by_name.get(order.carrier.strip().casefold())
    number = quote(order.tracking_number.strip(), safe="")
    return template.replace("{number}", number) if template else None


# English replies write dates and amounts as in Britain and Ireland ("2 Dec 2026",
# "€34.00"): the shop sells across Europe.
ENGLISH_LOCALE = "en_GB"


def order_context(
    order: Order, urls: Mapping[str, str] | None = None, locale: str = ENGLISH_LOCALE
) -> dict[str, Any]:
    """What a reply may show of an order (only ever for its verified owner), its date and
    amount written as readers of ``locale`` (a language code, e.g. "de") write them: "02.12.2026",
    "34,00 €"."""
    delivery = order.estimated_delivery
    return {
        "tracking_url": tracking_url(order, urls or {}),
        "ref": orders.order_ref(order),
        "status": order.status.value,
        "date": format_date(order.ordered_at.date(), "medium", locale=locale),
        "total": format_currency(order.total_amount, order.currency, locale=locale),
        "items": order.items_count,
        "carrier": order.carrier,
        "tracking_number": order.tracking_number,
        "estimated_delivery": format_date(delivery, "medium", locale=locale) if delivery else None,
        "address": order.shipping_address,
    }


class _Lazy:
    """A context value computed when (and once) a rendered reply needs it."""

    def __init__(self, compute: Callable[[], Any]) -> None:
        self._compute = compute
        self._done = False
        self._value: Any = None

    def __call__(self) -> Any:
        if not self._done:
            self._value, self._done = self._compute(), True
        return self._value


def signals(customer: Customer) -> CustomerSignals:
    return CustomerSignals(
        customer.rfm_segment, customer.churn_risk.value if customer.churn_risk else None
    )


class Replier:
    """Renders response-book keys and sends them; hands conversations to people."""

    def __init__(
        self,
        responses: ResponseBook,
        *,
        hours: BusinessHours | None,
        office: Office,
        clock: Callable[[], dt.datetime],
        tracking_urls: Mapping[str, str] | None = None,
    ) -> None:
        self.responses = responses
        self.hours = hours
        self.office = office
        self.clock = clock
        self.tracking_urls = dict(tracking_urls or {})

    def context(
        self,
        session: Session,
        customer: Customer,
        conversation: Conversation | None = None,
        *,
        order: Order | bool | None = True,
    ) -> dict[str, Any]:
        """The template context; ``order=True`` is the customer's latest order, read only
        when a reply rendered with this context shows an order (most don't). Replies are in
        the language of the ``conversation``, or else the customer's locale (``lang``)."""
        shown: object
        urls = self.tracking_urls
        lang = (conversation and conversation.language) or language_of_locale(customer.locale)
        # (dates and amounts as the reply's language writes them; English where the book
        # answers in English)
        locale = lang if lang in self.responses.translations else ENGLISH_LOCALE
        if order is True:
            customer_id = customer.id

            def latest() -> dict[str, Any] | None:
                # (No flush first: nothing pending touches orders, and the conversation's
                # changes go out with the reply, in one UPDATE.)
                with session.no_autoflush:
                    found = orders.latest_order(session, customer_id=customer_id)
                return order_context(found, urls, locale) if found is not None else None

            shown = _Lazy(latest)
        else:
            shown = order_context(order, urls, locale) if isinstance(order, Order) else None
        return {
            "customer": {"first_name": customer.first_name, "name": customer.display_name},
            "order": shown,
            "wait": None,
            "opted_out": customer.opted_out_at is not None,
            "lang": lang,
        }

    def render(self, context: dict[str, Any], *keys: str | None) -> list[Reply]:
        wanted = [key for key in keys if key]
        lazy = context.get("order")
        if isinstance(lazy, _Lazy):
            needed = any(self.responses.uses(key, "order") for key in wanted)
            context = {**context, "order": lazy() if needed else None}
        rendered = (self.responses.reply(key, context) for key in wanted)
        return [reply for reply in rendered if reply is not None]

    def send(
        self,
        session: Session,
        conversation: Conversation,
        inbound: Message,
        replies: Sequence[Reply],
        *,
        channel: Channel | None = None,
    ) -> list[Message]:
        """The bot's replies to ``inbound``, into the outbox and handed to the ``channel``
        it came from (see :meth:`bot.channels.Channel.send`), written in one flush."""
        sent = [
            conversations.add_message(
                session,
                conversation=conversation,
                direction=Direction.outbound,
                sender=Sender.bot,
                text=reply.text,
                in_reply_to_id=inbound.id,
                payload=reply.payload(),
                flush=False,
            )
            for reply in replies
        ]
        if channel is not None and sent:
            channel.send(session, sent)
        session.flush()
        return sent

    def enqueue(
        self,
        session: Session,
        conversation: Conversation,
        customer: Customer,
        reason: EscalationReason,
        sentiment_score: float,
    ) -> None:
        """Into the agents' queue, with the documented priority."""
        conversations.escalate(
            session,
            conversation,
            priority=priority(reason, sentiment_score, signals(customer)),
            reason=reason.value,
            office=self.office,
            at=self.clock(),
        )

    def escalate(
        self,
        session: Session,
        conversation: Conversation,
        customer: Customer,
        reason: EscalationReason,
        sentiment_score: float,
        context: dict[str, Any],
    ) -> list[Reply]:
        """Hand over to a person and say when one will answer."""
        self.enqueue(session, conversation, customer, reason, sentiment_score)
        return self.when_answered(session, context)

    def when_answered(self, session: Session, context: dict[str, Any]) -> list[Reply]:
        """When a person will answer: when the team is back while it is closed, else the
        typical wait of the queue now."""
        now = self.clock()
        if self.hours is not None and not self.hours.is_open(now):
            return self.render(
                {**context, "reopens": self.hours.describe_next(now)}, "escalated_closed"
            )
        wait = inbox.typical_wait(session, now=now)
        return self.render(
            {**context, "wait": inbox.describe_wait(wait) if wait else None}, "escalated"
        )

    def note(self, session: Session, conversation: Conversation, text: str, **payload: Any) -> None:
        """A private note for the agents (never sent to the customer)."""
        conversations.add_message(
            session,
            conversation=conversation,
            direction=Direction.outbound,
            sender=Sender.system,
            text=text,
            is_private_note=True,
            payload=payload,
        )

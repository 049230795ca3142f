"""Channels: the ways a customer talks to us (web chat, Telegram).

The engine never talks to a channel directly. A channel turns what arrives into
:class:`bot.inbound.InboundMessage` s for :meth:`bot.engine.Engine.handle`, which stores
the replies as outbound messages (the outbox); the channel then brings them to the
customer and marks them delivered in its own way: Telegram pushes each one through the
Bot API (:mod:`bot.telegram`), the web chat hands them over when the visitor's page reads
them (:mod:`bot.channels.web`). Everything a channel must offer the rest of the system is
:class:`Channel`; a new channel (email, WhatsApp) is one new module that implements it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from crm.models import Channel as ChannelKind


@dataclass(frozen=True)
class Capabilities:
    """What a channel can show and how its messages reach the customer."""

    buttons: bool  # a message may carry buttons (quick replies, a survey's scale)
    push: bool  # True: we send each message; False: the customer's client fetches them


@runtime_checkable
class Channel(Protocol):
    """One way to reach customers: its kind (stored with identities and messages), its
    capabilities, and :meth:`wake`, called once outbound messages for it are committed."""

    kind: ChannelKind
    capabilities: Capabilities

    def wake(self) -> None:
        """New outbound messages are committed: deliver them now rather than at the next
        look (and mark each delivered once the customer has it)."""
        ...

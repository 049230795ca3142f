"""Channels: the ways a customer talks to us (web chat, Telegram).

The engine never talks to a channel's transport directly. A channel turns what arrives into
:class:`bot.inbound.InboundMessage` s for :meth:`bot.engine.Engine.handle`, which stores
the bot's replies as outbound messages (the outbox) and hands them to the channel the
message came from with :meth:`Channel.send`; the channel brings them to the customer and
marks them delivered in its own way: Telegram's sender pushes each one through the Bot API
once the transaction is committed (:mod:`bot.telegram`), the web chat hands them back in
the response to the visitor's message, and anything written later (an agent's reply, a
survey) when the visitor's page reads it (:mod:`bot.channels.web`).

Everything a channel must offer the rest of the system is :class:`Channel`; the engine
holds the running ones in its :class:`Channels`. A new channel (email, WhatsApp) is one new
module that implements the protocol, plus its kind in :class:`crm.models.Channel` (a value
of a stored column: a migration). See "Adding a channel" in docs/architecture.md.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from sqlalchemy.orm import Session

from crm.models import Channel as ChannelKind
from crm.models import Message


@dataclass(frozen=True)
class Capabilities:
    """What a channel can show and how its messages reach the customer."""

    buttons: bool  # a message may carry buttons (quick replies, a survey's scale)
    push: bool  # True: we send each message; False: the customer's client fetches them


@runtime_checkable
class Channel(Protocol):
    """One way to reach customers: its kind (stored with identities and messages), its
    capabilities, :meth:`send` for the bot's replies, :meth:`mark_delivered` once the
    customer has messages, and :meth:`wake` for messages written outside the engine."""

    kind: ChannelKind
    capabilities: Capabilities

    def send(self, session: Session, messages: Sequence[Message]) -> None:
        """Bring the bot's replies to a message this channel brought in to the customer.

        They are outbound messages just written to the outbox in ``session``, not flushed
        yet; the caller commits. A channel that answers in its own response marks them
        delivered here; a channel that pushes starts sending once the commit is done (a
        rolled-back reply must never reach anyone)."""
        ...

    def mark_delivered(self, session: Session, messages: Sequence[Message]) -> None:
        """The customer has these outbound messages now (the caller commits)."""
        ...

    def wake(self) -> None:
        """Outbound messages for this channel were committed outside the engine (an
        agent's reply, a campaign, a survey): deliver them now rather than at the next
        look."""
        ...


class Channels:
    """The running channels, one per kind: where the engine sends the bot's replies.

    A kind without a running channel keeps its replies in the outbox (pending) for
    whichever process delivers that channel."""

    def __init__(self, channels: Iterable[Channel] = ()) -> None:
        self._by_kind: dict[ChannelKind, Channel] = {}
        for channel in channels:
            self.register(channel)

    def register(self, channel: Channel) -> None:
        """Deliver ``channel.kind`` through ``channel`` from now on."""
        self._by_kind[channel.kind] = channel

    def unregister(self, channel: Channel) -> None:
        """Stop using ``channel`` (if it is still the one registered for its kind)."""
        if self._by_kind.get(channel.kind) is channel:
            del self._by_kind[channel.kind]

    def get(self, kind: ChannelKind) -> Channel | None:
        return self._by_kind.get(kind)

    def wake(self, kind: ChannelKind) -> None:
        """Messages for ``kind`` were committed: its channel delivers them now."""
        channel = self._by_kind.get(kind)
        if channel is not None:
            channel.wake()

"""The web chat as a channel: the bot's replies go back in the response to the visitor's
message; everything else the visitor's page fetches (or streams), and an outbound message
counts as delivered when the page has read it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlalchemy import inspect, select
from sqlalchemy.orm import Session

from bot.channels import Capabilities
from crm.conversations import service as conversations
from crm.models import Channel as ChannelKind
from crm.models import ChannelIdentity, DeliveryStatus, Direction, Message, User


@dataclass(frozen=True)
class Visible:
    """Messages handed to the visitor, oldest first, and the display names of the agents
    who wrote any of them (user id → name)."""

    messages: list[Message]
    authors: dict[int, str] = field(default_factory=dict)


class WebChat:
    """The web chat channel (see :class:`bot.channels.Channel`)."""

    kind = ChannelKind.web
    capabilities = Capabilities(buttons=True, push=False)

    def send(self, session: Session, messages: Sequence[Message]) -> None:
        """The replies go back in the response to the visitor's message: delivered now."""
        self.mark_delivered(session, messages)

    def mark_delivered(self, session: Session, messages: Sequence[Message]) -> None:
        """Mark the outbound ones delivered: those not written yet in their own INSERT,
        stored ones in one UPDATE."""
        stored = []
        for message in messages:
            if message.direction is not Direction.outbound or message.is_private_note:
                continue
            if inspect(message).pending:
                message.delivery_status = DeliveryStatus.delivered
            else:
                stored.append(message.id)
        conversations.mark_delivered(session, message_ids=stored)

    def wake(self) -> None:
        """Nothing to push: a visitor's page reads its messages, and its event stream
        wakes on the commit notification the database sends anyway."""

    def deliver(
        self, session: Session, identity: ChannelIdentity, *, after_id: int, limit: int
    ) -> Visible:
        """The visitor's visible messages after ``after_id``; the outbound ones among
        them count as delivered now (the caller commits)."""
        items = list(
            conversations.visible_messages(
                session, identity=identity, after_id=after_id, limit=limit
            )
        )
        self.mark_delivered(session, items)
        agent_ids = {m.author_user_id for m in items if m.author_user_id is not None}
        authors: dict[int, str] = {}
        if agent_ids:
            rows = session.execute(select(User.id, User.display_name).where(User.id.in_(agent_ids)))
            authors = {int(user_id): str(name) for user_id, name in rows}
        return Visible(items, authors)

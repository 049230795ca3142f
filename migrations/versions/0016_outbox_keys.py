"""messages: a unique outbox key for what the scheduler's jobs send

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-04 15:30:00

A campaign delivery and a survey question each become one outbound message. The key
("campaign-delivery:<id>", "survey:<id>") is unique, so two schedulers that both believe
they lead for a moment (a leader's lock connection dropped) cannot both write it: the
second one's insert fails and its transaction writes nothing. Other messages have no key.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0016'
down_revision: str | None = '0015'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('messages', schema=None) as batch_op:
        batch_op.add_column(sa.Column('outbox_key', sa.String(length=64), nullable=True))
        batch_op.create_index(
            'uq_messages_outbox_key',
            ['outbox_key'],
            unique=True,
            sqlite_where=sa.text('outbox_key IS NOT NULL'),
            postgresql_where=sa.text('outbox_key IS NOT NULL'),
        )


def downgrade() -> None:
    with op.batch_alter_table('messages', schema=None) as batch_op:
        batch_op.drop_index('uq_messages_outbox_key')
        batch_op.drop_column('outbox_key')

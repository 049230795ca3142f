"""dialogue state on conversations, entities on messages, order ownership for chat lookups

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-04 11:51:58

- ``conversations.dialogue``: the request the bot is working on and what it asked for.
- ``messages.entities``: order numbers, emails, phones, amounts and dates in the text.
- ``orders.email``, ``orders.shipping_postcode``, ``orders.shipping_address``: what a chat
  visitor names to prove an order is theirs, and what the bot may then show.
- ``verification_attempts``: each such proof, to limit guessing per conversation and visitor.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0013'
down_revision: str | None = '0012'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('verification_attempts',
    sa.Column('channel_identity_id', sa.Integer(), nullable=False),
    sa.Column('conversation_id', sa.Integer(), nullable=True),
    sa.Column('order_ref', sa.String(length=64), nullable=False),
    sa.Column('succeeded', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['channel_identity_id'], ['channel_identities.id'], name=op.f('fk_verification_attempts_channel_identity_id_channel_identities'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['conversation_id'], ['conversations.id'], name=op.f('fk_verification_attempts_conversation_id_conversations'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_verification_attempts'))
    )
    with op.batch_alter_table('verification_attempts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_verification_attempts_conversation_id'), ['conversation_id'], unique=False)
        batch_op.create_index('ix_verification_attempts_identity_created', ['channel_identity_id', 'created_at'], unique=False)

    with op.batch_alter_table('conversations', schema=None) as batch_op:
        batch_op.add_column(sa.Column('dialogue', sa.JSON(), nullable=True))

    with op.batch_alter_table('messages', schema=None) as batch_op:
        batch_op.add_column(sa.Column('entities', sa.JSON(), nullable=True))

    with op.batch_alter_table('orders', schema=None) as batch_op:
        batch_op.add_column(sa.Column('email', sa.String(length=254), nullable=True))
        batch_op.add_column(sa.Column('shipping_postcode', sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column('shipping_address', sa.String(length=300), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('orders', schema=None) as batch_op:
        batch_op.drop_column('shipping_address')
        batch_op.drop_column('shipping_postcode')
        batch_op.drop_column('email')

    with op.batch_alter_table('messages', schema=None) as batch_op:
        batch_op.drop_column('entities')

    with op.batch_alter_table('conversations', schema=None) as batch_op:
        batch_op.drop_column('dialogue')

    with op.batch_alter_table('verification_attempts', schema=None) as batch_op:
        batch_op.drop_index('ix_verification_attempts_identity_created')
        batch_op.drop_index(batch_op.f('ix_verification_attempts_conversation_id'))

    op.drop_table('verification_attempts')

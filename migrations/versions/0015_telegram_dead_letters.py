"""telegram dead letters: updates that could not be processed, kept instead of retried

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-04 16:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0015'
down_revision: str | None = '0014'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('telegram_dead_letters',
    sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('update_id', sa.BigInteger(), nullable=True),
    sa.Column('error', sa.String(length=300), nullable=False),
    sa.Column('payload', sa.Text(), nullable=False),
    sa.Column('id', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_telegram_dead_letters'))
    )
    with op.batch_alter_table('telegram_dead_letters', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_telegram_dead_letters_received_at'), ['received_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_telegram_dead_letters_update_id'), ['update_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('telegram_dead_letters', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_telegram_dead_letters_update_id'))
        batch_op.drop_index(batch_op.f('ix_telegram_dead_letters_received_at'))
    op.drop_table('telegram_dead_letters')

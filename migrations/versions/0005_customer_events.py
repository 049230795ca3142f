"""customer events (churn risk level changes and other triggers)

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-22 23:40:04.457558
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0005'
down_revision: str | None = '0004'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('customer_events',
    sa.Column('customer_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=40), nullable=False),
    sa.Column('data', sa.JSON(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], name=op.f('fk_customer_events_customer_id_customers'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_customer_events'))
    )
    with op.batch_alter_table('customer_events', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_customer_events_customer_id'), ['customer_id'], unique=False)
        batch_op.create_index('ix_customer_events_kind_created_at', ['kind', 'created_at'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('customer_events', schema=None) as batch_op:
        batch_op.drop_index('ix_customer_events_kind_created_at')
        batch_op.drop_index(batch_op.f('ix_customer_events_customer_id'))

    op.drop_table('customer_events')

"""orders: a covering index for customer histories, a partial offer-code index

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-23 07:00:00

Scoring reads every order's customer, time, amount and status. With those four in one
index (customer, time first), SQLite reads the histories from the index alone, already
sorted by customer and time: no table lookups and no sort of ten million rows. It replaces
the (customer_id, ordered_at) index, whose queries it serves as well. Few orders carry an
offer code, so that index becomes partial and costs imports nothing for the others.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0010'
down_revision: str | None = '0009'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

WITH_CODE = sa.text('offer_code IS NOT NULL')


def upgrade() -> None:
    with op.batch_alter_table('orders', schema=None) as batch_op:
        batch_op.drop_index('ix_orders_customer_id_ordered_at')
        batch_op.create_index(
            'ix_orders_customer_history',
            ['customer_id', 'ordered_at', 'total_amount', 'status'],
            unique=False,
        )
        batch_op.drop_index(batch_op.f('ix_orders_offer_code'))
        batch_op.create_index(
            batch_op.f('ix_orders_offer_code'),
            ['offer_code'],
            unique=False,
            postgresql_where=WITH_CODE,
            sqlite_where=WITH_CODE,
        )


def downgrade() -> None:
    with op.batch_alter_table('orders', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_orders_offer_code'))
        batch_op.create_index(batch_op.f('ix_orders_offer_code'), ['offer_code'], unique=False)
        batch_op.drop_index('ix_orders_customer_history')
        batch_op.create_index(
            'ix_orders_customer_id_ordered_at', ['customer_id', 'ordered_at'], unique=False
        )

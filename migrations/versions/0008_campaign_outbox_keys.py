"""campaign outbox: drop the foreign keys to campaigns, runs and customers and the unused
run and offer-code indexes

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-23 03:28:25

Planning a campaign for a million customers writes a million outbox rows; each foreign key
and index costs per row (PostgreSQL checks each key of each row separately). The rows are
correct by construction and nothing they point to is ever deleted (campaigns finish, runs
stay, customers are erased by anonymising); nothing looks deliveries up by run or offer
code alone. The frequency cap
reads only sent rows, so its index becomes partial (rows are written unsent).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0008'
down_revision: str | None = '0007'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

FOREIGN_KEYS = (
    ('fk_campaign_deliveries_campaign_id_campaigns', 'campaigns', 'campaign_id', 'CASCADE'),
    ('fk_campaign_deliveries_run_id_campaign_runs', 'campaign_runs', 'run_id', 'SET NULL'),
    ('fk_campaign_deliveries_customer_id_customers', 'customers', 'customer_id', 'CASCADE'),
)


def upgrade() -> None:
    with op.batch_alter_table('campaign_deliveries', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_campaign_deliveries_offer_code'))
        batch_op.drop_index(batch_op.f('ix_campaign_deliveries_run_id'))
        for key in FOREIGN_KEYS:
            batch_op.drop_constraint(batch_op.f(key[0]), type_='foreignkey')
        batch_op.drop_index('ix_campaign_deliveries_customer_id_sent_at')
        batch_op.create_index(
            'ix_campaign_deliveries_customer_id_sent_at',
            ['customer_id', 'sent_at'],
            unique=False,
            sqlite_where=sa.text('sent_at IS NOT NULL'),
            postgresql_where=sa.text('sent_at IS NOT NULL'),
        )


def downgrade() -> None:
    with op.batch_alter_table('campaign_deliveries', schema=None) as batch_op:
        batch_op.drop_index('ix_campaign_deliveries_customer_id_sent_at')
        batch_op.create_index(
            'ix_campaign_deliveries_customer_id_sent_at', ['customer_id', 'sent_at'], unique=False
        )
        for name, table, column, ondelete in FOREIGN_KEYS:
            batch_op.create_foreign_key(
                batch_op.f(name), table, [column], ['id'], ondelete=ondelete
            )
        batch_op.create_index(batch_op.f('ix_campaign_deliveries_run_id'), ['run_id'], unique=False)
        batch_op.create_index(
            batch_op.f('ix_campaign_deliveries_offer_code'), ['offer_code'], unique=False
        )

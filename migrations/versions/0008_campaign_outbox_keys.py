"""campaign outbox: drop the run foreign key and the unused run and offer-code indexes

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-23 03:28:25

Planning a campaign for a million customers writes a million outbox rows; each foreign key
and index costs per row. Runs are only ever deleted with their campaign (which deletes its
deliveries), and nothing looks deliveries up by run or offer code alone. The frequency cap
reads only sent rows, so its index becomes partial (rows are written unsent).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0008'
down_revision: str | None = '0007'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('campaign_deliveries', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_campaign_deliveries_offer_code'))
        batch_op.drop_index(batch_op.f('ix_campaign_deliveries_run_id'))
        batch_op.drop_constraint(
            batch_op.f('fk_campaign_deliveries_run_id_campaign_runs'), type_='foreignkey'
        )
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
        batch_op.create_foreign_key(
            batch_op.f('fk_campaign_deliveries_run_id_campaign_runs'),
            'campaign_runs',
            ['run_id'],
            ['id'],
            ondelete='SET NULL',
        )
        batch_op.create_index(batch_op.f('ix_campaign_deliveries_run_id'), ['run_id'], unique=False)
        batch_op.create_index(
            batch_op.f('ix_campaign_deliveries_offer_code'), ['offer_code'], unique=False
        )

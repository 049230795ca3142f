"""campaigns: offer value and message cost (ROI), attribution window, caps, audit trail;
the campaign outbox hands messages to the channel (``message_id``); messages record when an
at-most-once attempt started and may be ``unconfirmed``

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-23 02:01:58

The campaign tables of 0001 were never written to, so their changed columns are simply
replaced.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0007'
down_revision: str | None = '0006'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OUTBOX_OLD = ('pending', 'sent', 'delivered', 'failed', 'skipped', 'held_out')
OUTBOX_NEW = ('pending', 'queued', 'skipped', 'held_out')
DELIVERY_OLD = ('pending', 'sending', 'sent', 'delivered', 'failed')
DELIVERY_NEW = (*DELIVERY_OLD, 'unconfirmed')


def upgrade() -> None:
    # APScheduler's persistent job store (scheduler.campaigns), in the shape it expects.
    op.create_table('apscheduler_jobs',
    sa.Column('id', sa.Unicode(length=191), nullable=False),
    sa.Column('next_run_time', sa.Float(precision=25), nullable=True),
    sa.Column('job_state', sa.LargeBinary(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_apscheduler_jobs'))
    )
    op.create_index('ix_apscheduler_jobs_next_run_time', 'apscheduler_jobs', ['next_run_time'])
    op.create_table('campaign_audit',
    sa.Column('campaign_id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=True),
    sa.Column('action', sa.String(length=40), nullable=False),
    sa.Column('changes', sa.JSON(), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['campaign_id'], ['campaigns.id'], name=op.f('fk_campaign_audit_campaign_id_campaigns'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_campaign_audit_user_id_users'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_campaign_audit'))
    )
    with op.batch_alter_table('campaign_audit', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_campaign_audit_campaign_id'), ['campaign_id'], unique=False)

    with op.batch_alter_table('campaign_deliveries', schema=None) as batch_op:
        batch_op.add_column(sa.Column('message_id', sa.Integer(), nullable=True))
        batch_op.drop_index(batch_op.f('ix_campaign_deliveries_customer_id'))
        batch_op.create_index('ix_campaign_deliveries_customer_id_sent_at', ['customer_id', 'sent_at'], unique=False)
        batch_op.create_foreign_key(batch_op.f('fk_campaign_deliveries_message_id_messages'), 'messages', ['message_id'], ['id'], ondelete='SET NULL')
        batch_op.drop_column('rendered_text')
        batch_op.drop_column('attempts')
        batch_op.drop_column('last_error')
        batch_op.drop_constraint(batch_op.f('ck_campaign_deliveries_outboxstatus'), type_='check')
        batch_op.create_check_constraint(batch_op.f('ck_campaign_deliveries_outboxstatus'), sa.column('status').in_(OUTBOX_NEW))

    with op.batch_alter_table('campaign_runs', schema=None) as batch_op:
        batch_op.add_column(sa.Column('skipped_count', sa.Integer(), server_default='0', nullable=False))

    with op.batch_alter_table('campaigns', schema=None) as batch_op:
        batch_op.add_column(sa.Column('offer_value', sa.Numeric(precision=12, scale=2), server_default='0', nullable=False))
        batch_op.add_column(sa.Column('message_cost', sa.Numeric(precision=12, scale=4), server_default='0', nullable=False))
        batch_op.add_column(sa.Column('attribution', sa.String(length=16), server_default='any_order', nullable=False))
        batch_op.add_column(sa.Column('attribution_days', sa.Integer(), server_default='14', nullable=False))
        batch_op.add_column(sa.Column('max_messages', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('activated_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True))

    with op.batch_alter_table('messages', schema=None) as batch_op:
        batch_op.add_column(sa.Column('attempt_started_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.drop_constraint(batch_op.f('ck_messages_deliverystatus'), type_='check')
        batch_op.create_check_constraint(batch_op.f('ck_messages_deliverystatus'), sa.column('delivery_status').in_(DELIVERY_NEW))



def downgrade() -> None:
    with op.batch_alter_table('messages', schema=None) as batch_op:
        batch_op.drop_column('attempt_started_at')
        batch_op.drop_constraint(batch_op.f('ck_messages_deliverystatus'), type_='check')
        batch_op.create_check_constraint(batch_op.f('ck_messages_deliverystatus'), sa.column('delivery_status').in_(DELIVERY_OLD))

    with op.batch_alter_table('campaigns', schema=None) as batch_op:
        batch_op.drop_column('finished_at')
        batch_op.drop_column('activated_at')
        batch_op.drop_column('max_messages')
        batch_op.drop_column('attribution_days')
        batch_op.drop_column('attribution')
        batch_op.drop_column('message_cost')
        batch_op.drop_column('offer_value')

    with op.batch_alter_table('campaign_runs', schema=None) as batch_op:
        batch_op.drop_column('skipped_count')

    with op.batch_alter_table('campaign_deliveries', schema=None) as batch_op:
        batch_op.add_column(sa.Column('last_error', sa.TEXT(), nullable=True))
        batch_op.add_column(sa.Column('attempts', sa.INTEGER(), server_default=sa.text("'0'"), nullable=False))
        batch_op.add_column(sa.Column('rendered_text', sa.TEXT(), nullable=True))
        batch_op.drop_constraint(batch_op.f('fk_campaign_deliveries_message_id_messages'), type_='foreignkey')
        batch_op.drop_index('ix_campaign_deliveries_customer_id_sent_at')
        batch_op.create_index(batch_op.f('ix_campaign_deliveries_customer_id'), ['customer_id'], unique=False)
        batch_op.drop_column('message_id')
        batch_op.drop_constraint(batch_op.f('ck_campaign_deliveries_outboxstatus'), type_='check')
        batch_op.create_check_constraint(batch_op.f('ck_campaign_deliveries_outboxstatus'), sa.column('status').in_(OUTBOX_OLD))

    with op.batch_alter_table('campaign_audit', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_campaign_audit_campaign_id'))

    op.drop_table('campaign_audit')
    op.drop_index('ix_apscheduler_jobs_next_run_time', table_name='apscheduler_jobs')
    op.drop_table('apscheduler_jobs')

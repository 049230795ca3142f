"""admin console: canned responses (seeded with the replies the conversation view offered
until now) and the versioned response book of the bot

Revision ID: 0018
Revises: 0016
Create Date: 2026-12-04 15:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0018'
down_revision: str | None = '0016'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

WHEN = sa.DateTime(timezone=True)
SEED = [
    ('patience', 'Looking into it', "Thanks for your patience, I'm looking into this right now."),
    ('replacement', 'Replacement', "I'm sorry about this. I've arranged a replacement at no cost to you."),
    ('refund', 'Refund issued', 'Your refund has been issued; it reaches your account in 3–5 business days.'),
    ('photo', 'Ask for a photo', 'Could you send me a photo of the damaged item, please?'),
]


def upgrade() -> None:
    canned = op.create_table('canned_responses',
    sa.Column('shortcut', sa.String(length=40), nullable=False),
    sa.Column('title', sa.String(length=100), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('created_at', WHEN, server_default=sa.text('(CURRENT_TIMESTAMP)'), nullable=False),
    sa.Column('updated_at', WHEN, server_default=sa.text('(CURRENT_TIMESTAMP)'), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_canned_responses')),
    sa.UniqueConstraint('shortcut', name=op.f('uq_canned_responses_shortcut'))
    )
    op.bulk_insert(canned, [{'shortcut': s, 'title': t, 'text': x} for s, t, x in SEED])
    op.create_table('response_book_versions',
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('source', sa.Text(), nullable=False),
    sa.Column('comment', sa.String(length=200), server_default='', nullable=False),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.Column('created_by', sa.String(length=254), nullable=False),
    sa.Column('created_at', WHEN, nullable=False),
    sa.Column('id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['created_by_id'], ['users.id'], name=op.f('fk_response_book_versions_created_by_id_users'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_response_book_versions')),
    sa.UniqueConstraint('version', name=op.f('uq_response_book_versions_version'))
    )


def downgrade() -> None:
    op.drop_table('response_book_versions')
    op.drop_table('canned_responses')

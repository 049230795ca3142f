"""outbox delivery: attempts, retry time, claims, errors; unreachable identities

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22 20:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OLD_STATUSES = ("pending", "sent", "delivered", "failed")
NEW_STATUSES = ("pending", "sending", "sent", "delivered", "failed")


def _status_check(values: Sequence[str]) -> str:
    quoted = ", ".join(f"'{v}'" for v in values)
    return f"delivery_status IN ({quoted})"


def upgrade() -> None:
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("delivery_attempts", sa.Integer(), server_default="0", nullable=False)
        )
        batch_op.add_column(sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("delivery_error", sa.String(length=200), nullable=True))
        batch_op.drop_constraint(op.f("ck_messages_deliverystatus"), type_="check")
        batch_op.create_check_constraint(
            op.f("ck_messages_deliverystatus"), _status_check(NEW_STATUSES)
        )
        batch_op.create_index(
            "ix_messages_channel_delivery_status_id",
            ["channel", "delivery_status", "id"],
            unique=False,
        )
    with op.batch_alter_table("channel_identities", schema=None) as batch_op:
        batch_op.add_column(sa.Column("unreachable_reason", sa.String(length=64), nullable=True))
        batch_op.add_column(
            sa.Column("unreachable_since", sa.DateTime(timezone=True), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table("channel_identities", schema=None) as batch_op:
        batch_op.drop_column("unreachable_since")
        batch_op.drop_column("unreachable_reason")
    op.execute("UPDATE messages SET delivery_status = 'pending' WHERE delivery_status = 'sending'")
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.drop_index("ix_messages_channel_delivery_status_id")
        batch_op.drop_constraint(op.f("ck_messages_deliverystatus"), type_="check")
        batch_op.create_check_constraint(
            op.f("ck_messages_deliverystatus"), _status_check(OLD_STATUSES)
        )
        batch_op.drop_column("delivery_error")
        batch_op.drop_column("claimed_at")
        batch_op.drop_column("next_attempt_at")
        batch_op.drop_column("delivery_attempts")

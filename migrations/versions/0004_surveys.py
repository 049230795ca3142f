"""surveys: dispatch state, topics, follow-ups, one open survey per customer, satisfaction on customers

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22 22:49:00.583014
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

OLD_STATUSES = "'pending', 'sent', 'answered', 'expired'"
NEW_STATUSES = OLD_STATUSES + ", 'skipped'"


revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("customers", schema=None) as batch_op:
        batch_op.add_column(sa.Column("csat_last", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("csat_avg", sa.Double(), nullable=True))
        batch_op.add_column(
            sa.Column("csat_count", sa.Integer(), server_default="0", nullable=False)
        )
        batch_op.add_column(sa.Column("csat_trend", sa.Double(), nullable=True))
        batch_op.add_column(sa.Column("nps_last", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("nps_category", sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column("satisfaction_at", sa.DateTime(timezone=True), nullable=True))

    with op.batch_alter_table("conversations", schema=None) as batch_op:
        batch_op.create_index(
            "ix_conversations_status_resolved_at", ["status", "resolved_at"], unique=False
        )

    with op.batch_alter_table("survey_responses", schema=None) as batch_op:
        batch_op.add_column(sa.Column("topic", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("due_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("skip_reason", sa.String(length=32), nullable=True))
        batch_op.add_column(
            sa.Column("comment_open_until", sa.DateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(sa.Column("follow_up_conversation_id", sa.Integer(), nullable=True))
        batch_op.create_index(
            "ix_survey_responses_kind_answered_at", ["kind", "answered_at"], unique=False
        )
        batch_op.create_index(
            "ix_survey_responses_status_due_at", ["status", "due_at"], unique=False
        )
        batch_op.create_unique_constraint(
            "uq_survey_responses_conversation_id", ["conversation_id"]
        )
        batch_op.create_index(
            "uq_survey_responses_one_open",
            ["customer_id"],
            unique=True,
            sqlite_where=sa.text("status = 'sent'"),
            postgresql_where=sa.text("status = 'sent'"),
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_survey_responses_follow_up_conversation_id_conversations"),
            "conversations",
            ["follow_up_conversation_id"],
            ["id"],
            ondelete="SET NULL",
        )
        batch_op.drop_constraint(batch_op.f("ck_survey_responses_surveystatus"), type_="check")
        batch_op.create_check_constraint("surveystatus", sa.text(f"status IN ({NEW_STATUSES})"))



def downgrade() -> None:
    op.execute("DELETE FROM survey_responses WHERE status = 'skipped'")
    with op.batch_alter_table("survey_responses", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("ck_survey_responses_surveystatus"), type_="check")
        batch_op.create_check_constraint("surveystatus", sa.text(f"status IN ({OLD_STATUSES})"))
        batch_op.drop_constraint(
            batch_op.f("fk_survey_responses_follow_up_conversation_id_conversations"),
            type_="foreignkey",
        )
        batch_op.drop_index(
            "uq_survey_responses_one_open",
            sqlite_where=sa.text("status = 'sent'"),
            postgresql_where=sa.text("status = 'sent'"),
        )
        batch_op.drop_constraint("uq_survey_responses_conversation_id", type_="unique")
        batch_op.drop_index("ix_survey_responses_status_due_at")
        batch_op.drop_index("ix_survey_responses_kind_answered_at")
        batch_op.drop_column("follow_up_conversation_id")
        batch_op.drop_column("comment_open_until")
        batch_op.drop_column("skip_reason")
        batch_op.drop_column("due_at")
        batch_op.drop_column("topic")

    with op.batch_alter_table("conversations", schema=None) as batch_op:
        batch_op.drop_index("ix_conversations_status_resolved_at")

    with op.batch_alter_table("customers", schema=None) as batch_op:
        batch_op.drop_column("satisfaction_at")
        batch_op.drop_column("nps_category")
        batch_op.drop_column("nps_last")
        batch_op.drop_column("csat_trend")
        batch_op.drop_column("csat_count")
        batch_op.drop_column("csat_avg")
        batch_op.drop_column("csat_last")


"""churn reasons in their own column (scoring writes them in bulk, without touching
the free-form attributes)

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-23 09:10:00

Reasons stored by earlier versions in ``attributes["churn_reasons"]`` are moved over.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

customers = sa.table(
    "customers",
    sa.column("id", sa.Integer()),
    sa.column("attributes", sa.JSON()),
    sa.column("churn_reasons", sa.JSON()),
)


def upgrade() -> None:
    with op.batch_alter_table("customers", schema=None) as batch_op:
        batch_op.add_column(sa.Column("churn_reasons", sa.JSON(), nullable=True))
    connection = op.get_bind()
    rows = connection.execute(
        sa.select(customers.c.id, customers.c.attributes).where(
            customers.c.attributes.is_not(None)
        )
    ).all()
    for cid, attributes in rows:
        if isinstance(attributes, dict) and "churn_reasons" in attributes:
            rest = {k: v for k, v in attributes.items() if k != "churn_reasons"}
            connection.execute(
                customers.update()
                .where(customers.c.id == cid)
                .values(churn_reasons=attributes["churn_reasons"] or None, attributes=rest)
            )


def downgrade() -> None:
    with op.batch_alter_table("customers", schema=None) as batch_op:
        batch_op.drop_column("churn_reasons")

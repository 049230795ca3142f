"""Customer API: the 360 view (agents, marketers with masked contacts, admins), privacy
export and erase (admins)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query
from sqlalchemy import select

from careloop.errors import ValidationFailed
from crm.customers import privacy
from crm.customers.profile import customer_export, customer_profile
from crm.customers.schemas import (
    CustomerErased,
    CustomerExport,
    CustomerList,
    CustomerProfile,
    CustomerSummary,
)
from crm.models import ChurnRisk, Customer, Role, User
from web.auth import require_roles
from web.deps import PathId, SessionDep
from web.errors import STAFF, error_responses

router = APIRouter(
    prefix="/api/v1/customers", tags=["customers"], responses=error_responses(*STAFF)
)
StaffUser = Annotated[User, Depends(require_roles(Role.agent, Role.marketer))]
AdminUser = Annotated[User, Depends(require_roles())]
BY_ID = error_responses(404)


@router.get("")
def list_customers(
    session: SessionDep,
    user: StaffUser,
    segment: Annotated[str | None, Query(description="RFM segment, e.g. At risk")] = None,
    risk: Annotated[str | None, Query(description="churn risk: low, medium or high")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> CustomerList:
    """Customers of a segment and/or risk level, most likely to churn first."""
    query = select(Customer)
    if segment:
        query = query.where(Customer.rfm_segment == segment)
    if risk:
        try:
            query = query.where(Customer.churn_risk == ChurnRisk(risk))
        except ValueError:
            raise ValidationFailed("risk must be low, medium or high") from None
    rows = session.scalars(
        query.order_by(Customer.churn_probability.desc().nulls_last(), Customer.id).limit(limit)
    ).all()
    masked = user.role is Role.marketer
    return CustomerList(
        customers=[
            CustomerSummary(
                id=c.id,
                name=c.display_name,
                email=privacy.mask_email(c.email) if masked else c.email,
                segment=c.rfm_segment,
                clv=str(c.clv) if c.clv is not None else None,
                churn_risk=c.churn_risk.value if c.churn_risk else None,
                churn_probability=c.churn_probability,
            )
            for c in rows
        ]
    )


@router.get("/{customer_id}", responses=BY_ID)
def show_customer(customer_id: PathId, session: SessionDep, user: StaffUser) -> CustomerProfile:
    """The customer 360; marketers get masked contacts and no survey comments."""
    return CustomerProfile.model_validate(
        customer_profile(session, customer_id, masked=user.role is Role.marketer)
    )


@router.get("/{customer_id}/export", responses=BY_ID)
def export_customer(customer_id: PathId, session: SessionDep, user: AdminUser) -> CustomerExport:
    """Everything held about the customer (a data subject access request)."""
    return CustomerExport.model_validate(customer_export(session, customer_id))


@router.post("/{customer_id}/erase", responses=BY_ID)
def erase_customer(customer_id: PathId, session: SessionDep, user: AdminUser) -> CustomerErased:
    """Erase the customer's personal data; orders and survey scores stay as aggregates."""
    changed = privacy.erase_customer(session, customer_id)
    session.commit()
    return CustomerErased.model_validate({"erased": customer_id, **changed})

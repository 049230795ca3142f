"""The signed-in user's own account: change the password."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from crm.users.schemas import PasswordChange
from web.auth import CurrentUser
from web.deps import SessionDep, StateDep
from web.errors import error_responses
from web.pages.account import change_own_password

router = APIRouter(prefix="/api/v1/account", tags=["account"])


@router.post("/password", status_code=204, responses=error_responses(401, 403, 422, 429, 503))
def change_password(
    body: PasswordChange, request: Request, session: SessionDep, state: StateDep, user: CurrentUser
) -> Response:
    """Change your password: the current one is checked (wrong ones count as failed
    sign-ins and are throttled alike), the new one must meet the password policy. Every
    other session of yours ends; this one stays signed in."""
    change_own_password(
        request,
        session,
        state.settings,
        user,
        body.current_password,
        body.new_password,
        state.hash_gate,
    )
    return Response(status_code=204)

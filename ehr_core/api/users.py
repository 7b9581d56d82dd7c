"""``/users``: the owner manages the practice's accounts."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from ehr_core.api import API_PREFIX
from ehr_core.api.deps import AuditDep, OwnerUser, SessionDep, WritableDep
from ehr_core.api.errors import PASSWORD_WORK_RESPONSES
from ehr_core.repo import users
from ehr_core.schemas.auth import PasswordReset, UserCreate, UserPublic, UserUpdate
from ehr_core.schemas.common import Id

router = APIRouter(prefix=f"{API_PREFIX}/users", tags=["users"])


@router.get("", response_model=list[UserPublic])
def list_users(actor: OwnerUser, session: SessionDep, trail: AuditDep) -> list[UserPublic]:
    result = [UserPublic.model_validate(u) for u in users.list_users(session, actor.practice_id)]
    trail.read("user.list", "user")
    return result


@router.post(
    "",
    response_model=UserPublic,
    status_code=201,
    dependencies=[WritableDep],
    responses=PASSWORD_WORK_RESPONSES,
)
def create_user(
    body: UserCreate, request: Request, actor: OwnerUser, session: SessionDep, trail: AuditDep
) -> UserPublic:
    user = users.create_user(
        session,
        practice_id=actor.practice_id,
        email=body.email,
        display_name=body.display_name,
        role=body.role,
        password_hash=request.app.state.passwords.hash(body.password),
    )
    trail.write("user.create", "user", user.id)
    return UserPublic.model_validate(user)


@router.patch("/{user_id}", response_model=UserPublic, dependencies=[WritableDep])
def update_user(
    user_id: Id, body: UserUpdate, actor: OwnerUser, session: SessionDep, trail: AuditDep
) -> UserPublic:
    """Rename, change the role of, disable or re-enable a staff account (never the owner's)."""
    user = users.update_user(
        session,
        actor.practice_id,
        user_id,
        display_name=body.display_name,
        role=body.role,
        disabled=body.disabled,
    )
    trail.write("user.update", "user", user.id)
    return UserPublic.model_validate(user)


@router.post(
    "/{user_id}/password",
    status_code=204,
    dependencies=[WritableDep],
    responses=PASSWORD_WORK_RESPONSES,
)
def reset_password(
    user_id: Id,
    body: PasswordReset,
    request: Request,
    actor: OwnerUser,
    session: SessionDep,
    trail: AuditDep,
) -> Response:
    """Set a new password for a staff account and end its sessions."""
    password_hash = request.app.state.passwords.hash(body.new_password)
    user = users.reset_password(session, actor.practice_id, user_id, password_hash)
    trail.write("user.password_reset", "user", user.id)
    return Response(status_code=204)

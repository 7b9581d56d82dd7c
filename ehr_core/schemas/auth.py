"""Login, sessions, passwords, recovery codes and the owner's user management."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import Field

from ehr_core.schemas.common import Email, InputModel, Name, OutputModel, Password


class LoginRequest(InputModel):
    email: Email
    password: str = Field(min_length=1, max_length=256)


class LoginUser(OutputModel):
    id: int
    role: str
    practice_id: int


class LoginResponse(OutputModel):
    token: str
    expires_at: dt.datetime
    user: LoginUser
    read_only: bool = Field(
        default=False,
        description=(
            "true: a read-only session, issued because the region's database is a standby "
            "during an outage; reads work, writes answer 503 read_only, and it ends (401, "
            "sign in again) once the region accepts writes"
        ),
    )
    region: str = Field(description="the region that issued the session")


class PasswordChange(InputModel):
    current_password: str = Field(min_length=1, max_length=256)
    new_password: Password


class RecoverRequest(InputModel):
    email: Email
    code: str = Field(min_length=1, max_length=64)
    new_password: Password


class RecoveryCodes(OutputModel):
    codes: list[str]
    detail: str = "store these now: each works once and they are not shown again"


class UserCreate(InputModel):
    email: Email
    display_name: Name
    role: Literal["clinician", "staff"]
    password: Password


class UserUpdate(InputModel):
    display_name: Name | None = None
    role: Literal["clinician", "staff"] | None = None
    disabled: bool | None = None


class PasswordReset(InputModel):
    new_password: Password


class UserPublic(OutputModel):
    id: int
    practice_id: int
    email: str
    display_name: str
    role: str
    disabled: bool

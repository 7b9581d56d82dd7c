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

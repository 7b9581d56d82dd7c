"""Bearer-token authentication for SRE actions (a single shared token from settings)."""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, HTTPException, Request

SRE_AUTHOR = "sre"


def require_sre(request: Request) -> str:
    """Dependency: pass with ``Authorization: Bearer <token>``; returns the author name."""
    expected = request.app.state.settings.token.get_secret_value()
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(),
                                                            expected.encode()):
        raise HTTPException(
            status_code=401,
            detail="a valid 'Authorization: Bearer <token>' header is required",
            headers={"WWW-Authenticate": "Bearer"},
        )
    return SRE_AUTHOR


SreUser = Annotated[str, Depends(require_sre)]

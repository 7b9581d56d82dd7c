"""The EHR's exception tree and its one JSON error shape.

Every error the API returns is ``{"error": code, "detail": str, "fields": [...]}``.
Library code raises :class:`EhrError` subclasses; :mod:`ehr_core.api.errors` turns them
into responses. Messages never contain patient data: they name fields and ids only.
"""

from __future__ import annotations

from typing import Any


class EhrError(Exception):
    """Base of every error the EHR raises on purpose."""

    status_code = 500
    code = "internal_error"

    def __init__(
        self,
        detail: str,
        *,
        fields: list[dict[str, str]] | None = None,
        headers: dict[str, str] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        self.fields = fields or []
        self.headers = headers or {}
        self.extra = extra or {}

    def body(self) -> dict[str, Any]:
        return {"error": self.code, "detail": self.detail, "fields": self.fields, **self.extra}


class BadRequest(EhrError):
    status_code = 400
    code = "bad_request"


class ValidationFailed(EhrError):
    status_code = 422
    code = "validation_error"


class Unauthorized(EhrError):
    status_code = 401
    code = "unauthorized"

    def __init__(self, detail: str = "missing, invalid or expired token") -> None:
        super().__init__(detail, headers={"WWW-Authenticate": "Bearer"})


class Forbidden(EhrError):
    status_code = 403
    code = "forbidden"


class NotFound(EhrError):
    """A missing record and another practice's record look exactly the same."""

    status_code = 404
    code = "not_found"

    def __init__(self, resource: str = "resource") -> None:
        super().__init__(f"{resource} not found")


class Conflict(EhrError):
    status_code = 409
    code = "conflict"


class VersionConflict(Conflict):
    code = "version_conflict"


class ConsentRequired(Conflict):
    code = "consent_required"


class IdempotencyKeyReused(ValidationFailed):
    """An ``Idempotency-Key`` came back with another method, path or body."""

    code = "idempotency_key_reused"

    def __init__(self, header: str) -> None:
        message = f"{header} was already used for a different request (method, path or body)"
        super().__init__(message, fields=[{"field": f"header.{header}", "message": message}])


class IdempotencyKeyInFlight(Conflict):
    """The first request with this ``Idempotency-Key`` has not finished yet."""

    code = "idempotency_key_in_flight"

    def __init__(self, header: str) -> None:
        super().__init__(
            f"a request with the same {header} is still in flight; retry shortly",
            headers={"Retry-After": "1"},
        )


class PayloadTooLarge(EhrError):
    status_code = 413
    code = "payload_too_large"


class ReadOnly(EhrError):
    """A write reached a region whose database is a standby (or read-only)."""

    status_code = 503
    code = "read_only"

    def __init__(self, region: str, retry_after: int) -> None:
        super().__init__(
            f"region {region} is serving read-only (its database is a standby); retry later",
            headers={"Retry-After": str(retry_after)},
            extra={"region": region},
        )


class TooManyRequests(EhrError):
    """Refused for now to protect the service (password work is bounded): retry after
    ``Retry-After`` seconds."""

    status_code = 429
    code = "too_many_requests"

    def __init__(self, detail: str, *, retry_after: int) -> None:
        super().__init__(detail, headers={"Retry-After": str(retry_after)})


class Unavailable(EhrError):
    status_code = 503
    code = "unavailable"


class DatabaseError(EhrError):
    """The database could not be reached or refused an operation."""

    status_code = 503
    code = "database_unavailable"


__all__ = [
    "BadRequest",
    "Conflict",
    "ConsentRequired",
    "DatabaseError",
    "EhrError",
    "Forbidden",
    "IdempotencyKeyInFlight",
    "IdempotencyKeyReused",
    "NotFound",
    "PayloadTooLarge",
    "ReadOnly",
    "TooManyRequests",
    "Unauthorized",
    "Unavailable",
    "ValidationFailed",
    "VersionConflict",
]

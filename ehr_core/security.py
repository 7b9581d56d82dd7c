"""Passwords (argon2), opaque session tokens and one-time recovery codes.

Tokens and recovery codes are long random secrets, so a fast SHA-256 is enough to store
them safely; passwords are human-chosen and get argon2id.
"""

from __future__ import annotations

import hashlib
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

# argon2id at OWASP's recommended minimum (19 MiB, 2 passes, 1 lane): tens of ms per
# login instead of argon2-cffi's default ~1 s on a busy 2-core host.
_hasher = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1)
# Verified against when the e-mail is unknown, so a miss costs as long as a wrong password.
_DUMMY_HASH = _hasher.hash("chartguard-timing-equaliser")

MIN_PASSWORD_LENGTH = 12
RECOVERY_CODE_COUNT = 10


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    """True when ``password`` matches; never raises for a wrong or malformed hash."""
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def new_token() -> str:
    """A fresh opaque bearer token (256 bits)."""
    return secrets.token_urlsafe(32)


def token_digest(secret: str) -> str:
    """How tokens and recovery codes are stored: SHA-256, hex."""
    return hashlib.sha256(secret.encode()).hexdigest()


def new_recovery_codes(count: int = RECOVERY_CODE_COUNT) -> list[str]:
    """Human-typable one-time codes such as ``k7qd-m2xa-9fzt-p3wb`` (80 bits each)."""
    alphabet = "abcdefghjkmnpqrstuvwxyz23456789"
    return [
        "-".join("".join(secrets.choice(alphabet) for _ in range(4)) for _ in range(4))
        for _ in range(count)
    ]


def normalise_recovery_code(code: str) -> str:
    return code.strip().lower().replace(" ", "")

"""The encrypted envelope of a downtime bundle.

AES-256-GCM with a key derived from the owner's passphrase by PBKDF2-HMAC-SHA256: both
are in WebCrypto, so the static viewer page decrypts in any browser with no network and
no library. The practice slug and creation time are bound as associated data, so a
bundle cannot be passed off as another practice's or another day's.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
from dataclasses import asdict, dataclass
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC

from runbooks.errors import RunbookError

ITERATIONS = 600_000  # OWASP's 2023 figure for PBKDF2-HMAC-SHA256
MIN_PASSPHRASE = 12


class BundleError(RunbookError):
    """A bundle could not be sealed or opened (wrong passphrase, tampered data)."""


@dataclass(frozen=True)
class Envelope:
    v: int
    practice: str
    created: str
    kdf: str
    iterations: int
    salt: str
    iv: str
    ciphertext: str

    @property
    def aad(self) -> bytes:
        return f"chartguard-downtime/v{self.v}/{self.practice}/{self.created}".encode()

    def to_json(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"))


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _key(passphrase: str, salt: bytes, iterations: int) -> bytes:
    kdf = PBKDF2HMAC(algorithm=hashes.SHA256(), length=32, salt=salt, iterations=iterations)
    return kdf.derive(passphrase.encode("utf-8"))


def new_passphrase() -> str:
    """A random owner passphrase: 25 base32 characters (125 bits) in groups of five."""
    raw = base64.b32encode(secrets.token_bytes(16)).decode("ascii").rstrip("=")[:25]
    return "-".join(raw[i : i + 5] for i in range(0, 25, 5))


def encrypt(
    data: Any, *, passphrase: str, practice: str, created: str, iterations: int = ITERATIONS
) -> Envelope:
    """Seal ``data`` (JSON-serialisable) for ``practice`` with the owner's passphrase."""
    if len(passphrase) < MIN_PASSPHRASE:
        raise BundleError(f"passphrase must be at least {MIN_PASSPHRASE} characters")
    salt, iv = os.urandom(16), os.urandom(12)
    shell = Envelope(1, practice, created, "PBKDF2-SHA256", iterations, _b64(salt), _b64(iv), "")
    plaintext = json.dumps(data, separators=(",", ":"), default=str).encode("utf-8")
    ciphertext = AESGCM(_key(passphrase, salt, iterations)).encrypt(iv, plaintext, shell.aad)
    return Envelope(**{**asdict(shell), "ciphertext": _b64(ciphertext)})


def decrypt(envelope: Envelope, *, passphrase: str) -> Any:
    """Open an envelope; a wrong passphrase or any tampering raises :class:`BundleError`."""
    try:
        key = _key(passphrase, base64.b64decode(envelope.salt), envelope.iterations)
        plaintext = AESGCM(key).decrypt(
            base64.b64decode(envelope.iv), base64.b64decode(envelope.ciphertext), envelope.aad
        )
    except (InvalidTag, ValueError) as e:
        raise BundleError("wrong passphrase, or the bundle was altered") from e
    return json.loads(plaintext)

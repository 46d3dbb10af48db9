"""API keys and SMTP passwords: generated once, shown once, stored only as hashes."""

from __future__ import annotations

import hashlib
import secrets
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from typing import Protocol

    class Headers(Protocol):
        def get(self, key: str) -> str | None: ...

KEY_PREFIX = "ml_live_"


def new_key() -> str:
    """A fresh key: ``ml_live_`` + 64 hex characters (256 random bits)."""
    return KEY_PREFIX + secrets.token_hex(32)


def hash_key(key: str) -> str:
    """The stored form of a key. Keys carry 256 random bits, so a fast hash is safe."""
    return hashlib.sha256(key.encode()).hexdigest()


def mask(prefix: str, last4: str) -> str:
    """The key as the profile shows it: prefix and last four only."""
    return f"{prefix}...{last4}"


def key_from_headers(headers: Headers) -> str | None:
    """The key from ``X-API-Key`` or ``Authorization: Bearer``; None if absent."""
    key = headers.get("X-API-Key")
    if not key:
        scheme, _, value = (headers.get("Authorization") or "").partition(" ")
        key = value if scheme.lower() == "bearer" else None
    return key.strip() if key else None


def new_smtp_password() -> str:
    """A fresh SMTP password (192 random bits, URL-safe: easy to paste into an MUA)."""
    return secrets.token_urlsafe(24)


def hash_password(password: str, salt: bytes | None = None) -> str:
    """``scrypt$salt$hash``: a slow, salted hash (a password may be typed into an MUA)."""
    salt = salt or secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=2**14, r=8, p=1)
    return f"scrypt${salt.hex()}${digest.hex()}"

"""Signed tracking tokens: open, click and unsubscribe links.

A token is ``base64url(kind + message id + data) . base64url(HMAC-SHA256[:16])``. The
click target travels inside the signed token, so it is exactly what was sent and can
never be replaced by the request (no open redirect). A forged or altered token does
not verify and records nothing.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass
from uuid import UUID

KINDS = {"o": b"o", "c": b"c", "u": b"u"}


@dataclass(frozen=True)
class Token:
    """What a verified token says."""

    kind: str
    message_id: UUID
    data: str


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    """The bytes of canonical unpadded base64url ``text``; anything else raises ValueError.

    The standard decoder skips characters outside its alphabet and ignores what follows
    padding, so ``!!!!`` inserted or ``==`` appended would still decode to the same bytes:
    only the one encoding :func:`_b64` produces is accepted (decode, re-encode, compare).
    """
    raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    if _b64(raw) != text:
        raise ValueError("not the canonical encoding")
    return raw


def _mac(secret: bytes, body: bytes) -> bytes:
    return hmac.digest(secret, body, hashlib.sha256)[:16]  # one-shot: ~2x hmac.new per token


def mint(secret: bytes, kind: str, message_id: UUID, data: str = "") -> str:
    """A token of ``kind`` (o, c, u) for a message, carrying ``data`` (the URL of a click)."""
    body = KINDS[kind] + message_id.bytes + data.encode()
    return f"{_b64(body)}.{_b64(_mac(secret, body))}"


def verify(secret: bytes, kind: str, token: str) -> Token | None:
    """The token's content if it is authentic and of ``kind``, else None."""
    encoded, _, signature = token.partition(".")
    try:
        body, mac = _unb64(encoded), _unb64(signature)
    except (ValueError, TypeError):
        return None
    if len(body) < 17 or not hmac.compare_digest(mac, _mac(secret, body)):
        return None
    if body[:1] != KINDS.get(kind):
        return None
    try:
        data = body[17:].decode()
    except UnicodeDecodeError:
        return None
    return Token(kind, UUID(bytes=body[1:17]), data)

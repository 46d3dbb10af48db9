"""The signature of inbound bounce and complaint reports (spec §14): pure, no I/O.

The sender adds ``X-MailerLogic-Timestamp`` (Unix seconds) and ``X-MailerLogic-Signature:
v1=<hex>``, the hex HMAC-SHA256 with the shared secret (``MAILERLOGIC_WEBHOOK_SECRET``) over

    f"{timestamp}.{path}." + raw body        e.g.  b"1710512990./api/webhooks/bounce." + body

where ``path`` is the endpoint's canonical path, ``/api/webhooks/bounce`` or
``/api/webhooks/complaint``, also when the request goes to the ``/api/v1/...`` alias (the
version prefix is not signed). So a report signed for one endpoint does not verify on the
other. Several comma-separated ``v1=`` values are accepted (secret rotation); hex case is free.

Guarantees, checked in this order: both headers present (else ``401 missing_signature``),
well formed (``401 invalid_signature``), matching (``401 invalid_signature``), a timestamp at
most ``tolerance_s`` from now in either direction (``401 stale_signature``). The caller then
claims the verified digest in the shared store of seen signatures (``web.seen_signatures``)
until :func:`expires_at`; a second request with the same signature is ``409
replayed_signature``. The digest identifies (timestamp, path, body), whatever the header's
spelling (case, extra ``v1=`` values), so a re-spelt header is the same replay.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from typing import Final

from event_store.errors import DomainError

TIMESTAMP_HEADER: Final = "X-MailerLogic-Timestamp"
SIGNATURE_HEADER: Final = "X-MailerLogic-Signature"
TOLERANCE_S: Final = 300
PATHS: Final = {"bounce": "/api/webhooks/bounce", "complaint": "/api/webhooks/complaint"}
STATUSES: Final = {"missing_signature": 401, "invalid_signature": 401, "stale_signature": 401,
                   "replayed_signature": 409}


class SignatureRejected(DomainError):
    """An inbound report's signature was refused; ``code`` says why and sets the HTTP status."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message, code=code, status=STATUSES[code])


def signed_bytes(timestamp: str, path: str, body: bytes) -> bytes:
    """What the HMAC covers: ``<timestamp>.<path>.`` then the raw body."""
    return f"{timestamp}.{path}.".encode() + body


def sign(secret: bytes, timestamp: str, path: str, body: bytes) -> str:
    """The ``X-MailerLogic-Signature`` value for ``body`` posted to ``path`` at ``timestamp``."""
    return "v1=" + hmac.new(secret, signed_bytes(timestamp, path, body), hashlib.sha256).hexdigest()


def verify(secret: bytes, timestamp: str, path: str, body: bytes, signature: str, *, now: float,
           tolerance_s: int = TOLERANCE_S) -> str:
    """The verified hex digest, the replay key; SignatureRejected unless present, valid and fresh."""
    if not secret:
        raise ValueError("the webhook signing secret is empty")
    if not timestamp or not signature:
        raise SignatureRejected("missing_signature", f"send both {TIMESTAMP_HEADER} and {SIGNATURE_HEADER}")
    candidates = [v.strip()[3:] for v in signature.split(",") if v.strip().startswith("v1=")]
    if not re.fullmatch(r"[0-9]{1,12}", timestamp) or not candidates:
        raise SignatureRejected("invalid_signature", f"{TIMESTAMP_HEADER} must be Unix seconds and "
                                f"{SIGNATURE_HEADER} must be v1=<hex>")
    expected = sign(secret, timestamp, path, body)[3:]
    if not any(hmac.compare_digest(expected.encode(), c.lower().encode()) for c in candidates):
        raise SignatureRejected("invalid_signature", f"the signature does not match: sign "
                                f"'<timestamp>.{path}.' followed by the raw body")
    age = now - int(timestamp)
    if abs(age) > tolerance_s:
        where = f"{int(age)} s old" if age > 0 else f"{int(-age)} s in the future"
        raise SignatureRejected("stale_signature", f"the timestamp is {where}; the limit is {tolerance_s} s")
    return expected


def expires_at(timestamp: str, tolerance_s: int = TOLERANCE_S) -> int:
    """When a verified signature turns stale (Unix seconds): its replay entry may go after that."""
    return int(timestamp) + tolerance_s


def replayed() -> SignatureRejected:
    """The refusal of a signature that was already received."""
    return SignatureRejected("replayed_signature", "this signed request was already received; "
                             "sign each request afresh (a new timestamp)")

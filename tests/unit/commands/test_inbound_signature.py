"""The inbound report signature: HMAC-SHA256 over ``<timestamp>.<path>.`` + body, fresh, once."""

from __future__ import annotations

import hashlib
import hmac
from pathlib import Path

import pytest

from event_store.errors import DomainError
from security import inbound_signature as sig
from security.inbound_signature import SignatureRejected
from web.seen_signatures import KEEP_S
from web.seen_signatures import SqlSeenSignatures
from web.seen_signatures import open_seen_signatures

SECRET = b"whsec_3f9a1c2b7d"
NOW = 1_710_513_000.0
BOUNCE = "/api/webhooks/bounce"
MISMATCH = "the signature does not match: sign '<timestamp>./api/webhooks/bounce.' followed by the raw body"
MALFORMED = "X-MailerLogic-Timestamp must be Unix seconds and X-MailerLogic-Signature must be v1=<hex>"


def test_the_signing_string_is_timestamp_dot_path_dot_body() -> None:
    body = b'{"recipient": "a@b.org", "type": "hard"}'
    expected = hmac.new(SECRET, b"1710512990./api/webhooks/bounce." + body, hashlib.sha256).hexdigest()

    assert sig.signed_bytes("1710512990", BOUNCE, body) == b"1710512990./api/webhooks/bounce." + body
    assert sig.sign(SECRET, "1710512990", BOUNCE, body) == f"v1={expected}"
    assert sig.PATHS == {"bounce": "/api/webhooks/bounce", "complaint": "/api/webhooks/complaint"}


def test_a_valid_fresh_signature_gives_its_digest() -> None:
    body = b"{}"
    signature = sig.sign(SECRET, "1710512990", BOUNCE, body)

    assert sig.verify(SECRET, "1710512990", BOUNCE, body, signature, now=NOW) == signature[3:]
    rotated = f"v1=deadbeef, v1={signature[3:].upper()}"  # any v1 value may match; hex case is free
    assert sig.verify(SECRET, "1710512990", BOUNCE, body, rotated, now=NOW) == signature[3:]
    old = sig.sign(SECRET, "1710512700", BOUNCE, body)  # exactly 300 s old: still fresh
    assert sig.verify(SECRET, "1710512700", BOUNCE, body, old, now=NOW) == old[3:]


@pytest.mark.parametrize(("timestamp", "signature", "code", "message"), [
    ("", "v1=00", "missing_signature", "send both X-MailerLogic-Timestamp and X-MailerLogic-Signature"),
    ("1710512990", "", "missing_signature", "send both X-MailerLogic-Timestamp and X-MailerLogic-Signature"),
    ("1710512990", "deadbeef", "invalid_signature", MALFORMED),
    ("1710512990", "v2=deadbeef", "invalid_signature", MALFORMED),
    ("2024-03-15T14:29:50Z", "v1=00", "invalid_signature", MALFORMED),
    ("-1", "v1=00", "invalid_signature", MALFORMED),
    ("1710512990", "v1=ünïcode", "invalid_signature", MISMATCH),
])
def test_missing_and_malformed_signatures_are_401(timestamp: str, signature: str, code: str,
                                                  message: str) -> None:
    with pytest.raises(SignatureRejected) as caught:
        sig.verify(SECRET, timestamp, BOUNCE, b"{}", signature, now=NOW)
    assert (caught.value.code, caught.value.status, caught.value.message) == (code, 401, message)


@pytest.mark.parametrize(("secret", "timestamp", "path", "signed_body", "code", "message"), [
    (b"another-secret", "1710512990", BOUNCE, b"{}", "invalid_signature", MISMATCH),
    (SECRET, "1710512990", BOUNCE, b'{"a": 1}', "invalid_signature", MISMATCH),
    (SECRET, "1710512990", "/api/webhooks/complaint", b"{}", "invalid_signature", MISMATCH),
    (SECRET, "1710512990", "/api/v1/webhooks/bounce", b"{}", "invalid_signature", MISMATCH),
    (SECRET, "1710512699", BOUNCE, b"{}", "stale_signature",
     "the timestamp is 301 s old; the limit is 300 s"),
    (SECRET, "1710513301", BOUNCE, b"{}", "stale_signature",
     "the timestamp is 301 s in the future; the limit is 300 s"),
])
def test_wrong_tampered_re_aimed_stale_and_future_signatures_are_401(
        secret: bytes, timestamp: str, path: str, signed_body: bytes, code: str, message: str) -> None:
    signature = sig.sign(secret, timestamp, path, signed_body)
    with pytest.raises(SignatureRejected) as caught:
        sig.verify(SECRET, timestamp, BOUNCE, b"{}", signature, now=NOW)
    assert (caught.value.code, caught.value.status, caught.value.message) == (code, 401, message)


def test_the_old_signing_string_without_the_path_is_refused() -> None:
    old = "v1=" + hmac.new(SECRET, b"1710512990." + b"{}", hashlib.sha256).hexdigest()
    with pytest.raises(SignatureRejected) as caught:
        sig.verify(SECRET, "1710512990", BOUNCE, b"{}", old, now=NOW)
    assert (caught.value.code, caught.value.status) == ("invalid_signature", 401)


def test_an_empty_secret_is_a_configuration_error_not_an_open_door() -> None:
    with pytest.raises(ValueError, match="secret is empty"):
        sig.verify(b"", "1710512990", BOUNCE, b"{}", sig.sign(b"", "1710512990", BOUNCE, b"{}"), now=NOW)


def test_a_replay_is_a_409_domain_error_and_expires_with_the_window() -> None:
    refusal = sig.replayed()
    assert isinstance(refusal, DomainError)
    assert (refusal.code, refusal.status) == ("replayed_signature", 409)
    assert sig.expires_at("1710512990") == 1710513290


def test_a_signature_is_claimed_once_across_stores_on_one_file(tmp_path: Path) -> None:
    first, second = open_seen_signatures(None, tmp_path), open_seen_signatures(None, tmp_path)
    assert (tmp_path / "seen_signatures.sqlite").exists() is False  # opened on first use

    assert first.claim("ab" * 32, 1710513290, NOW) is True
    assert second.claim("ab" * 32, 1710513290, NOW) is False
    assert first.claim("ab" * 32, 1710513290, NOW) is False
    second.release("ab" * 32)
    assert first.claim("ab" * 32, 1710513290, NOW) is True
    first.close()
    second.close()


def test_expired_claims_are_kept_one_more_window_then_pruned(tmp_path: Path) -> None:
    store = SqlSeenSignatures(None, tmp_path / "seen.sqlite")
    assert store.claim("old", 1000, now=1000) is True
    assert store.claim("old", 1000, now=1030) is False
    assert store.claim("x", 5000, now=1100) is True  # prunes what expired before 1100 - KEEP_S
    assert store.claim("old", 1000, now=1100) is False  # expired, but another clock may lag

    assert store.claim("y", 5000, now=1000 + KEEP_S + 1) is True  # prunes "old"
    assert store.claim("old", 1000, now=1000 + KEEP_S + 1) is True  # (the verifier refuses it first)
    assert store.claim("x", 5000, now=1000 + KEEP_S + 1) is False
    store.close()

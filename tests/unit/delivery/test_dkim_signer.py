"""DKIM signing through OpenSSL, checked with dkimpy as the independent verifier (no I/O)."""

from __future__ import annotations

import base64
import email
import hashlib
import re
import time
from datetime import UTC
from datetime import datetime
from email.policy import default
from typing import TYPE_CHECKING
from uuid import UUID

import dkim
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric import ed25519
from cryptography.hazmat.primitives.asymmetric import rsa
from dkim.util import parse_tag_value

from consumers.delivery.render import OutboundMessage
from consumers.delivery.render import render
from consumers.delivery.signing import DkimError
from consumers.delivery.signing import DkimSigner
from consumers.delivery.signing import _load_key
from consumers.delivery.signing import _relaxed_field
from consumers.delivery.signing import headers_to_sign
from tests.support.delivery import DkimKey
from tests.support.delivery import PlainTracking
from tests.support.delivery import generate_dkim_key

if TYPE_CHECKING:
    from collections.abc import Callable

DOMAIN, SELECTOR = "acme.test", "ml2026"
T = 1_773_585_005
HEAD = (b"From: Ann <ann@acme.test>\r\nTo: bob@example.test\r\nSubject: Hello\r\n"
        b"Date: Sun, 15 Mar 2026 14:30:05 +0000\r\nMessage-ID: <m1@acme.test>\r\n")
H_OF_HEAD = [b"from", b"to", b"subject", b"date", b"message-id",
             b"from", b"subject", b"date", b"message-id"]
EDGES = {
    "folded headers": HEAD.replace(b"Hello\r\n", b"Hello\r\n\tfolded, a tab\r\n  and two spaces\r\n")
                      + b"\r\nHi\r\n",
    "trailing whitespace": HEAD.replace(b"Hello\r\n", b"Hello \t \r\n") + b"\r\nHi  \r\nthere\t\r\n",
    "whitespace runs": HEAD.replace(b"To: ", b"To: \t  ") + b"\r\na  \t  b\r\n \t c\r\n",
    "empty body": HEAD + b"\r\n",
    "only blank lines": HEAD + b"\r\n\r\n\r\n \r\n\t\r\n",
    "no trailing CRLF": HEAD + b"\r\nHi\r\nthere",
    "lines over 998 octets": HEAD + b"X-Long: " + b"y" * 1200 + b"\r\n\r\n" + b"x" * 2000 + b"\r\n",
    "raw UTF-8 subject": HEAD.replace(b"Hello", "Héllo wörld ✓".encode()) + b"\r\nHi\r\n",
    "encoded-word subject": HEAD.replace(b"Hello", b"=?utf-8?q?H=C3=A9llo_w=C3=B6rld?=") + b"\r\nHi\r\n",
    "mixed-case names": HEAD.replace(b"From:", b"FROM:").replace(b"Subject:", b"sUbJeCt:")
                        .replace(b"Message-ID:", b"message-Id:") + b"\r\nHi\r\n",
    "LF line ends": (HEAD + b"\r\nHi\r\nthere\r\n").replace(b"\r\n", b"\n"),
}


@pytest.fixture(scope="module")
def key() -> DkimKey:
    """One RSA 2048 key (PKCS#8) for the module."""
    return generate_dkim_key()


def sign(key: DkimKey, message: bytes, timestamp: int | None = T) -> bytes:
    """``message`` signed for acme.test with ``key``."""
    return DkimSigner(DOMAIN, SELECTOR, key.private_pem).sign(message, timestamp=timestamp)


def verifies(key: DkimKey, data: bytes) -> bool:
    """dkimpy's verdict, with ``key`` published at ml2026._domainkey.acme.test."""
    return bool(dkim.verify(data, dnsfunc=key.dnsfunc(SELECTOR, DOMAIN)))


def signature_header(signed: bytes, message: bytes) -> bytes:
    """The prepended ``DKIM-Signature`` field with its final CRLF."""
    assert signed.endswith(message)
    return signed[:len(signed) - len(message)]


def tags(header: bytes) -> dict[bytes, bytes]:
    """The tags of a ``DKIM-Signature`` field, with all folding whitespace removed."""
    values = parse_tag_value(header.split(b":", 1)[1])
    return {name: re.sub(rb"\s+", b"", value) for name, value in values.items()}


def b64_sha256(data: bytes) -> bytes:
    """The ``bh=`` value of an already canonical body."""
    return base64.b64encode(hashlib.sha256(data).digest())


def pem_of(key: DkimKey, form: serialization.PrivateFormat,
           password: bytes | None = None) -> bytes:
    """The same private key in another PEM form, encrypted if a password is given."""
    private = serialization.load_pem_private_key(key.private_pem, password=None)
    encryption = (serialization.NoEncryption() if password is None
                  else serialization.BestAvailableEncryption(password))
    return private.private_bytes(serialization.Encoding.PEM, form, encryption)


@pytest.mark.parametrize("message", EDGES.values(), ids=EDGES.keys())
def test_dkimpy_verifies_each_canonicalization_edge(key: DkimKey, message: bytes) -> None:
    assert verifies(key, sign(key, message)) is True


@pytest.mark.parametrize("message", EDGES.values(), ids=EDGES.keys())
def test_the_signature_is_dkimpys_byte_for_byte(key: DkimKey, message: bytes,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(time, "time", lambda: float(T))  # dkimpy's t= is time.time()
    theirs = dkim.sign(message, SELECTOR.encode(), DOMAIN.encode(), key.private_pem,
                       canonicalize=(b"relaxed", b"relaxed"), include_headers=headers_to_sign(message))

    ours = signature_header(sign(key, message), message)

    assert tags(ours) == tags(theirs)  # so b= and bh= too: RSA PKCS#1 v1.5 is deterministic
    assert re.sub(rb"\s+", b"", ours) == re.sub(rb"\s+", b"", theirs)


@pytest.mark.parametrize(("body", "canonical"), [
    (b"", b""),
    (b"\r\n\r\n \r\n\t\r\n", b""),
    (b"Hi", b"Hi\r\n"),
    (b"Hi  ", b"Hi\r\n"),
    (b"a  \t b \t\r\nc\r\n\r\n", b"a b\r\nc\r\n"),
    (b" C \r\nD \t E\r\n\r\n\r\n", b" C\r\nD E\r\n"),  # RFC 6376 §3.4.5
    (b"x\r\n\r\ny\r\n", b"x\r\n\r\ny\r\n"),
    (b"x\n\ny  \n\n", b"x\r\n\r\ny\r\n"),
], ids=["empty", "blank lines", "no CRLF", "no CRLF, WSP", "runs", "rfc example", "inner blank", "LF"])
def test_bh_is_the_hash_of_the_relaxed_body(key: DkimKey, body: bytes, canonical: bytes) -> None:
    message = HEAD + b"\r\n" + body

    assert tags(signature_header(sign(key, message), message))[b"bh"] == b64_sha256(canonical)


def test_an_empty_body_hashes_as_the_empty_string(key: DkimKey) -> None:
    message = HEAD + b"\r\n"

    assert tags(signature_header(sign(key, message), message))[b"bh"] == (
        b"47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=")


def test_relaxed_header_canonicalization_is_the_rfc_example() -> None:
    assert _relaxed_field(b"A: X ") == b"a:X\r\n"
    assert _relaxed_field(b"B : Y\t\r\n\tZ  ") == b"b:Y Z\r\n"


def test_trailing_wsp_on_an_unterminated_last_line_verifies_once_smtp_ends_it(key: DkimKey) -> None:
    signed = sign(key, HEAD + b"\r\nHi  ")

    assert verifies(key, signed + b"\r\n") is True  # what the relay receives after DATA
    assert verifies(key, signed) is False  # unterminated, dkimpy hashes "Hi \r\n", not the RFC's "Hi\r\n"


@pytest.mark.parametrize(("extra", "verdict"), [
    (b"From: Mallory <m@evil.test>\r\n", False),
    (b"Subject: Act now\r\n", False),
    (b"To: eve@example.test\r\n", True),  # signed once only: a copy above the original passes
    (b"X-Relay: added in transit\r\n", True),
], ids=["from", "subject", "to (not oversigned)", "unsigned"])
def test_a_header_added_after_signing_breaks_only_oversigned_fields(key: DkimKey, extra: bytes,
                                                                    verdict: bool) -> None:
    signed = sign(key, HEAD + b"\r\nHi\r\n")
    header = signature_header(signed, HEAD + b"\r\nHi\r\n")

    assert verifies(key, header + extra + signed[len(header):]) is verdict


def test_h_lists_the_signed_fields_per_occurrence_then_the_oversigned(key: DkimKey) -> None:
    message = b"From: a@acme.test\r\nTO: b@x.test\r\nto: c@x.test\r\nSubject: s\r\nX-Other: y\r\n\r\nHi\r\n"

    assert headers_to_sign(message) == [b"from", b"to", b"to", b"subject", b"from", b"subject"]
    assert tags(signature_header(sign(key, message), message))[b"h"] == b"from:to:to:subject:from:subject"
    assert verifies(key, sign(key, message)) is True


def test_the_header_has_dkimpys_tags_folded_under_79_columns(key: DkimKey) -> None:
    message = HEAD + b"\r\nHi\r\n"
    lines = signature_header(sign(key, message), message).split(b"\r\n")

    assert lines[0] == b"DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed; d=acme.test;"
    assert lines[-1] == b""
    assert [len(line) <= 78 for line in lines] == [True] * len(lines)
    assert [line[:3] for line in lines[1:-1] if line.startswith(b" b=")] == [b" b="]
    assert list(tags(b"".join(lines))) == [b"v", b"a", b"c", b"d", b"i", b"q", b"s", b"t", b"h", b"bh",
                                          b"b"]
    assert tags(b"".join(lines))[b"t"] == str(T).encode()
    assert tags(b"".join(lines))[b"h"] == b":".join(H_OF_HEAD)


def test_t_is_the_current_unix_time_by_default(key: DkimKey) -> None:
    message = HEAD + b"\r\nHi\r\n"
    before = int(time.time())
    t = int(tags(signature_header(sign(key, message, timestamp=None), message))[b"t"])

    assert before <= t <= int(time.time())


def test_lf_and_crlf_messages_get_the_same_signature(key: DkimKey) -> None:
    crlf = HEAD + b"\r\nHi\r\nthere\r\n"
    lf = crlf.replace(b"\r\n", b"\n")

    assert signature_header(sign(key, lf), lf) == signature_header(sign(key, crlf), crlf)


def test_the_worker_rendered_multipart_message_verifies(key: DkimKey) -> None:
    message = OutboundMessage(
        message_id=UUID("6c1b8f7e-1f0e-4a0e-9d8b-1234567890ab"), from_address="Acme News <news@acme.test>",
        to=("ann@example.test",), subject="Héllo wörld, a subject long enough to be folded by the policy",
        domain=DOMAIN, queued_at=datetime(2026, 3, 15, 14, 30, 5, tzinfo=UTC),
        html='<html><body><p>Hi <a href="https://acme.test/sale?a=1&b=2">sale</a></p></body></html>',
        text="Hi, see https://acme.test/sale", track_opens=True, track_clicks=True,
        unsubscribe_mailto="unsubscribe@acme.test",
    )
    data = render(message, PlainTracking(), dkim=DkimSigner(DOMAIN, SELECTOR, key.private_pem))

    assert email.message_from_bytes(data, policy=default).get_content_type() == "multipart/alternative"
    assert tags(data.split(b"\r\nFrom: ")[0])[b"h"] == (
        b"from:to:subject:date:message-id:list-unsubscribe:list-unsubscribe-post:mime-version:"
        b"content-type:from:subject:date:message-id:list-unsubscribe")
    assert verifies(key, data) is True


@pytest.mark.parametrize("form", [serialization.PrivateFormat.TraditionalOpenSSL,
                                  serialization.PrivateFormat.PKCS8], ids=["PKCS#1", "PKCS#8"])
def test_pkcs1_and_pkcs8_keys_both_sign(key: DkimKey, form: serialization.PrivateFormat) -> None:
    pem = pem_of(key, form)
    signed = DkimSigner(DOMAIN, SELECTOR, pem).sign(HEAD + b"\r\nHi\r\n", timestamp=T)

    assert pem.split(b"\n")[0] == {serialization.PrivateFormat.TraditionalOpenSSL:
                                   b"-----BEGIN RSA PRIVATE KEY-----",
                                   serialization.PrivateFormat.PKCS8: b"-----BEGIN PRIVATE KEY-----"}[form]
    assert verifies(key, signed) is True


def _small_rsa_pem() -> bytes:
    p, q, e = 2**255 - 19, 2**256 - 189, 65537  # two known primes: a 511-bit modulus
    d = pow(e, -1, (p - 1) * (q - 1))
    numbers = rsa.RSAPrivateNumbers(p, q, d, rsa.rsa_crt_dmp1(d, p), rsa.rsa_crt_dmq1(d, q),
                                    rsa.rsa_crt_iqmp(p, q), rsa.RSAPublicNumbers(e, p * q))
    return numbers.private_key().private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                               serialization.NoEncryption())


def _pkcs8(private: ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey) -> bytes:
    return private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                 serialization.NoEncryption())


NOT_A_PEM = "the DKIM private key is not an unencrypted PKCS#1 or PKCS#8 PEM"


@pytest.mark.parametrize(("make_pem", "error"), [
    (lambda key: b"not a key", NOT_A_PEM),
    (lambda key: b"-----BEGIN RSA PRIVATE KEY-----\nAAAA\n-----END RSA PRIVATE KEY-----\n", NOT_A_PEM),
    (lambda key: pem_of(key, serialization.PrivateFormat.PKCS8, b"secret"), NOT_A_PEM),
    (lambda key: _pkcs8(ec.generate_private_key(ec.SECP256R1())), "the DKIM private key is not an RSA key"),
    (lambda key: _pkcs8(ed25519.Ed25519PrivateKey.generate()), "the DKIM private key is not an RSA key"),
    (lambda key: _small_rsa_pem(), "the DKIM key has 511 bits; RFC 8301 wants at least 1024"),
], ids=["garbage", "bad DER", "encrypted", "EC", "Ed25519", "511-bit RSA"])
def test_an_unusable_key_raises_dkim_error(key: DkimKey, make_pem: Callable[[DkimKey], bytes],
                                           error: str) -> None:
    signer = DkimSigner(DOMAIN, SELECTOR, make_pem(key))

    with pytest.raises(DkimError) as raised:
        signer.sign(HEAD + b"\r\nHi\r\n")

    assert (str(raised.value), isinstance(raised.value, ValueError)) == (error, True)


@pytest.mark.parametrize(("domain", "message", "error"), [
    (DOMAIN, b"To: b@x.test\r\nDate: x\r\n\r\nHi\r\n",
     "the message has no From header field, which DKIM must sign"),
    ("bücher.test", HEAD + b"\r\nHi\r\n",
     "DKIM needs an A-label domain and selector: 'bücher.test', 'ml2026'"),
    (DOMAIN, HEAD + b"no colon here\r\n\r\nHi\r\n", "malformed header field b'no colon here'"),
], ids=["no From", "U-label domain", "malformed field"])
def test_a_message_dkim_cannot_cover_raises_dkim_error(key: DkimKey, domain: str, message: bytes,
                                                       error: str) -> None:
    with pytest.raises(DkimError) as raised:
        DkimSigner(domain, SELECTOR, key.private_pem).sign(message)

    assert str(raised.value) == error


def test_the_key_is_parsed_once_per_pem(key: DkimKey) -> None:
    _load_key.cache_clear()
    pem = pem_of(key, serialization.PrivateFormat.TraditionalOpenSSL)
    first, second = DkimSigner(DOMAIN, SELECTOR, pem), DkimSigner(DOMAIN, SELECTOR, bytes(bytearray(pem)))

    assert first.sign(HEAD + b"\r\nHi\r\n", timestamp=T) == second.sign(HEAD + b"\r\nHi\r\n", timestamp=T)
    assert (_load_key.cache_info().misses, _load_key.cache_info().hits) == (1, 1)

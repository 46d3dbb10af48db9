from __future__ import annotations

import base64
import re
from datetime import UTC
from datetime import datetime

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from security import dkim_keys
from security.dkim_keys import KeyPair
from security.dkim_keys import SealError

SECRET = b"test secret key of the installation"


@pytest.fixture(scope="module")
def pair() -> KeyPair:
    return dkim_keys.generate()


def test_private_key_is_rsa_2048_in_pkcs1_pem(pair: KeyPair) -> None:
    assert pair.private_key_pem.startswith("-----BEGIN RSA PRIVATE KEY-----\n")
    key = serialization.load_pem_private_key(pair.private_key_pem.encode(), password=None)
    assert isinstance(key, rsa.RSAPrivateKey) and key.key_size == 2048


def test_public_key_is_base64_der_spki_of_the_private_key(pair: KeyPair) -> None:
    assert re.fullmatch(r"[A-Za-z0-9+/]+={0,2}", pair.public_key_b64)
    public = serialization.load_der_public_key(base64.b64decode(pair.public_key_b64))
    private = serialization.load_pem_private_key(pair.private_key_pem.encode(), password=None)
    assert isinstance(public, rsa.RSAPublicKey)
    assert public.public_numbers() == private.public_key().public_numbers()
    assert dkim_keys.public_key_b64(pair.private_key_pem) == pair.public_key_b64


def test_each_domain_gets_its_own_key(pair: KeyPair) -> None:
    assert dkim_keys.generate().public_key_b64 != pair.public_key_b64


def test_selector_names_the_month_and_rotation() -> None:
    made = datetime(2026, 11, 3, 23, 59, tzinfo=UTC)
    assert dkim_keys.selector_for(made) == "ml202611"
    assert dkim_keys.selector_for(made, serial=2) == "ml202611n2"


def test_sealed_private_key_round_trips(pair: KeyPair) -> None:
    token = dkim_keys.seal(SECRET, pair.private_key_pem.encode())
    assert token.startswith("v1:") and "PRIVATE KEY" not in token
    assert dkim_keys.unseal(SECRET, token).decode() == pair.private_key_pem


def test_every_seal_uses_a_fresh_nonce() -> None:
    assert dkim_keys.seal(SECRET, b"same") != dkim_keys.seal(SECRET, b"same")


def _flip(token: str, index: int) -> str:
    raw = bytearray(base64.urlsafe_b64decode(token.removeprefix("v1:")))
    raw[index] ^= 0x01
    return "v1:" + base64.urlsafe_b64encode(bytes(raw)).decode()


@pytest.mark.parametrize("index", [0, 11, 12, -1])  # nonce, first ciphertext byte, tag
def test_a_flipped_bit_anywhere_is_refused(index: int) -> None:
    token = dkim_keys.seal(SECRET, b"private key")
    with pytest.raises(SealError, match="failed authentication"):
        dkim_keys.unseal(SECRET, _flip(token, index))


def test_another_secret_or_context_is_refused() -> None:
    token = dkim_keys.seal(SECRET, b"private key", associated_data=b"domain-1")
    with pytest.raises(SealError, match="wrong secret key or altered data"):
        dkim_keys.unseal(b"another secret", token, associated_data=b"domain-1")
    with pytest.raises(SealError, match="wrong secret key or altered data"):
        dkim_keys.unseal(SECRET, token, associated_data=b"domain-2")
    assert dkim_keys.unseal(SECRET, token, associated_data=b"domain-1") == b"private key"


@pytest.mark.parametrize(("token", "message"), [
    ("v2:AAAA", "unknown format"),
    ("AAAA", "unknown format"),
    ("v1:AAAA", "truncated"),
    ("v1:A", "not valid base64"),
    ("v1:ü", "not valid base64"),
])
def test_malformed_tokens_are_refused(token: str, message: str) -> None:
    with pytest.raises(SealError, match=message):
        dkim_keys.unseal(SECRET, token)


def test_truncated_ciphertext_is_refused() -> None:
    token = dkim_keys.seal(SECRET, b"private key")
    with pytest.raises(SealError):
        dkim_keys.unseal(SECRET, token[:-8])


def test_an_empty_secret_key_is_refused() -> None:
    with pytest.raises(ValueError, match="MAILERLOGIC_SECRET_KEY is empty"):
        dkim_keys.seal(b"", b"x")

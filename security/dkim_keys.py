"""DKIM key pairs per sending domain, and how their private keys are kept at rest.

The private key is stored only sealed: AES-256-GCM under a key derived from
``MAILERLOGIC_SECRET_KEY`` with HKDF-SHA256, a random 96-bit nonce per seal, and a version
prefix (``v1:``) so the scheme can change later. Anything altered, truncated or sealed
under another secret (or other associated data) fails to unseal with ``SealError``.
"""

from __future__ import annotations

import base64
import binascii
import os
from dataclasses import dataclass
from datetime import datetime

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

KEY_BITS = 2048
VERSION = "v1:"
_INFO = b"mailerlogic dkim"
_NONCE_BYTES = 12


class SealError(ValueError):
    """A sealed value that cannot be opened: wrong secret, altered or not ours."""


@dataclass(frozen=True)
class KeyPair:
    """A DKIM key pair: the private key as PEM, the public key as the TXT record's ``p=``."""

    private_key_pem: str
    public_key_b64: str


def generate() -> KeyPair:
    """A fresh RSA-2048 key pair for one domain."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=KEY_BITS)
    # PKCS#1 ("BEGIN RSA PRIVATE KEY") is the form every DKIM signer accepts.
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                            serialization.NoEncryption()).decode("ascii")
    return KeyPair(pem, public_key_b64(pem))


def public_key_b64(private_key_pem: str) -> str:
    """The public half of a PEM private key: base64 DER SubjectPublicKeyInfo, as DKIM's ``p=``."""
    key = serialization.load_pem_private_key(private_key_pem.encode("ascii"), password=None)
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ValueError("a DKIM key here is always RSA")
    der = key.public_key().public_bytes(serialization.Encoding.DER,
                                        serialization.PublicFormat.SubjectPublicKeyInfo)
    return base64.b64encode(der).decode("ascii")


def selector_for(created_at: datetime, serial: int = 0) -> str:
    """The DKIM selector of a key made at ``created_at``: ``ml202611``, then ``ml202611n2``... if rotated."""
    base = f"ml{created_at:%Y%m}"
    return f"{base}n{serial}" if serial > 0 else base


def seal(secret_key: bytes, plaintext: bytes, *, associated_data: bytes = b"") -> str:
    """``plaintext`` encrypted and authenticated for storage: ``v1:`` + base64url(nonce + ciphertext)."""
    nonce = os.urandom(_NONCE_BYTES)
    sealed = AESGCM(_derive(secret_key)).encrypt(nonce, plaintext, associated_data)
    return VERSION + base64.urlsafe_b64encode(nonce + sealed).decode("ascii")


def unseal(secret_key: bytes, token: str, *, associated_data: bytes = b"") -> bytes:
    """The plaintext of a ``seal`` token; SealError if it is not authentic."""
    if not token.startswith(VERSION):
        raise SealError("sealed value has an unknown format (expected the v1: prefix)")
    try:
        raw = base64.urlsafe_b64decode(token.removeprefix(VERSION).encode("ascii"))
    except (binascii.Error, UnicodeEncodeError):
        raise SealError("sealed value is not valid base64") from None
    nonce, sealed = raw[:_NONCE_BYTES], raw[_NONCE_BYTES:]
    if len(nonce) < _NONCE_BYTES:
        raise SealError("sealed value is truncated")
    try:
        return AESGCM(_derive(secret_key)).decrypt(nonce, sealed, associated_data)
    except InvalidTag:
        raise SealError("sealed value failed authentication: wrong secret key or altered data") from None


def _derive(secret_key: bytes) -> bytes:
    if not secret_key:
        raise ValueError("MAILERLOGIC_SECRET_KEY is empty")
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_INFO).derive(secret_key)

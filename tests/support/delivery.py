"""Test collaborators of the delivery modules: tracking links, DKIM keys, TLS certificates."""

from __future__ import annotations

import base64
import ipaddress
import ssl
from dataclasses import dataclass
from datetime import UTC
from datetime import datetime
from datetime import timedelta
from typing import TYPE_CHECKING
from urllib.parse import quote

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path
    from uuid import UUID

BASE = "https://t.example.test"


@dataclass(frozen=True)
class PlainTracking:
    """Readable, unsigned tracking URLs, so tests can state exact expected values."""

    base: str = BASE

    def open_url(self, message_id: UUID) -> str:
        """The pixel URL."""
        return f"{self.base}/track/o/{message_id}"

    def click_url(self, message_id: UUID, url: str) -> str:
        """The click URL carrying the original URL, percent-encoded."""
        return f"{self.base}/track/c/{message_id}?url={quote(url, safe='')}"

    def unsubscribe_url(self, message_id: UUID) -> str:
        """The one-click unsubscribe URL."""
        return f"{self.base}/track/u/{message_id}"


@dataclass(frozen=True)
class DkimKey:
    """An RSA key pair and the DNS TXT record that publishes its public half."""

    private_pem: bytes
    public_b64: str

    @property
    def txt_record(self) -> bytes:
        """The ``selector._domainkey.domain`` TXT value."""
        return f"v=DKIM1; k=rsa; p={self.public_b64}".encode("ascii")

    def dnsfunc(self, selector: str, domain: str) -> Callable[..., bytes]:
        """A ``dkim.verify`` DNS function that knows only this key's record."""
        wanted = f"{selector}._domainkey.{domain}".encode("ascii")

        def lookup(name: bytes, timeout: int = 5) -> bytes:
            return self.txt_record if name.rstrip(b".") == wanted else b""

        return lookup


def generate_dkim_key(*, pkcs1: bool = False) -> DkimKey:
    """A fresh RSA 2048 key as PKCS#8 (or PKCS#1) PEM and its SubjectPublicKeyInfo in base64."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    form = serialization.PrivateFormat.TraditionalOpenSSL if pkcs1 else serialization.PrivateFormat.PKCS8
    private = key.private_bytes(serialization.Encoding.PEM, form, serialization.NoEncryption())
    public = key.public_key().public_bytes(serialization.Encoding.DER,
                                           serialization.PublicFormat.SubjectPublicKeyInfo)
    return DkimKey(private, base64.b64encode(public).decode("ascii"))


def tls_contexts(directory: Path, host: str = "127.0.0.1") -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """A server context with a self-signed certificate for ``host``, and a client trusting it."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)])
    now = datetime.now(UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(minutes=5)).not_valid_after(now + timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(host))]),
                           critical=False)
            .sign(key, hashes.SHA256()))
    cert_file, key_file = directory / "relay.crt", directory / "relay.key"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.TraditionalOpenSSL,
                                           serialization.NoEncryption()))
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.load_cert_chain(cert_file, key_file)
    client = ssl.create_default_context(cafile=str(cert_file))
    return server, client

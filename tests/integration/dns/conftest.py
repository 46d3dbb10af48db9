"""Domain verification against a real authoritative DNS server on loopback (dnslib)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from security import dkim_keys
from security.dkim_keys import KeyPair
from tests.support.dns_server import DnsServer


@pytest.fixture
def dns_server() -> Iterator[DnsServer]:
    """A fresh DNS server on 127.0.0.1 with an empty zone that the test fills."""
    with DnsServer() as server:
        yield server


@pytest.fixture(scope="session")
def dkim_key() -> KeyPair:
    """One real DKIM key pair for the session (RSA generation is slow-ish)."""
    return dkim_keys.generate()

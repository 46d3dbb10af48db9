"""Fixtures of the delivery integration tests: a real SMTP server on loopback, keys, TLS."""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.delivery import DkimKey
from tests.support.delivery import generate_dkim_key
from tests.support.delivery import tls_contexts
from tests.support.smtp_server import SmtpServer
from tests.support.smtp_server import start_smtp_server


@pytest.fixture
def smtp_server() -> Iterator[SmtpServer]:
    """A plain SMTP relay on a free loopback port; accepts, defers or rejects by local part."""
    server = start_smtp_server()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def tls(tmp_path_factory: pytest.TempPathFactory) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """A self-signed certificate for 127.0.0.1: (server context, client context trusting it)."""
    directory: Path = tmp_path_factory.mktemp("tls")
    return tls_contexts(directory)


@pytest.fixture(scope="session")
def dkim_key() -> DkimKey:
    """One RSA 2048 DKIM key for the session."""
    return generate_dkim_key()

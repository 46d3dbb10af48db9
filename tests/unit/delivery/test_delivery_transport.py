"""Pure parts of the transports: the relay URL and the classification of reply codes."""

from __future__ import annotations

import pytest

from consumers.delivery.transport import SmtpTransport
from consumers.delivery.transport import classify


@pytest.mark.parametrize(("url", "expected"), [
    ("smtp://127.0.0.1:2525", ("127.0.0.1", 2525, None, None, False)),
    ("smtp://relay.example.test", ("relay.example.test", 25, None, None, False)),
    ("smtps://relay.example.test", ("relay.example.test", 465, None, None, True)),
    ("smtp://ann:s%40cret%3A@relay.example.test:587", ("relay.example.test", 587, "ann", "s@cret:", False)),
    ("smtp://ann@relay.example.test:587", ("relay.example.test", 587, "ann", None, False)),
])
def test_relay_url_is_parsed(url: str, expected: tuple[object, ...]) -> None:
    relay = SmtpTransport.from_url(url)

    assert (relay.host, relay.port, relay.username, relay.password, relay.implicit_tls) == expected


def test_password_is_not_in_the_repr() -> None:
    assert "s3cret" not in repr(SmtpTransport.from_url("smtp://ann:s3cret@relay.example.test"))


@pytest.mark.parametrize("url", ["http://relay.example.test", "smtp://", "relay.example.test:25"])
def test_other_urls_are_refused(url: str) -> None:
    with pytest.raises(ValueError, match="smtp://"):
        SmtpTransport.from_url(url)


@pytest.mark.parametrize(("code", "status"), [
    (250, "sent"), (251, "sent"), (421, "deferred"), (451, "deferred"), (550, "bounced"),
    (554, "bounced"), (0, "deferred"), (-1, "deferred"), (354, "deferred"),
])
def test_reply_codes_are_classified(code: int, status: str) -> None:
    assert classify(code) == status


@pytest.mark.parametrize(("sender", "recipients"), [
    ("news@acme.test", []), ("news@acme.test", ["jürgen@example.test"]), ("nëws@acme.test", ["a@b.test"]),
], ids=["no-recipients", "non-ascii-recipient", "non-ascii-sender"])
def test_addresses_no_relay_could_take_are_refused_before_connecting(
        sender: str, recipients: list[str]) -> None:
    transport = SmtpTransport("192.0.2.1", 25, timeout_s=0.01)  # TEST-NET: never contacted

    with pytest.raises(ValueError, match="ASCII addresses"):
        transport.deliver(sender, recipients, b"Subject: x\r\n\r\nx\r\n")

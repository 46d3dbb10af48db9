"""The SMTP transport against a real SMTP server on loopback."""

from __future__ import annotations

import email
import socket
import ssl
from dataclasses import replace
from datetime import UTC
from datetime import datetime
from datetime import timedelta
from email.message import EmailMessage
from email.policy import default
from uuid import UUID

import dkim
import pytest
from dns.resolver import Resolver

from consumers.delivery.render import DkimSigner
from consumers.delivery.render import OutboundMessage
from consumers.delivery.render import render
from consumers.delivery.retry import RetryPolicy
from consumers.delivery.transport import Outcome
from consumers.delivery.transport import SmtpTransport
from tests.support.delivery import DkimKey
from tests.support.delivery import PlainTracking
from tests.support.dns_server import DnsServer
from tests.support.smtp_server import HOST
from tests.support.smtp_server import SmtpServer
from tests.support.smtp_server import free_port
from tests.support.smtp_server import start_smtp_server

pytestmark = pytest.mark.smtp

MESSAGE_ID = UUID("0f6a3d2e-5b7c-4e1a-9c3d-2b1a0f9e8d7c")
NOW = datetime(2026, 3, 15, 14, 30, tzinfo=UTC)
SENDER = "news@acme.test"
SALE = "https://acme.test/sale?a=1&b=2"


def message(to: str = "ann@example.test") -> OutboundMessage:
    """A tracked message with one link in each part."""
    return OutboundMessage(
        message_id=MESSAGE_ID, from_address=f"Acme <{SENDER}>", to=(to,), subject="Spring sale",
        domain="acme.test", queued_at=NOW,
        html=f'<body><a href="{SALE.replace("&", "&amp;")}">Sale</a></body>',
        text=f"Sale: {SALE}", track_opens=True, track_clicks=True,
    )


def relay(server: SmtpServer, **changes: object) -> SmtpTransport:
    """The transport of ``SMTP_RELAY_URL``, with a short timeout and a fixed EHLO name."""
    transport = SmtpTransport.from_url(server.url, timeout_s=5, local_hostname="worker.test")
    return replace(transport, **changes)  # type: ignore[arg-type]


def deliver(transport: SmtpTransport, data: bytes, *recipients: str) -> Outcome:
    """Deliver ``data`` from :data:`SENDER`."""
    return transport.deliver(SENDER, list(recipients), data)


def parsed(data: bytes) -> EmailMessage:
    """Received bytes as an EmailMessage."""
    result = email.message_from_bytes(data, policy=default)
    assert isinstance(result, EmailMessage)
    return result


def test_accepted_message_is_sent_and_arrives_intact(smtp_server: SmtpServer,
                                                     dkim_key: DkimKey) -> None:
    signer = DkimSigner("acme.test", "ml2026", dkim_key.private_pem)
    data = render(message(), PlainTracking(), dkim=signer)

    outcome = deliver(relay(smtp_server), data, "ann@example.test", "bea@example.test")

    assert outcome == Outcome("sent", 250, "250 2.0.0 Ok: queued as Q1")
    [received] = smtp_server.received
    assert (received.mail_from, received.rcpt_tos) == (SENDER, ("ann@example.test", "bea@example.test"))
    assert received.data == data
    assert dkim.verify(received.data, dnsfunc=dkim_key.dnsfunc("ml2026", "acme.test")) is True


def test_received_signature_verifies_with_the_key_served_by_a_real_dns_server(
        smtp_server: SmtpServer, dkim_key: DkimKey) -> None:
    signer = DkimSigner("acme.test", "ml2026", dkim_key.private_pem)
    deliver(relay(smtp_server), render(message(), PlainTracking(), dkim=signer), "ann@example.test")
    zone = {"ml2026._domainkey.acme.test": [("TXT", dkim_key.txt_record.decode())]}

    with DnsServer(zone) as dns:
        resolver = Resolver(configure=False)
        resolver.nameservers, resolver.port = [dns.host], dns.port

        def lookup(name: bytes, timeout: int = 5) -> bytes:
            answer = resolver.resolve(name.decode(), "TXT", lifetime=timeout)
            return b"".join(b"".join(record.strings) for record in answer)

        assert dkim.verify(smtp_server.received[0].data, dnsfunc=lookup) is True
        assert {query[0].rstrip(".") for query in dns.queries} == {"ml2026._domainkey.acme.test"}


def test_received_links_lead_through_the_click_tracker(smtp_server: SmtpServer) -> None:
    deliver(relay(smtp_server), render(message(), PlainTracking(), dkim=None), "ann@example.test")

    mail = parsed(smtp_server.received[0].data)
    html, text = mail.get_body(("html",)), mail.get_body(("plain",))
    assert html is not None and text is not None
    tracked = f"https://t.example.test/track/c/{MESSAGE_ID}?url=https%3A%2F%2Facme.test%2Fsale%3Fa%3D1%26b%3D2"
    assert f'<a href="{tracked}">Sale</a>' in html.get_content()
    assert f'<img src="https://t.example.test/track/o/{MESSAGE_ID}"' in html.get_content()
    assert text.get_content().strip() == f"Sale: {tracked}"
    assert mail["List-Unsubscribe"] == f"<https://t.example.test/track/u/{MESSAGE_ID}>"
    assert mail["Message-ID"] == f"<{MESSAGE_ID}@acme.test>"


def test_temporary_refusal_is_deferred(smtp_server: SmtpServer) -> None:
    outcome = deliver(relay(smtp_server), b"Subject: x\r\n\r\nx\r\n", "defer-ann@example.test")

    assert (outcome.status, outcome.code) == ("deferred", 451)
    assert outcome.detail == "RCPT TO: defer-ann@example.test: 451 4.2.0 Mailbox busy, try again later"
    assert smtp_server.received == []


def test_permanent_refusal_is_a_hard_bounce(smtp_server: SmtpServer) -> None:
    outcome = deliver(relay(smtp_server), b"Subject: x\r\n\r\nx\r\n", "reject-ann@example.test")

    assert outcome == Outcome("bounced", 550, "RCPT TO: reject-ann@example.test: 550 5.1.1 No such user",
                              refused=(("reject-ann@example.test", 550, "5.1.1 No such user"),))


def test_any_temporary_refusal_defers_when_nobody_accepted(smtp_server: SmtpServer) -> None:
    outcome = deliver(relay(smtp_server), b"Subject: x\r\n\r\nx\r\n",
                      "reject-ann@example.test", "defer-bea@example.test")

    assert (outcome.status, outcome.code) == ("deferred", 451)
    assert [(rcpt, code) for rcpt, code, _ in outcome.refused] == [
        ("reject-ann@example.test", 550), ("defer-bea@example.test", 451)]


def test_partly_refused_message_is_sent_and_lists_the_refused(smtp_server: SmtpServer) -> None:
    outcome = deliver(relay(smtp_server), b"Subject: x\r\n\r\nx\r\n",
                      "reject-ann@example.test", "bea@example.test")

    assert outcome == Outcome("sent", 250, "250 2.0.0 Ok: queued as Q1",
                              refused=(("reject-ann@example.test", 550, "5.1.1 No such user"),))
    assert smtp_server.received[0].rcpt_tos == ("bea@example.test",)


def test_retries_follow_the_schedule_until_the_relay_recovers(smtp_server: SmtpServer) -> None:
    policy = RetryPolicy(first_delay=timedelta(seconds=1), max_delay=timedelta(seconds=4),
                         budget=timedelta(seconds=20))
    smtp_server.fail_next(3)
    data = render(message(), PlainTracking(), dkim=None)
    attempts: list[tuple[datetime, str, int]] = []
    at: datetime | None = NOW
    while at is not None:
        outcome = deliver(relay(smtp_server), data, "ann@example.test")
        attempts.append((at, outcome.status, outcome.code))
        at = None if outcome.status != "deferred" else policy.next_attempt(len(attempts), at)

    assert attempts == [
        (NOW, "deferred", 451), (NOW + timedelta(seconds=1), "deferred", 451),
        (NOW + timedelta(seconds=3), "deferred", 451), (NOW + timedelta(seconds=7), "sent", 250),
    ]
    assert len(smtp_server.received) == 1
    assert smtp_server.handler.transactions == 4


def test_retry_budget_runs_out_against_a_relay_that_keeps_deferring(smtp_server: SmtpServer) -> None:
    policy = RetryPolicy(first_delay=timedelta(seconds=1), max_delay=timedelta(seconds=4),
                         budget=timedelta(seconds=10))
    smtp_server.fail_next(100)
    attempts = 0
    at: datetime | None = NOW
    while at is not None:
        attempts += 1
        assert deliver(relay(smtp_server), b"Subject: x\r\n\r\nx\r\n", "ann@example.test").code == 451
        at = policy.next_attempt(attempts, at)

    assert attempts == 4  # the first, then after waits of 1, 2, 4 s; 4 s more would pass 10 s
    assert smtp_server.received == []


def test_closed_port_is_deferred_without_a_reply_code() -> None:
    transport = SmtpTransport.from_url(f"smtp://{HOST}:{free_port()}", timeout_s=5)

    outcome = deliver(transport, b"Subject: x\r\n\r\nx\r\n", "ann@example.test")

    assert outcome == Outcome("deferred", 0, "ConnectionRefusedError: [Errno 111] Connection refused")


def test_silent_relay_times_out_and_is_deferred() -> None:
    with socket.create_server((HOST, 0)) as silent:  # accepts connections, never greets
        transport = SmtpTransport(HOST, silent.getsockname()[1], timeout_s=0.3)

        outcome = deliver(transport, b"Subject: x\r\n\r\nx\r\n", "ann@example.test")

    assert outcome == Outcome("deferred", 0, "SMTPServerDisconnected: Connection unexpectedly closed: "
                                             "timed out")


def test_implicit_tls_with_credentials(tls: tuple[ssl.SSLContext, ssl.SSLContext]) -> None:
    server_context, client_context = tls
    server = start_smtp_server(implicit_tls=server_context, credentials=("ann", "s3cret"))
    try:
        url = server.url.replace("smtps://", "smtps://ann:s3cret@")
        transport = SmtpTransport.from_url(url, timeout_s=5, ssl_context=client_context)

        outcome = deliver(transport, b"Subject: x\r\n\r\nx\r\n", "bea@example.test")
    finally:
        server.stop()

    assert (outcome.status, outcome.code) == ("sent", 250)
    assert server.received[0].tls is True


def test_wrong_credentials_defer_rather_than_bounce(tls: tuple[ssl.SSLContext, ssl.SSLContext]) -> None:
    server_context, client_context = tls
    server = start_smtp_server(implicit_tls=server_context, credentials=("ann", "s3cret"))
    try:
        url = server.url.replace("smtps://", "smtps://ann:wrong@")
        transport = SmtpTransport.from_url(url, timeout_s=5, ssl_context=client_context)

        outcome = deliver(transport, b"Subject: x\r\n\r\nx\r\n", "bea@example.test")
    finally:
        server.stop()

    assert (outcome.status, outcome.code) == ("deferred", 535)
    assert outcome.detail.startswith("relay refused us: 535 ")
    assert server.received == []


def test_starttls_is_used_when_offered(tls: tuple[ssl.SSLContext, ssl.SSLContext]) -> None:
    server_context, client_context = tls
    server = start_smtp_server(starttls=server_context)
    try:
        transport = relay(server, ssl_context=client_context, plain_on_loopback=False)
        outcome = deliver(transport, b"Subject: x\r\n\r\nx\r\n", "bea@example.test")
        plain = deliver(relay(server), b"Subject: y\r\n\r\ny\r\n", "bea@example.test")
    finally:
        server.stop()

    assert (outcome.status, plain.status) == ("sent", "sent")
    assert [received.tls for received in server.received] == [True, False]


def test_untrusted_certificate_is_deferred(tls: tuple[ssl.SSLContext, ssl.SSLContext]) -> None:
    server = start_smtp_server(implicit_tls=tls[0])
    try:
        transport = SmtpTransport.from_url(server.url, timeout_s=5)  # system CAs only

        outcome = deliver(transport, b"Subject: x\r\n\r\nx\r\n", "bea@example.test")
    finally:
        server.stop()

    assert (outcome.status, outcome.code) == ("deferred", 0)
    assert outcome.detail.startswith("SSLCertVerificationError: ")

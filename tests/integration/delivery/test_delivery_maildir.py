"""The embedded default transport: a local Maildir a developer can read."""

from __future__ import annotations

import email
import mailbox
from datetime import UTC
from datetime import datetime
from email.message import EmailMessage
from email.policy import default
from pathlib import Path
from uuid import UUID

import dkim

from consumers.delivery.render import DkimSigner
from consumers.delivery.render import OutboundMessage
from consumers.delivery.render import render
from consumers.delivery.transport import MaildirTransport
from consumers.delivery.transport import Outcome
from tests.support.delivery import DkimKey
from tests.support.delivery import PlainTracking

MESSAGE_ID = UUID("3e0c1a4b-8f2d-4c6e-a1b7-9d0e2f4a6c8b")


def message() -> OutboundMessage:
    """A small text message with a Bcc."""
    return OutboundMessage(
        message_id=MESSAGE_ID, from_address="news@acme.test", to=("ann@example.test",),
        bcc=("bea@example.test",), subject="Grüße", domain="acme.test",
        queued_at=datetime(2026, 3, 15, 14, 30, tzinfo=UTC), text="Hello Ann",
    )


def test_maildir_stores_a_readable_signed_message(tmp_path: Path, dkim_key: DkimKey) -> None:
    msg = message()
    data = render(msg, PlainTracking(), dkim=DkimSigner("acme.test", "ml2026", dkim_key.private_pem))

    outcome = MaildirTransport(tmp_path / "maildir").deliver(msg.envelope_from, msg.recipients, data)

    box = mailbox.Maildir(tmp_path / "maildir", create=False)
    [key] = box.keys()
    assert outcome == Outcome("sent", 250, f"250 stored in maildir as {key}")
    stored = box.get_bytes(key)
    mail = email.message_from_bytes(stored, policy=default)
    assert isinstance(mail, EmailMessage)
    assert stored.startswith(b"Return-Path: <news@acme.test>\n"
                             b"X-Envelope-To: ann@example.test, bea@example.test\nDKIM-Signature: ")
    assert b"\r\n" not in stored
    assert (mail["Subject"], mail["To"], mail["Bcc"]) == ("Grüße", "ann@example.test", None)
    assert mail.get_content() == "Hello Ann\n"
    assert dkim.verify(stored, dnsfunc=dkim_key.dnsfunc("ml2026", "acme.test")) is True


def test_every_message_gets_its_own_file(tmp_path: Path) -> None:
    transport = MaildirTransport(tmp_path / "maildir")

    for _ in range(3):
        transport.deliver("news@acme.test", ["ann@example.test"], b"Subject: x\r\n\r\nx\r\n")

    assert len(mailbox.Maildir(tmp_path / "maildir", create=False)) == 3


def test_an_unwritable_maildir_is_deferred(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")

    outcome = MaildirTransport(blocker / "maildir").deliver("a@acme.test", ["b@x.test"], b"x\r\n")

    assert (outcome.status, outcome.code) == ("deferred", 0)
    assert outcome.detail.startswith(f"maildir {blocker / 'maildir'}: ")

"""Rendering a queued message: headers, Message-ID, tracking, List-Unsubscribe, DKIM."""

from __future__ import annotations

import dataclasses
import email
from datetime import UTC
from datetime import datetime
from email.message import EmailMessage
from email.policy import default
from typing import Any
from uuid import UUID

import dkim
import pytest

from consumers.delivery.render import DkimSigner
from consumers.delivery.render import OutboundMessage
from consumers.delivery.render import RenderError
from consumers.delivery.render import render
from tests.support.delivery import DkimKey
from tests.support.delivery import PlainTracking
from tests.support.delivery import generate_dkim_key

MESSAGE_ID = UUID("6c1b8f7e-1f0e-4a0e-9d8b-1234567890ab")
QUEUED_AT = datetime(2026, 3, 15, 14, 30, 5, tzinfo=UTC)
TRACKING = PlainTracking()
CLICK = f"https://t.example.test/track/c/{MESSAGE_ID}?url="
UNSUBSCRIBE = f"https://t.example.test/track/u/{MESSAGE_ID}"
OPEN = f"https://t.example.test/track/o/{MESSAGE_ID}"
PIXEL = f'<img src="{OPEN}" width="1" height="1" alt="" style="display:none">'


@pytest.fixture(scope="session")
def dkim_key() -> DkimKey:
    """One RSA 2048 key for the session (generation takes a moment)."""
    return generate_dkim_key()


def outbound(**changes: Any) -> OutboundMessage:
    """A fully populated message; tests change what they look at."""
    base = OutboundMessage(
        message_id=MESSAGE_ID, from_address="Acme News <news@acme.test>",
        to=("ann@example.test",), cc=("carl@example.test",), bcc=("bea@example.test",),
        reply_to="support@acme.test", subject="Héllo wörld", domain="acme.test",
        queued_at=QUEUED_AT, html="<html><body><p>Hi</p></body></html>", text="Hi",
        headers={"X-Campaign": "spring-2026"}, track_opens=False, track_clicks=False,
        unsubscribe_mailto="unsubscribe@acme.test",
    )
    return dataclasses.replace(base, **changes)


def parse(data: bytes) -> EmailMessage:
    """The rendered bytes as a modern EmailMessage."""
    parsed = email.message_from_bytes(data, policy=default)
    assert isinstance(parsed, EmailMessage)
    return parsed


def html_of(data: bytes) -> str:
    """The decoded HTML part, with the wire's CRLF line ends as LF."""
    part = parse(data).get_body(("html",))
    assert part is not None
    return str(part.get_content()).replace("\r\n", "\n")


def text_of(data: bytes) -> str:
    """The decoded plain-text part, with the wire's CRLF line ends as LF."""
    part = parse(data).get_body(("plain",))
    assert part is not None
    return str(part.get_content()).replace("\r\n", "\n")


def test_headers_are_rendered_in_order_with_exact_values() -> None:
    parsed = parse(render(outbound(), TRACKING, dkim=None))

    assert parsed.keys() == [
        "From", "To", "Cc", "Reply-To", "Subject", "Date", "Message-ID", "List-Unsubscribe",
        "List-Unsubscribe-Post", "X-Campaign", "MIME-Version", "Content-Type",
    ]
    assert parsed["From"] == "Acme News <news@acme.test>"
    assert (parsed["To"], parsed["Cc"]) == ("ann@example.test", "carl@example.test")
    assert parsed["Reply-To"] == "support@acme.test"
    assert parsed["Subject"] == "Héllo wörld"
    assert parsed["Date"] == "Sun, 15 Mar 2026 14:30:05 +0000"
    assert parsed["Message-ID"] == "<6c1b8f7e-1f0e-4a0e-9d8b-1234567890ab@acme.test>"
    assert parsed["X-Campaign"] == "spring-2026"


def test_non_ascii_subject_is_encoded_on_the_wire() -> None:
    data = render(outbound(), TRACKING, dkim=None)

    assert b"\r\nSubject: =?utf-8?q?H=C3=A9llo_w=C3=B6rld?=\r\n" in data
    assert data.isascii()


def test_message_id_and_bytes_are_the_same_when_rendered_again() -> None:
    first = render(outbound(track_opens=True, track_clicks=True), TRACKING, dkim=None)
    again = render(outbound(track_opens=True, track_clicks=True), TRACKING, dkim=None)

    assert first == again
    assert b"\r\nMessage-ID: <6c1b8f7e-1f0e-4a0e-9d8b-1234567890ab@acme.test>\r\n" in first
    assert b'boundary="=_ml_6c1b8f7e1f0e4a0e9d8b1234567890ab"' in first


def test_bcc_is_an_envelope_recipient_and_never_a_header() -> None:
    message = outbound(to=("Ann <ann@example.test>",), cc=("carl@example.test", "ann@example.test"))
    data = render(message, TRACKING, dkim=None)

    assert b"bea@example.test" not in data
    assert "Bcc" not in parse(data)
    assert message.recipients == ["ann@example.test", "carl@example.test", "bea@example.test"]
    assert message.envelope_from == "news@acme.test"


def test_reserved_custom_headers_never_override_ours() -> None:
    headers = {"From": "evil@example.test", "message-id": "<x@y>", "Bcc": "spy@example.test",
               "X-Tag": "a"}
    parsed = parse(render(outbound(headers=headers), TRACKING, dkim=None))

    assert parsed.get_all("From") == ["Acme News <news@acme.test>"]
    assert parsed.get_all("Message-ID") == ["<6c1b8f7e-1f0e-4a0e-9d8b-1234567890ab@acme.test>"]
    assert "Bcc" not in parsed
    assert parsed["X-Tag"] == "a"


@pytest.mark.parametrize("changes", [
    {"headers": {"X-Bad Name": "v"}},
    {"headers": {"X-Injected": "v\r\nBcc: spy@example.test"}},
    {"queued_at": datetime(2026, 3, 15, 14, 30)},
    {"html": None, "text": None},
], ids=["header-name", "header-line-break", "naive-date", "no-body"])
def test_a_message_that_can_never_render_raises_render_error(changes: dict[str, Any]) -> None:
    with pytest.raises(RenderError):
        render(outbound(**changes), TRACKING, dkim=None)


def test_text_and_html_are_alternatives_in_that_order() -> None:
    data = render(outbound(text="Hi ünïcode", html="<p>Hi</p>"), TRACKING, dkim=None)
    parsed = parse(data)

    assert parsed.get_content_type() == "multipart/alternative"
    assert [part.get_content_type() for part in parsed.iter_parts()] == ["text/plain", "text/html"]
    assert [part.get("MIME-Version") for part in parsed.iter_parts()] == [None, None]
    assert text_of(parsed.as_bytes()) == "Hi ünïcode\n"
    assert b"Content-Transfer-Encoding: quoted-printable\r\n\r\nHi =C3=BCn=C3=AFcode" in data


@pytest.mark.parametrize(("html", "text", "content_type"), [
    ("<p>Hi</p>", None, "text/html"), (None, "Hi", "text/plain"),
])
def test_a_single_body_is_a_single_part(html: str | None, text: str | None,
                                        content_type: str) -> None:
    parsed = parse(render(outbound(html=html, text=text), TRACKING, dkim=None))

    assert parsed.get_content_type() == content_type
    assert not parsed.is_multipart()


def test_open_pixel_goes_before_the_closing_body_tag() -> None:
    html = "<html><body><p>Hi</p></BODY ></html>"
    data = render(outbound(html=html, track_opens=True), TRACKING, dkim=None)

    assert html_of(data) == f"<html><body><p>Hi</p>{PIXEL}</BODY ></html>\n"


def test_open_pixel_is_appended_when_there_is_no_body_tag() -> None:
    data = render(outbound(html="<p>Hi</p>", track_opens=True), TRACKING, dkim=None)

    assert html_of(data) == f"<p>Hi</p>{PIXEL}\n"


def test_no_pixel_and_no_rewrite_when_nothing_is_tracked() -> None:
    html = '<body><a href="https://acme.test/a">a</a></body>'
    data = render(outbound(html=html, text="https://acme.test/a"), TRACKING, dkim=None)

    assert html_of(data) == html + "\n"
    assert text_of(data) == "https://acme.test/a\n"


def test_clicks_are_rewritten_in_both_parts_but_not_the_unsubscribe_link() -> None:
    html = (f'<body><a href="https://acme.test/sale?a=1&amp;b=2">Sale</a>'
            f'<a href="{UNSUBSCRIBE}">Unsubscribe</a></body>')
    text = f"Sale: https://acme.test/sale?a=1&b=2.\nUnsubscribe: {UNSUBSCRIBE}"
    data = render(outbound(html=html, text=text, track_clicks=True, track_opens=True),
                  TRACKING, dkim=None)

    tracked = f"{CLICK}https%3A%2F%2Facme.test%2Fsale%3Fa%3D1%26b%3D2"
    assert html_of(data) == (f'<body><a href="{tracked}">Sale</a>'
                             f'<a href="{UNSUBSCRIBE}">Unsubscribe</a>{PIXEL}</body>\n')
    assert text_of(data) == f"Sale: {tracked}.\nUnsubscribe: {UNSUBSCRIBE}\n"


def test_list_unsubscribe_headers_are_verbatim_even_when_long() -> None:
    long_tracking = PlainTracking(base="https://tracking.example.test/" + "x" * 80)
    data = render(outbound(), long_tracking, dkim=None)

    url = f"{long_tracking.base}/track/u/{MESSAGE_ID}"
    assert f"\r\nList-Unsubscribe: <{url}>, <mailto:unsubscribe@acme.test>\r\n".encode() in data
    assert b"\r\nList-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n" in data


def test_list_unsubscribe_without_mailto_has_only_the_one_click_url() -> None:
    parsed = parse(render(outbound(unsubscribe_mailto=None), TRACKING, dkim=None))

    assert parsed["List-Unsubscribe"] == f"<{UNSUBSCRIBE}>"


def test_dkim_signature_verifies_with_the_published_key(dkim_key: DkimKey) -> None:
    signer = DkimSigner("acme.test", "ml2026", dkim_key.private_pem)
    data = render(outbound(track_opens=True, track_clicks=True), TRACKING, dkim=signer)

    assert data.startswith(b"DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed; d=acme.test;")
    assert dkim.verify(data, dnsfunc=dkim_key.dnsfunc("ml2026", "acme.test")) is True


def test_dkim_accepts_a_pkcs1_key_as_commands_generates_them() -> None:
    key = generate_dkim_key(pkcs1=True)
    assert key.private_pem.startswith(b"-----BEGIN RSA PRIVATE KEY-----")

    data = render(outbound(), TRACKING, dkim=DkimSigner("acme.test", "ml2026", key.private_pem))

    assert dkim.verify(data, dnsfunc=key.dnsfunc("ml2026", "acme.test")) is True


def test_dkim_signs_the_rfc_8058_headers_and_oversigns_from(dkim_key: DkimKey) -> None:
    data = render(outbound(), TRACKING, dkim=DkimSigner("acme.test", "ml2026", dkim_key.private_pem))

    tags = dict(tag.strip().split("=", 1) for tag in parse(data)["DKIM-Signature"].split(";"))
    assert [name.strip() for name in tags["h"].split(":")] == [
        "from", "to", "cc", "reply-to", "subject", "date", "message-id", "list-unsubscribe",
        "list-unsubscribe-post", "mime-version", "content-type",
        "from", "subject", "date", "message-id", "list-unsubscribe",
    ]
    assert (tags["d"], tags["s"]) == ("acme.test", "ml2026")


@pytest.mark.parametrize(("old", "new"), [
    (b"Subject: =?utf-8?q?H=C3=A9llo_w=C3=B6rld?=", b"Subject: Hello"),
    (b"List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n", b""),
    (b"\r\nHi\r\n", b"\r\nHo\r\n"),
], ids=["subject", "one-click-header", "body"])
def test_dkim_fails_after_tampering(dkim_key: DkimKey, old: bytes, new: bytes) -> None:
    data = render(outbound(), TRACKING, dkim=DkimSigner("acme.test", "ml2026", dkim_key.private_pem))
    assert old in data

    tampered = data.replace(old, new, 1)

    assert dkim.verify(tampered, dnsfunc=dkim_key.dnsfunc("ml2026", "acme.test")) is False


def test_dkim_fails_with_another_domains_key(dkim_key: DkimKey) -> None:
    data = render(outbound(), TRACKING, dkim=DkimSigner("acme.test", "ml2026", dkim_key.private_pem))

    assert dkim.verify(data, dnsfunc=dkim_key.dnsfunc("ml2026", "other.test")) is False


@pytest.mark.parametrize("changes", [
    {"subject": "Hello\n"}, {"subject": "Hel\x0blo"}, {"subject": "Hello\u2028Bcc: x@y.test"},
    {"to": ("ann@example.test\r\nBcc: spy@example.test",)}, {"from_address": "a@acme.test\r"},
    {"reply_to": "Zoë\n<z@acme.test>"}, {"headers": {"X-Tag": "a\x85b"}},
], ids=["trailing-lf", "vertical-tab", "line-separator", "to", "from", "reply-to", "next-line"])
def test_a_line_break_in_any_header_value_raises_render_error(changes: dict[str, Any]) -> None:
    with pytest.raises(RenderError, match="line break"):
        render(outbound(**changes), TRACKING, dkim=None)


def test_custom_content_headers_are_dropped_as_they_always_were() -> None:
    headers = {"Content-Language": "fr", "content-disposition": "inline", "X-Tag": "a"}
    parsed = parse(render(outbound(headers=headers), TRACKING, dkim=None))

    assert ("Content-Language" not in parsed, "Content-Disposition" not in parsed) == (True, True)
    assert parsed["X-Tag"] == "a"


def test_non_ascii_display_names_are_encoded_words_and_addresses_stay_ascii() -> None:
    data = render(outbound(from_address="Zoë Müller <zoe@acme.test>", to=("Ann <ann@example.test>",)),
                  TRACKING, dkim=None)

    assert data.startswith(b"From: =?utf-8?q?Zo=C3=AB_M=C3=BCller?= <zoe@acme.test>\r\n")
    assert parse(data)["From"] == "Zoë Müller <zoe@acme.test>"

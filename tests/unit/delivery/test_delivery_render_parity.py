"""The hand-written MIME renderer reads, once parsed, exactly as the email-package one did.

``reference_render`` below is the renderer as it was (``EmailMessage``, ``set_content``,
``add_alternative``, the SMTP_VERBATIM policy), kept here as the oracle. Both renderers
share the link rewriting, so these tests compare MIME serialisation only.
"""

from __future__ import annotations

import binascii
import dataclasses
import email
import random
import re
from datetime import UTC
from datetime import datetime
from datetime import timedelta
from datetime import timezone
from email.header import decode_header
from email.header import make_header
from email.message import EmailMessage
from email.policy import default
from email.utils import format_datetime
from typing import Any
from uuid import UUID

import dkim
import pytest

from consumers.delivery.links import insert_pixel
from consumers.delivery.links import is_trackable
from consumers.delivery.links import rewrite_html_links
from consumers.delivery.links import rewrite_text_links
from consumers.delivery.mime import text_part
from consumers.delivery.policy import SMTP_VERBATIM
from consumers.delivery.render import RESERVED_HEADERS
from consumers.delivery.render import DkimSigner
from consumers.delivery.render import OutboundMessage
from consumers.delivery.render import message_id_header
from consumers.delivery.render import render
from tests.support.delivery import DkimKey
from tests.support.delivery import PlainTracking
from tests.support.delivery import generate_dkim_key

TRACKING = PlainTracking()
LONG_WORDS = " ".join(f"word{i}" for i in range(60))
PARAGRAPH = "Bonjour à tous, voici les nouvelles du printemps. Ça va très bien, merci ! "
HTML = ('<!DOCTYPE html>\n<html><head><style>a{color:red}</style></head><body>\n'
        '<p style="margin:0">Hi <a href="https://acme.test/sale?a=1&amp;b=2">sale</a></p>\n'
        '<!-- <a href="https://acme.test/hidden">x</a> -->\n</body></html>\n')


def outbound(**changes: Any) -> OutboundMessage:
    """A populated message; each case changes what it looks at."""
    base = OutboundMessage(
        message_id=UUID("6c1b8f7e-1f0e-4a0e-9d8b-1234567890ab"),
        from_address="Acme News <news@acme.test>", to=("ann@example.test",),
        cc=("carl@example.test",), reply_to="support@acme.test", subject="Hello",
        domain="acme.test", queued_at=datetime(2026, 3, 15, 14, 30, 5, tzinfo=UTC),
        html=HTML, text="Hi, see https://acme.test/sale", headers={"X-Campaign": "spring-2026"},
        track_opens=True, track_clicks=True, unsubscribe_mailto="unsubscribe@acme.test",
    )
    return dataclasses.replace(base, **changes)


CASES: dict[str, dict[str, Any]] = {
    "defaults": {},
    "utf8 subject": {"subject": "Héllo wörld"},
    "emoji subject": {"subject": "Sale 🎉 today only"},
    "long ascii subject": {"subject": LONG_WORDS},
    "long utf8 subject": {"subject": "Très " + LONG_WORDS + " fin é"},
    "long cjk subject": {"subject": "日本語のテキスト" * 12},
    "subject whitespace": {"subject": "  Hello \t  world  "},
    "empty subject": {"subject": ""},
    "utf8 display names": {"from_address": "Zoë Müller <zoe@acme.test>",
                           "to": ("Jürgen <j@example.test>", "张伟 <zw@example.test>"),
                           "reply_to": '"Acmé, Inc." <support@acme.test>'},
    "quoted ascii name": {"from_address": '"Acme, Inc." <news@acme.test>'},
    "long utf8 name": {"from_address": "Ünïcödé " + LONG_WORDS[:90] + " <news@acme.test>"},
    "long to list": {"to": tuple(f"Person Number {i} <person{i}@example.test>" for i in range(30))},
    "long mixed to list": {"to": tuple(f"Pérson {i} <p{i}@example.test>" for i in range(12)),
                           "cc": tuple(f"c{i}@example.test" for i in range(20))},
    "no cc or reply-to": {"cc": (), "reply_to": None},
    "html only": {"text": None},
    "text only": {"html": None},
    "untracked": {"track_opens": False, "track_clicks": False},
    "long lines": {"text": "x" * 1500 + "\n" + "é" * 700, "html": "<p>" + "y " * 900 + "</p>"},
    "crlf lf cr": {"text": "a\r\nb\nc\rd\r\n\r\ne", "html": "<p>a</p>\r\n<p>b</p>\r<p>c</p>"},
    "trailing whitespace": {"text": "trailing  \nspaces\t\n  \n", "html": "<p>x</p>   \n"},
    "dot and From": {"text": ".\n.dot\nFrom me\n>From you\n", "html": ".\n<p>From here</p>\n"},
    "accents": {"text": PARAGRAPH * 20, "html": f"<p>{PARAGRAPH * 40}</p>"},
    "emoji body": {"text": "Hi 😀 " * 50, "html": "<p>🎉</p>"},
    "cjk body": {"text": "日本語のテキストです。" * 60, "html": "<p>" + "中文内容" * 100 + "</p>"},
    "mostly ascii cjk": {"text": "Hello world, " * 40 + "日本", "html": "<p>" + "a=b " * 300 + "</p>"},
    "boundary in body": {"text": "--=_ml_6c1b8f7e1f0e4a0e9d8b1234567890ab\nHi", "html": "<p>x</p>"},
    "empty bodies": {"text": "", "html": ""},
    "custom headers": {"headers": {"X-Tag": "a", "X-Long": LONG_WORDS, "X-Utf": "héhé ✓",
                                   "X-Empty": "", "Content-Language": "fr", "Bcc": "spy@x.test",
                                   "X-Url": "https://acme.test/" + "y" * 120}},
    "other offset": {"queued_at": datetime(2026, 3, 15, 14, 30, 5, tzinfo=timezone(timedelta(hours=-5)))},
    "utf8 local part": {"to": ("jürgen@example.test",)},
    # A lone surrogate is no longer rendered: mail_rules refuses it (tests/unit/commands/test_bad_input.py).
}


def reference_render(message: OutboundMessage) -> bytes:
    """The renderer as it was before the rewrite (email.message.EmailMessage)."""
    mime = EmailMessage(policy=SMTP_VERBATIM)
    _reference_headers(mime, message)
    html, text = _tracked_bodies(message)
    if text is not None:
        mime.set_content(text)
    if html is not None and text is not None:
        mime.add_alternative(html, subtype="html")
        for part in mime.iter_parts():
            del part["MIME-Version"]
        boundary = f"=_ml_{message.message_id.hex}"
        while boundary in text + html:
            boundary += "_"
        mime.set_boundary(boundary)
    elif html is not None:
        mime.set_content(html, subtype="html")
    return mime.as_bytes()


def _reference_headers(mime: EmailMessage, message: OutboundMessage) -> None:
    unsubscribe = TRACKING.unsubscribe_url(message.message_id)
    for name, value in [
        ("From", message.from_address), ("To", ", ".join(message.to)),
        ("Cc", ", ".join(message.cc)), ("Reply-To", message.reply_to or ""),
        ("Subject", message.subject), ("Date", format_datetime(message.queued_at)),
        ("Message-ID", message_id_header(message.message_id, message.domain)),
        ("List-Unsubscribe", f"<{unsubscribe}>, <mailto:{message.unsubscribe_mailto}>"),
        ("List-Unsubscribe-Post", "List-Unsubscribe=One-Click"),
    ]:
        if value or name not in ("Cc", "Reply-To"):
            mime[name] = value
    for name, value in message.headers.items():
        if name.lower() not in RESERVED_HEADERS:
            mime[name] = value


def _tracked_bodies(message: OutboundMessage) -> tuple[str | None, str | None]:
    unsubscribe = TRACKING.unsubscribe_url(message.message_id)

    def rewrite(url: str) -> str | None:
        ok = is_trackable(url) and url != unsubscribe
        return TRACKING.click_url(message.message_id, url) if ok else None

    html, text = message.html, message.text
    if message.track_clicks:
        html = None if html is None else rewrite_html_links(html, rewrite)
        text = None if text is None else rewrite_text_links(text, rewrite)
    if html is not None and message.track_opens:
        html = insert_pixel(html, TRACKING.open_url(message.message_id))
    return html, text


def reading(data: bytes) -> list[tuple[list[tuple[str, str]], str, str | None, str | None]]:
    """What a reader sees of each part: headers (name, decoded value) in order, content."""
    parsed = email.message_from_bytes(data, policy=default)
    parts = []
    for part in parsed.walk():
        assert isinstance(part, EmailMessage)
        content = None if part.is_multipart() else part.get_content()
        headers = [(name, str(value)) for name, value in part.items()]
        parts.append((headers, part.get_content_type(), part.get_content_charset(), content))
    return parts


@pytest.fixture(scope="module")
def dkim_key() -> DkimKey:
    """One RSA key for the module."""
    return generate_dkim_key()


@pytest.mark.parametrize("changes", CASES.values(), ids=CASES.keys())
def test_a_reader_sees_what_the_email_package_rendering_showed(changes: dict[str, Any]) -> None:
    message = outbound(**changes)

    assert reading(render(message, TRACKING, dkim=None)) == reading(reference_render(message))


@pytest.mark.parametrize("changes", CASES.values(), ids=CASES.keys())
def test_every_line_ends_in_crlf_and_fits_998_octets(changes: dict[str, Any]) -> None:
    data = render(outbound(**changes), TRACKING, dkim=None)

    assert data.isascii() and data.endswith(b"\r\n")
    assert re.search(rb"[^\r]\n|\r[^\n]", data) is None
    assert max(len(line) for line in data.split(b"\r\n")) <= 998


@pytest.mark.parametrize("changes", CASES.values(), ids=CASES.keys())
def test_rendering_again_gives_the_same_bytes(changes: dict[str, Any]) -> None:
    assert render(outbound(**changes), TRACKING, dkim=None) == render(outbound(**changes), TRACKING,
                                                                      dkim=None)


@pytest.mark.parametrize("case", ["defaults", "utf8 display names", "long to list", "crlf lf cr",
                                  "dot and From", "cjk body", "long lines", "text only"])
def test_a_signed_rendering_verifies_with_dkimpy(dkim_key: DkimKey, case: str) -> None:
    signer = DkimSigner("acme.test", "ml2026", dkim_key.private_pem)
    data = render(outbound(**CASES[case]), TRACKING, dkim=signer)

    assert dkim.verify(data, dnsfunc=dkim_key.dnsfunc("ml2026", "acme.test")) is True


def test_a_non_ascii_domain_is_written_in_idna_form() -> None:
    # The email package wrote an encoded word inside the domain, which is not an address.
    message = outbound(to=("ann@bücher.test", "Zoë <zoe@bücher.test>"))
    parsed = email.message_from_bytes(render(message, TRACKING, dkim=None), policy=default)

    assert parsed["To"] == "ann@xn--bcher-kva.test, Zoë <zoe@xn--bcher-kva.test>"


def test_ascii_headers_are_written_as_given_and_folded_before_whitespace() -> None:
    data = render(outbound(subject=LONG_WORDS, to=("a@example.test",) * 8), TRACKING, dkim=None)
    head = data.split(b"\r\n\r\n")[0].decode("ascii")

    assert f"Subject: {LONG_WORDS}" == re.search(r"Subject: .*?(?=\r\n\S)", head, re.S)[0].replace(
        "\r\n", "")
    assert "To: a@example.test, a@example.test," in head and "\r\n a@example.test" in head
    assert max(len(line) for line in head.split("\r\n") if "List-Unsubscribe" not in line) <= 78


def test_long_non_ascii_names_decode_exactly_with_an_rfc_2047_decoder() -> None:
    # Python's phrase parser puts a space between adjacent encoded words (it did so for the
    # old output too); RFC 2047 decoders, like email.header's, join them as they should.
    to = ("日本語のテキスト" * 4 + " <p0@example.test>", "Ωß😀" + "x" * 60 + "é <p1@example.test>")
    data = render(outbound(to=to, subject="日本語 " * 20 + "fin"), TRACKING, dkim=None)
    unfolded = data.split(b"\r\n\r\n")[0].decode("ascii").replace("\r\n ", " ")
    fields = dict(line.split(": ", 1) for line in unfolded.split("\r\n") if ": " in line)

    assert str(make_header(decode_header(fields["To"]))) == ", ".join(to)
    assert str(make_header(decode_header(fields["Subject"]))) == "日本語 " * 20 + "fin"


def test_a_comma_is_never_encoded_into_a_display_name() -> None:
    # The email package folded "..., ΩΩ 日本 <p4@...>" into "=?utf-8?q?=2C?= ...", so a
    # reader saw two addresses as one.
    to = ("word Ωé <p0@example.test>", "bΩ <p1@example.test>", "p2@example.test",
          "a b <p3@example.test>", "ΩΩ 日本 <p4@example.test>", "bß'- <p5@example.test>")
    parsed = email.message_from_bytes(render(outbound(to=to), TRACKING, dkim=None), policy=default)

    assert [address.addr_spec for address in parsed["To"].addresses] == [
        f"p{i}@example.test" for i in range(6)]


def test_every_encoded_part_decodes_to_its_text_with_crlf_line_ends() -> None:
    pieces = ["a", " ", "\t", "=", "==", "\n", "\r\n", "\r", "x" * 74, "y" * 75, "z" * 76, "w" * 77,
              "é", "ç", "😀", "日本", "\x00", "\x0c", "\x7f", ".", "From ", " \n", "\t\n", "=C3"]
    rnd = random.Random(2026)
    for _ in range(3000):
        content = "".join(rnd.choice(pieces) for _ in range(rnd.randint(0, 60)))
        headers, body = text_part(content, "plain")
        encoding = headers[1].removeprefix("Content-Transfer-Encoding: ").strip()
        decoded = {"7bit": bytes, "quoted-printable": binascii.a2b_qp,
                   "base64": binascii.a2b_base64}[encoding](body)

        assert decoded == b"\r\n".join(content.encode().splitlines()) + b"\r\n"  # as the email package
        assert re.search(rb"[^\r]\n|\r[^\n]", body) is None and body.isascii()
        if encoding == "quoted-printable":
            assert max(len(line) for line in body.split(b"\r\n")) <= 76
            assert re.search(rb"[ \t]\r\n", body) is None

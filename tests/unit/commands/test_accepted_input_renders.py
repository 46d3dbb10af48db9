"""What the send API accepts always renders: one rule set (``event_store.mail_rules``) for both.

A table of accepted edge cases goes the whole way (HTTP → the event store → the delivery
worker's loader → the real renderer with DKIM), and a seeded random search checks the
property itself: a value the API's schema accepts renders, and a value it refuses for its
characters is refused by the renderer too.
"""

from __future__ import annotations

import email
import random
import re
from email.header import decode_header
from email.header import make_header
from email.policy import default
from typing import Any
from uuid import UUID
from uuid import uuid4

import pytest
from flask import Flask
from marshmallow import ValidationError

from commands.http.schemas import SendSchema
from consumers.delivery.render import OutboundMessage
from consumers.delivery.render import RenderError
from consumers.delivery.render import render
from event_store.application import EmailEvents
from mailerlogic.delivery import BusMessageStore
from mailerlogic.delivery import SignedTrackingLinks
from tests.helpers import T0
from tests.helpers import bus_for
from tests.helpers import new_customer
from tests.unit.commands.conftest import SECRET

TRACKING = SignedTrackingLinks(SECRET, "https://t.acme.test")
BASE = {"to": "ada@example.org", "subject": "Hi", "text": "x"}
ACCEPTED: dict[str, dict[str, Any]] = {
    "non-ascii subject": {"subject": "Grüße — café ✓ 日本語 😀 עברית"},
    "998 ascii words": {"subject": ("word " * 200)[:998]},
    "998 as one word": {"subject": "x" * 998},
    "998 non-ascii": {"subject": "é" * 998},
    "c1 controls but NEL": {"subject": "a\x80b\x9fc"},
    "tabs and trailing blanks": {"subject": "a\tb  ", "headers": {"X-Tab": "\ta\tb\t"}},
    "long header value, one word": {"headers": {"X-Long": "y" * 2000}},
    "long header value, words": {"headers": {"X-Words": "word " * 1000}},
    "non-ascii header value": {"headers": {"X-Name": "Zoë Müller ✓", "X-Empty": ""}},
    "every ftext character in a name": {"headers": {"X-!#$%&'*+-.^_`|~;<=>?@[]{}": "v"}},
    "fifty headers": {"headers": {f"X-H{i}": f"v{i}" for i in range(50)}},
    "line separators in bodies": {"text": "a\u2028b\x85c\u2029", "html": "<p>\u2028</p>"},
    "crlf, cr and tabs in bodies": {"text": "a\r\n\tb\rc\n", "html": "<p>a</p>\r\n\t<p>b</p>"},
    "idn addresses": {"to": "ann@bücher.example", "cc": ["zoe@bücher.example"],
                      "reply_to": "r@bücher.example"},
    "utf8 local part": {"to": "jürgen@example.org"},
    "metadata with line breaks": {"metadata": {"note": "a\nb\tc\r\n", "n": [1, {"k": "\u2028"}]}},
    "tracked links": {"html": "<p><a href='https://acme.test/x?a=1'>go</a></p>", "text": "https://acme.test/y",
                      "track_opens": True, "track_clicks": True},
}


@pytest.fixture
def key(events: EmailEvents) -> str:
    _, api_key = new_customer(bus_for(events, SECRET), "acme.test")
    return api_key


@pytest.mark.parametrize("change", ACCEPTED.values(), ids=ACCEPTED.keys())
def test_an_accepted_edge_case_renders_and_reads_back(app: Flask, key: str, change: dict[str, Any]) -> None:
    body = BASE | change
    response = app.test_client().post("/api/send", json=body, headers={"X-API-Key": key})
    assert response.status_code == 200, response.get_json()

    loaded = BusMessageStore(app.extensions["bus"]).load(UUID(response.get_json()["message_id"]))
    data = render(loaded.message, TRACKING, dkim=loaded.signer)

    assert loaded.signer is not None and data.isascii()
    assert re.search(rb"[^\r]\n|\r[^\n]", data) is None
    assert max(len(line) for line in data.split(b"\r\n")) <= 998
    head = data.split(b"\r\n\r\n")[0].decode("ascii").replace("\r\n ", " ").replace("\r\n\t", "\t")
    fields = dict(line.split(":", 1) for line in head.split("\r\n"))
    assert str(make_header(decode_header(fields["Subject"].removeprefix(" ")))) == body["subject"]
    parsed = email.message_from_bytes(data, policy=default)
    for name, value in body.get("headers", {}).items():
        assert str(make_header(decode_header(fields[name].removeprefix(" ")))) == value
        assert parsed[name] is not None


# A random search over the characters that matter to the rules and to the renderer.
PIECES = ["a", "Z", " ", "\t", "é", "😀", "日本", "\x00", "\x01", "\x0b", "\x0c", "\x1c", "\x1f", "\x7f",
          "\x80", "\x85", "\x9f", "\u2028", "\u2029", "\r", "\n", "\r\n", ":", "=?", "?=", "<", ">", ",",
          "\ud800", "x" * 80, "word " * 20]


NAME_PIECES = ["X-", "a", "Z", "-", "!", "~", ":", " ", "\n", "\x00", "é", "\u2028", "\x7f", "\t"]


def _random_text(rnd: random.Random, pieces: list[str] = PIECES, most: int = 12) -> str:
    return "".join(rnd.choice(pieces) for _ in range(rnd.randint(1, most)))


def _outbound(data: dict[str, Any]) -> OutboundMessage:
    """The message the worker would load for ``data`` (what the API recorded)."""
    return OutboundMessage(
        message_id=uuid4(), from_address="noreply@acme.test", to=(data["to"],), subject=data["subject"],
        domain="acme.test", queued_at=T0, html=data["html"], text=data["text"], cc=tuple(data["cc"]),
        bcc=tuple(data["bcc"]), reply_to=data["reply_to"], headers=data["headers"], track_opens=True,
        track_clicks=True)


def _problems(error: ValidationError) -> list[str]:
    found: list[str] = []
    stack: list[Any] = [error.normalized_messages()]  # type: ignore[no-untyped-call]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            found.append(item)
        else:
            stack += item.values() if isinstance(item, dict) else item
    return found


@pytest.mark.parametrize("field", ["subject", "header value", "text", "html", "header name"])
def test_what_the_schema_accepts_renders_and_what_it_refuses_does_not(field: str) -> None:
    rnd = random.Random(f"mail-rules-{field}")
    outcomes = {"accepted": 0, "refused": 0}
    good = SendSchema().load(BASE | {"html": "<p>x</p>"})
    for _ in range(300):
        value = _random_text(rnd, NAME_PIECES, 4) if field == "header name" else _random_text(rnd)
        if field in ("header value", "header name"):
            change = {"headers": {"X-Value": value} if field == "header value" else {value: "v"}}
        else:
            change = {field: value}
        try:
            data = SendSchema().load(BASE | {"html": "<p>x</p>"} | change)
        except ValidationError as error:
            problems = _problems(error)
            if not any("must not contain" in p or "is not a header name" in p for p in problems):
                continue  # too long, say: not a rule of characters
            outcomes["refused"] += 1
            with pytest.raises(RenderError):  # the renderer holds the same rule
                render(_outbound(good | change), TRACKING, dkim=None)
            continue
        outcomes["accepted"] += 1
        render(_outbound(data), TRACKING, dkim=None)  # must not raise
    assert min(outcomes.values()) > 20, outcomes  # the search saw both sides

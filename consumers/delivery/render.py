"""Render one queued message into the RFC 5322 bytes handed to the relay (spec §3, step 2).

Pure and deterministic: the same :class:`OutboundMessage` and tracking links give the
same bytes (up to the DKIM ``t=`` timestamp). The Message-ID is
``<{message_id}@{domain}>`` and the MIME boundary derives from the message id, so a
retried or re-rendered message (say, after a worker crash) keeps its Message-ID and
receivers can recognise the duplicate. A message that can never be rendered (a bad
custom header, a naive ``queued_at``) raises :class:`RenderError`: retrying cannot help.
What a field may contain is :mod:`event_store.mail_rules`, the rule set the send API
checks before it records a message, so whatever the API accepted renders here.
The header fields and MIME parts are written directly (:mod:`.mime_headers`, :mod:`.mime`)
rather than through ``email.message``, which took some 10 ms a message.
"""

from __future__ import annotations

from dataclasses import dataclass
from dataclasses import field
from email.errors import HeaderParseError
from email.utils import format_datetime
from email.utils import getaddresses
from email.utils import parseaddr
from typing import TYPE_CHECKING
from typing import Protocol

from consumers.delivery.links import Rewrite
from consumers.delivery.links import insert_pixel
from consumers.delivery.links import is_trackable
from consumers.delivery.links import rewrite_html_links
from consumers.delivery.links import rewrite_text_links
from consumers.delivery.mime import Part
from consumers.delivery.mime import alternative
from consumers.delivery.mime import text_part
from consumers.delivery.mime_headers import address_list
from consumers.delivery.mime_headers import unstructured
from consumers.delivery.mime_headers import verbatim
from consumers.delivery.signing import DkimSigner
from event_store.mail_rules import FORBIDDEN_HEADERS
from event_store.mail_rules import field_name_problem
from event_store.mail_rules import is_forbidden_header
from event_store.mail_rules import line_problem
from event_store.mail_rules import text_problem

if TYPE_CHECKING:
    from collections.abc import Mapping
    from datetime import datetime
    from uuid import UUID

__all__ = ["DkimSigner", "OutboundMessage", "RenderError", "TrackingLinks", "render"]

#: Custom headers that may not override ours: the API refuses them (and any ``Content-*``);
#: in a message recorded before it did, they are dropped (ours win).
RESERVED_HEADERS = FORBIDDEN_HEADERS


class RenderError(ValueError):
    """The message can never be rendered; record it as failed instead of retrying."""


@dataclass(frozen=True)
class OutboundMessage:
    """Everything needed to render one queued message; ``bcc`` is envelope-only."""

    message_id: UUID
    from_address: str
    to: tuple[str, ...]
    subject: str
    domain: str
    queued_at: datetime
    html: str | None = None
    text: str | None = None
    cc: tuple[str, ...] = ()
    bcc: tuple[str, ...] = ()
    reply_to: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    track_opens: bool = False
    track_clicks: bool = False
    unsubscribe_mailto: str | None = None

    @property
    def envelope_from(self) -> str:
        """The bare address of ``from_address`` (SMTP ``MAIL FROM``)."""
        return parseaddr(self.from_address)[1]

    @property
    def recipients(self) -> list[str]:
        """Bare addresses of To, Cc and Bcc without duplicates (SMTP ``RCPT TO``)."""
        found = getaddresses([*self.to, *self.cc, *self.bcc])
        return list(dict.fromkeys(address for _, address in found if address))


class TrackingLinks(Protocol):
    """Mints the public tracking URLs of one message (spec §13); injected by the worker."""

    def open_url(self, message_id: UUID) -> str:
        """The URL of the open pixel."""

    def click_url(self, message_id: UUID, url: str) -> str:
        """The redirecting URL that records a click on ``url``."""

    def unsubscribe_url(self, message_id: UUID) -> str:
        """The one-click unsubscribe URL (RFC 8058)."""


def render(message: OutboundMessage, tracking: TrackingLinks, *, dkim: DkimSigner | None) -> bytes:
    """The MIME bytes of ``message`` with tracking, List-Unsubscribe and, if given, DKIM."""
    try:
        unsubscribe = tracking.unsubscribe_url(message.message_id)
        fields = _headers(message, unsubscribe)
        content, body = _content(message, tracking, unsubscribe)
        data = ("".join(fields + content) + "\r\n").encode("ascii") + body
    except (ValueError, HeaderParseError) as error:
        raise RenderError(f"message {message.message_id}: {error}") from error
    return dkim.sign(data) if dkim is not None else data


def message_id_header(message_id: UUID, domain: str) -> str:
    """The deterministic ``Message-ID`` of a message sent from ``domain``."""
    return f"<{message_id}@{domain.lower().encode('idna').decode('ascii')}>"


def _headers(message: OutboundMessage, unsubscribe: str) -> list[str]:
    if message.queued_at.utcoffset() is None:
        raise RenderError("queued_at must be timezone-aware")
    _check_rules(message)
    fields = [address_list("From", [message.from_address]), address_list("To", message.to)]
    if message.cc:
        fields.append(address_list("Cc", message.cc))
    if message.reply_to:
        fields.append(address_list("Reply-To", [message.reply_to]))
    fields += [
        unstructured("Subject", message.subject),
        unstructured("Date", format_datetime(message.queued_at)),
        unstructured("Message-ID", message_id_header(message.message_id, message.domain)),
        verbatim("List-Unsubscribe", _list_unsubscribe(message, unsubscribe)),
        verbatim("List-Unsubscribe-Post", "List-Unsubscribe=One-Click"),
    ]
    for name, value in message.headers.items():
        # Content-* describe our MIME structure: the email package always dropped them.
        if not is_forbidden_header(name):
            fields.append(unstructured(name, value))
    return fields


def _check_rules(message: OutboundMessage) -> None:
    """Refuse what the send API refuses (mail_rules), naming the field."""
    lines = [("Subject", message.subject), ("From", message.from_address),
             *(("To", a) for a in message.to), *(("Cc", a) for a in message.cc),
             *(("Bcc", a) for a in message.bcc), ("Reply-To", message.reply_to or "")]
    for name, value in message.headers.items():
        if (problem := field_name_problem(name)) is not None:
            raise RenderError(problem)
        lines.append((name, value))
    for name, value in lines:
        if (problem := line_problem(value)) is not None:
            raise RenderError(f"header {name} {problem}")
    for part, body in (("html", message.html), ("text", message.text)):
        if body is not None and (problem := text_problem(body)) is not None:
            raise RenderError(f"the {part} part {problem}")


def _list_unsubscribe(message: OutboundMessage, unsubscribe: str) -> str:
    uris = [unsubscribe]
    if message.unsubscribe_mailto:
        uris.append(f"mailto:{message.unsubscribe_mailto.removeprefix('mailto:')}")
    if not all(uri.isascii() and uri.isprintable() and ">" not in uri for uri in uris):
        raise RenderError(f"unsubscribe URI not printable ASCII: {uris!r}")
    return ", ".join(f"<{uri}>" for uri in uris)


def _content(message: OutboundMessage, tracking: TrackingLinks, unsubscribe: str) -> Part:
    html, text = message.html, message.text
    if html is None and text is None:
        raise RenderError("a message needs html or text")
    if message.track_clicks:
        rewrite = _click_rewriter(message, tracking, unsubscribe)
        html = None if html is None else rewrite_html_links(html, rewrite)
        text = None if text is None else rewrite_text_links(text, rewrite)
    if html is not None and message.track_opens:
        html = insert_pixel(html, tracking.open_url(message.message_id))
    if html is not None and text is not None:
        parts = [text_part(text, "plain"), text_part(html, "html")]
        return alternative(_boundary(message.message_id, text, html), parts)
    headers, body = text_part(text, "plain") if text is not None else text_part(html or "", "html")
    return [*headers, "MIME-Version: 1.0\r\n"], body  # the order the email package used


def _click_rewriter(message: OutboundMessage, tracking: TrackingLinks, unsubscribe: str) -> Rewrite:
    minted: dict[str, str | None] = {}  # the text part repeats the HTML's links: sign once

    def rewrite(url: str) -> str | None:
        if url not in minted:
            tracked = is_trackable(url) and url != unsubscribe
            minted[url] = tracking.click_url(message.message_id, url) if tracked else None
        return minted[url]

    return rewrite


def _boundary(message_id: UUID, text: str, html: str) -> str:
    # "=_" never occurs in quoted-printable or base64 output; the loop covers 7bit parts.
    # Searched as in text + html, without copying both.
    boundary = f"=_ml_{message_id.hex}"
    while (boundary in text or boundary in html
           or boundary in text[-len(boundary):] + html[:len(boundary)]):
        boundary += "_"
    return boundary

"""Render one queued message into the RFC 5322 bytes handed to the relay (spec §3, step 2).

Pure and deterministic: the same :class:`OutboundMessage` and tracking links give the
same bytes (up to the DKIM ``t=`` timestamp). The Message-ID is
``<{message_id}@{domain}>`` and the MIME boundary derives from the message id, so a
retried or re-rendered message (say, after a worker crash) keeps its Message-ID and
receivers can recognise the duplicate. A message that can never be rendered (a bad
custom header, a naive ``queued_at``) raises :class:`RenderError`: retrying cannot help.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from dataclasses import field
from email.errors import HeaderParseError
from email.message import EmailMessage
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
from consumers.delivery.policy import SMTP_VERBATIM
from consumers.delivery.signing import DkimSigner

if TYPE_CHECKING:
    from collections.abc import Mapping
    from datetime import datetime
    from uuid import UUID

__all__ = ["DkimSigner", "OutboundMessage", "RenderError", "TrackingLinks", "render"]

#: Custom headers that may not override ours (ours win; the API should refuse them).
RESERVED_HEADERS = frozenset({
    "from", "to", "cc", "bcc", "reply-to", "subject", "date", "message-id", "sender",
    "mime-version", "content-type", "content-transfer-encoding", "dkim-signature",
    "list-unsubscribe", "list-unsubscribe-post", "return-path", "received",
})
_HEADER_NAME = re.compile(r"[!-9;-~]+\Z")


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
    mime = EmailMessage(policy=SMTP_VERBATIM)
    try:
        _set_headers(mime, message, tracking)
        _set_body(mime, message, tracking)
        data = mime.as_bytes()
    except (ValueError, HeaderParseError) as error:
        raise RenderError(f"message {message.message_id}: {error}") from error
    return dkim.sign(data) if dkim is not None else data


def message_id_header(message_id: UUID, domain: str) -> str:
    """The deterministic ``Message-ID`` of a message sent from ``domain``."""
    return f"<{message_id}@{domain.lower().encode('idna').decode('ascii')}>"


def _set_headers(mime: EmailMessage, message: OutboundMessage, tracking: TrackingLinks) -> None:
    if message.queued_at.utcoffset() is None:
        raise RenderError("queued_at must be timezone-aware")
    mime["From"] = message.from_address
    mime["To"] = ", ".join(message.to)
    if message.cc:
        mime["Cc"] = ", ".join(message.cc)
    if message.reply_to:
        mime["Reply-To"] = message.reply_to
    mime["Subject"] = message.subject
    mime["Date"] = format_datetime(message.queued_at)
    mime["Message-ID"] = message_id_header(message.message_id, message.domain)
    mime["List-Unsubscribe"] = _list_unsubscribe(message, tracking)
    mime["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    for name, value in message.headers.items():
        if not _HEADER_NAME.match(name):
            raise RenderError(f"invalid header name {name!r}")
        if name.lower() not in RESERVED_HEADERS:
            mime[name] = value


def _list_unsubscribe(message: OutboundMessage, tracking: TrackingLinks) -> str:
    uris = [tracking.unsubscribe_url(message.message_id)]
    if message.unsubscribe_mailto:
        uris.append(f"mailto:{message.unsubscribe_mailto.removeprefix('mailto:')}")
    if not all(uri.isascii() and uri.isprintable() and ">" not in uri for uri in uris):
        raise RenderError(f"unsubscribe URI not printable ASCII: {uris!r}")
    return ", ".join(f"<{uri}>" for uri in uris)


def _set_body(mime: EmailMessage, message: OutboundMessage, tracking: TrackingLinks) -> None:
    html, text = message.html, message.text
    if html is None and text is None:
        raise RenderError("a message needs html or text")
    if message.track_clicks:
        rewrite = _click_rewriter(message, tracking)
        html = None if html is None else rewrite_html_links(html, rewrite)
        text = None if text is None else rewrite_text_links(text, rewrite)
    if html is not None and message.track_opens:
        html = insert_pixel(html, tracking.open_url(message.message_id))
    if text is not None:
        mime.set_content(text)
    if html is not None and text is not None:
        mime.add_alternative(html, subtype="html")
        for part in mime.iter_parts():
            del part["MIME-Version"]  # the email package repeats it on moved parts
        mime.set_boundary(_boundary(message.message_id, text + html))
    elif html is not None:
        mime.set_content(html, subtype="html")


def _click_rewriter(message: OutboundMessage, tracking: TrackingLinks) -> Rewrite:
    unsubscribe = tracking.unsubscribe_url(message.message_id)

    def rewrite(url: str) -> str | None:
        if not is_trackable(url) or url == unsubscribe:
            return None
        return tracking.click_url(message.message_id, url)

    return rewrite


def _boundary(message_id: UUID, content: str) -> str:
    # "=_" never occurs in quoted-printable or base64 output; the loop covers 7bit parts.
    boundary = f"=_ml_{message_id.hex}"
    while boundary in content:
        boundary += "_"
    return boundary

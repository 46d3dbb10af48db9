"""The ``email`` policy outbound mail was rendered with, kept for the rare header.

:mod:`consumers.delivery.mime_headers` writes header fields itself and falls back to this
policy only for values it cannot write (a non-ASCII local part, lone surrogates); the
parity tests render with it as the reference. It is ``email.policy.SMTP`` (CRLF,
78-column folding) with two changes:

* ``cte_type="7bit"``: non-ASCII bodies are quoted-printable or base64, so the relay never
  needs 8BITMIME;
* URL-bearing headers (:data:`VERBATIM_HEADERS`) are stored and written exactly as given.
  The stock policy would RFC 2047-encode a URL token longer than a line, and an encoded
  ``List-Unsubscribe`` is not a URL any more.
"""

from __future__ import annotations

from email.policy import EmailPolicy
from typing import TYPE_CHECKING
from typing import Any

if TYPE_CHECKING:
    from email.message import EmailMessage

    _Base = EmailPolicy[EmailMessage]
else:
    _Base = EmailPolicy  # not subscriptable at runtime

VERBATIM_HEADERS = frozenset({"list-unsubscribe", "list-unsubscribe-post"})


class VerbatimUrlPolicy(_Base):
    """SMTP policy that keeps :data:`VERBATIM_HEADERS` unparsed and unfolded."""

    def header_store_parse(self, name: str, value: Any) -> tuple[str, Any]:
        """Keep verbatim headers as plain strings; parse the others as usual."""
        if name.lower() in VERBATIM_HEADERS and isinstance(value, str):
            if "\r" in value or "\n" in value:
                raise ValueError(f"header {name} may not contain a line break")
            return name, value
        return super().header_store_parse(name, value)


# refold_source="none" writes plain-string values as they are; parsed ones still fold.
SMTP_VERBATIM = VerbatimUrlPolicy(linesep="\r\n", cte_type="7bit", refold_source="none")

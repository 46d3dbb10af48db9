"""What an outbound message may contain: the one rule set of the send API and the renderer.

The send endpoints (``/api/send``, ``/api/batch``, ``/api/bulk-send``) refuse a field that
breaks a rule with ``400 validation_error`` before anything is recorded, and the delivery
renderer checks the very same rules, so a message the API accepted always renders.

* One-line fields (subject, custom header values, addresses, tag, metadata keys): no
  control character but tab — no C0 control (U+0000–U+001F, which holds CR, LF, VT, FF and
  U+001C–U+001E), no DEL (U+007F) — and no other line break that ``str.splitlines`` or
  header folding knows: U+0085, U+2028, U+2029.
* Text (``html``, ``text``, metadata string values): tab, LF and CR only of the C0
  controls; no DEL.
* Everywhere: no lone surrogate (U+D800–U+DFFF), which is not Unicode text and cannot be
  encoded as UTF-8.
* Custom header names: RFC 5322 field names (printable ASCII but the colon, nothing else:
  a trailing newline is refused too), and none that MailerLogic writes itself
  (:data:`FORBIDDEN_HEADERS`, any ``Content-*``): they would be dropped or overridden.

Pure, standard library only: the API (``commands``) and the renderer (``consumers``) both
import it.
"""

from __future__ import annotations

import re

__all__ = ["FORBIDDEN_HEADERS", "describe", "field_name_problem", "header_name_problem",
           "is_forbidden_header", "line_problem", "text_problem"]

#: Header fields the renderer writes (or the relay adds); a custom one would be lost.
FORBIDDEN_HEADERS = frozenset({
    "from", "to", "cc", "bcc", "reply-to", "subject", "date", "message-id", "sender",
    "mime-version", "content-type", "content-transfer-encoding", "dkim-signature",
    "list-unsubscribe", "list-unsubscribe-post", "return-path", "received",
})
#: Every ``Content-*`` field describes the MIME structure, which is ours.
FORBIDDEN_HEADER_PREFIX = "content-"

# Every line break str.splitlines() breaks at (header folding treats them the same).
LINE_BREAKS = "\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"
_SURROGATES = "\ud800-\udfff"
_NOT_IN_LINE = re.compile(f"[\x00-\x08\x0a-\x1f\x7f\x85\u2028\u2029{_SURROGATES}]")
_NOT_IN_TEXT = re.compile(f"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f{_SURROGATES}]")
_FIELD_NAME = re.compile(r"[!-9;-~]+")  # RFC 5322 ftext; used with fullmatch, never "$"


def line_problem(value: str) -> str | None:
    """Why ``value`` may not be a one-line field, or ``None`` when it may."""
    found = _NOT_IN_LINE.search(value)
    return None if found is None else f"must not contain {describe(found[0])}"


def text_problem(value: str) -> str | None:
    """Why ``value`` may not be a message body (or metadata text), or ``None`` when it may."""
    found = _NOT_IN_TEXT.search(value)
    return None if found is None else f"must not contain {describe(found[0])}"


def field_name_problem(name: str) -> str | None:
    """Why ``name`` is not an RFC 5322 field name at all, or ``None`` when it is one."""
    if _FIELD_NAME.fullmatch(name):
        return None
    return f"header {name!r} is not a header name: printable ASCII without spaces or colons only"


def header_name_problem(name: str) -> str | None:
    """Why ``name`` may not be a custom header's name, or ``None`` when it may."""
    if (problem := field_name_problem(name)) is not None:
        return problem
    if is_forbidden_header(name):
        return f"header {name!r} is written by MailerLogic and cannot be set"
    return None


def is_forbidden_header(name: str) -> bool:
    """Whether ``name`` is one of the header fields MailerLogic writes itself."""
    return name.lower() in FORBIDDEN_HEADERS or name.lower().startswith(FORBIDDEN_HEADER_PREFIX)


def describe(char: str) -> str:
    """``U+2028 (a line break)``: a refused character, named so a reader can find it."""
    code = ord(char)
    if 0xD800 <= code <= 0xDFFF:
        kind = "a lone surrogate, not Unicode text"
    elif char in LINE_BREAKS:
        kind = "a line break"
    else:
        kind = "a control character"
    return f"U+{code:04X} ({kind})"

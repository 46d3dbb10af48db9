"""Inbound bounce and complaint reports (spec §14): parsing, pure.

Authentication (the signature over timestamp, endpoint and body; stale and replayed signatures)
lives in ``security.inbound_signature``; this module only reads reports.

Formats, by Content-Type: ``application/json`` (one object or a list); ``multipart/report`` with a
``message/delivery-status`` part (RFC 3464 DSN) or a ``message/feedback-report`` part (RFC 5965
ARF); a bare ``message/delivery-status`` body; ``message/rfc822`` wrapping a whole report email.
DSN recipients whose Action is not failed/delayed yield no report (an empty list is valid). A bounce
is hard when Action is failed and the status (else the SMTP code) is 5.x.x; otherwise it is soft.
Parsing never recurses without a bound: JSON nested deeper than 64 levels, or a MIME body with more
than :data:`MAX_MIME_PARTS` multipart or message parts, is ``invalid_report`` (400), not a 500.

Our message id comes from JSON ``message_id``, else the returned original's
``X-MailerLogic-Message-Id``, its ``Message-ID: <uuid@domain>``, or the DSN ``Original-Envelope-Id``.
``occurred_at`` is the report's own time (DSN Last-Attempt-Date, else Arrival-Date; ARF Arrival-Date),
so a report posted bare or wrapped gets the same ``report_id``: the SHA-256 of the canonical fields.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from dataclasses import field
from datetime import UTC
from datetime import datetime
from email import policy
from email.message import Message
from email.parser import BytesParser
from email.parser import HeaderParser
from email.utils import parseaddr
from email.utils import parsedate_to_datetime
from typing import Any
from typing import Final
from typing import Literal
from uuid import UUID

from event_store.errors import DomainError
from web import json_input

MESSAGE_ID_HEADER: Final = "X-MailerLogic-Message-Id"
MAX_REPORTS: Final = 1000
#: Multipart and message/* parts in one MIME report (a bound on the parser's recursion).
MAX_MIME_PARTS: Final = 64
STATUSES: Final = {"invalid_report": 400, "unsupported_media_type": 415}
Kind = Literal["bounce", "complaint"]
BounceType = Literal["hard", "soft"]
_MIME_TYPES: Final = frozenset({"multipart/report", "message/delivery-status", "message/rfc822"})
_ORIGINALS: Final = ("message/rfc822", "text/rfc822-headers")
_STATUS_RE = re.compile(r"[245]\.\d{1,3}\.\d{1,3}")
_CODE_RE = re.compile(r"(?<![\d.])([245]\d\d)(?=[\s-]|$)")
_FEEDBACK_RE = re.compile(r"[a-z][a-z0-9-]{0,31}")
# A Content-Type field naming a composite type (counted generously: comments, folding, any case).
_COMPOSITE_RE = re.compile(rb"^content-type[ \t]*:(?:[^\r\n]|\r?\n[ \t])*?(?:multipart|message)",
                           re.I | re.M)
_UUID_RE = re.compile(r"<?([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})(?:@[^>]*)?>?", re.I)


class ReportRejected(DomainError):
    """An inbound report was refused; ``code`` says why and sets the HTTP status."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message, code=code, status=STATUSES.get(code, 400))


@dataclass(frozen=True)
class Report:
    """One bounced or complained-about recipient, with a stable ``report_id``."""

    kind: Kind
    message_id: str | None
    recipient: str
    bounce_type: BounceType | None
    code: int | None
    status: str | None
    diagnostic: str
    occurred_at: datetime | None
    feedback_type: str | None
    report_id: str = field(init=False)

    def __post_init__(self) -> None:
        when = self.occurred_at.isoformat() if self.occurred_at else None
        canonical = [self.kind, self.message_id, self.recipient, self.bounce_type, self.code,
                     self.status, self.diagnostic, when, self.feedback_type]
        raw = json.dumps(canonical, separators=(",", ":")).encode()
        object.__setattr__(self, "report_id", hashlib.sha256(raw).hexdigest())


def parse(content_type: str, body: bytes, kind: Kind) -> list[Report]:
    """Every report in one inbound body; malformed input raises ReportRejected."""
    if "\r" in content_type or "\n" in content_type:
        raise ReportRejected("invalid_report", "the Content-Type header is malformed")
    media = content_type.partition(";")[0].strip().lower()
    if media == "application/json":
        return _from_json(body, kind)
    if media not in _MIME_TYPES:
        raise ReportRejected("unsupported_media_type", "send application/json, multipart/report, "
                             "message/delivery-status or message/rfc822")
    head = f"Content-Type: {content_type}\r\n\r\n".encode()
    _check_mime_parts(head + body)
    try:
        found = _from_mime(BytesParser(policy=policy.default).parsebytes(head + body), kind)
    except (ValueError, LookupError, TypeError, AttributeError) as exc:
        raise _reject(f"the report could not be read: {exc}") from None
    except RecursionError:  # a composite type the count above missed: still never a 500
        raise _reject(f"the report nests more than {MAX_MIME_PARTS} MIME parts") from None
    if len(found) > MAX_REPORTS:
        raise _reject(f"at most {MAX_REPORTS} recipients per report")
    return found


def _check_mime_parts(data: bytes) -> None:
    """Refuse, before the (recursive) email parser runs, a body with too many composite parts."""
    if len(_COMPOSITE_RE.findall(data)) > MAX_MIME_PARTS:
        raise _reject(f"a report may hold at most {MAX_MIME_PARTS} multipart or message parts")


def _reject(reason: str) -> ReportRejected:
    return ReportRejected("invalid_report", reason)


def _from_mime(msg: Message, kind: Kind) -> list[Report]:
    if msg.get_content_type() == "message/rfc822":
        return _from_mime(_inner(msg), kind)
    if msg.get_content_type() == "message/delivery-status":
        return _dsn(msg, None, msg, kind)
    if msg.get_content_type() != "multipart/report":
        raise _reject(f"the message is {msg.get_content_type()}, not a multipart/report")
    parts = {part.get_content_type(): part for part in reversed(_parts(msg))}
    original = next((_headers(parts[t]) for t in _ORIGINALS if t in parts), None)
    if "message/delivery-status" in parts:
        return _dsn(parts["message/delivery-status"], original, msg, kind)
    if "message/feedback-report" in parts:
        return _arf(parts["message/feedback-report"], original, msg, kind, parts.get("text/plain"))
    raise _reject("a multipart/report needs a message/delivery-status or message/feedback-report part")


def _parts(msg: Message) -> list[Message]:
    payload = msg.get_payload()
    return [part for part in payload if isinstance(part, Message)] if isinstance(payload, list) else []


def _inner(part: Message) -> Message:
    if not (inner := _parts(part)):
        raise _reject(f"the {part.get_content_type()} part is empty")
    return inner[0]


def _decoded(part: Message) -> str:
    payload = part.get_payload(decode=True)
    if not isinstance(payload, bytes):
        return ""
    try:
        return payload.decode(part.get_content_charset() or "utf-8", "replace")
    except LookupError:  # an unknown charset must not cost us the report
        return payload.decode("ascii", "replace")


def _headers(part: Message) -> Message:
    if part.get_content_type() == "message/rfc822":
        return _inner(part)
    return HeaderParser(policy=policy.default).parsestr(_decoded(part))


def _dsn(status: Message, original: Message | None, report: Message, kind: Kind) -> list[Report]:
    if kind != "bounce":
        raise _reject("a delivery-status report belongs on the bounce webhook")
    blocks = _parts(status)
    if len(blocks) < 2:
        raise _reject("the delivery-status part has no per-recipient fields")
    message_id = _our_id(original, blocks[0].get("Original-Envelope-Id"))
    fallback = _date(blocks[0].get("Arrival-Date")) or _date(report.get("Date"))
    return [r for block in blocks[1:] if (r := _dsn_recipient(block, message_id, fallback)) is not None]


def _dsn_recipient(block: Message, message_id: str | None, fallback: datetime | None) -> Report | None:
    action = _text(block.get("Action")).lower()
    if action not in ("failed", "delayed"):
        return None  # delivered, relayed, expanded: nothing went wrong
    recipient = _address(block.get("Final-Recipient") or block.get("Original-Recipient"))
    status = _status(block.get("Status"))
    diagnostic = re.sub(r"^[\w-]+\s*;\s*", "", _text(block.get("Diagnostic-Code")))
    match = _CODE_RE.search(diagnostic)
    code = int(match.group(1)) if match else None
    klass = status[0] if status else str(code or "")[:1]
    bounce_type: BounceType = "hard" if action == "failed" and klass == "5" else "soft"
    occurred = _date(block.get("Last-Attempt-Date")) or fallback
    return Report("bounce", message_id, recipient, bounce_type, code, status, diagnostic, occurred, None)


def _arf(feedback: Message, original: Message | None, report: Message, kind: Kind,
         human: Message | None) -> list[Report]:
    if kind != "complaint":
        raise _reject("a feedback report belongs on the complaint webhook")
    fields = _inner(feedback)
    feedback_type = _text(fields.get("Feedback-Type")).lower()
    if not _FEEDBACK_RE.fullmatch(feedback_type):
        raise _reject("the feedback report has no valid Feedback-Type")
    rcpts = fields.get_all("Original-Rcpt-To") or ([original.get("To", "")] if original is not None else [])
    occurred = _date(fields.get("Arrival-Date")) or _date(report.get("Date"))
    message_id = _our_id(original, None)
    diagnostic = _text(_decoded(human) if human is not None else "")[:500]
    return [Report(kind, message_id, _address(rcpt), None, None, None, diagnostic, occurred, feedback_type)
            for rcpt in dict.fromkeys(map(str, rcpts))]


def _from_json(body: bytes, kind: Kind) -> list[Report]:
    try:
        data = json_input.loads(body)
    except json_input.JsonRefused as exc:
        raise _reject(str(exc)) from None
    except ValueError:
        raise _reject("the body is not valid JSON") from None
    items = data if isinstance(data, list) else [data]
    if not 1 <= len(items) <= MAX_REPORTS:
        raise _reject(f"send between 1 and {MAX_REPORTS} reports")
    return [_json_report(item, kind) for item in items]


def _json_report(item: Any, kind: Kind) -> Report:
    if not isinstance(item, dict):
        raise _reject("each report must be a JSON object")
    raw_id = item.get("message_id")
    message_id = _our_id(None, raw_id)
    if raw_id not in (None, "") and message_id is None:
        raise _reject("message_id must be the email_id (a UUID)")
    diagnostic = item.get("diagnostic", "")
    if not isinstance(diagnostic, str):
        raise _reject("diagnostic must be a string")
    occurred = _json_time(item.get("timestamp"))
    bounce_type, code, status = _bounce_fields(item, required=kind == "bounce")  # typed on both kinds
    if kind == "complaint":
        feedback = item.get("feedback_type", "abuse")
        if not isinstance(feedback, str) or not _FEEDBACK_RE.fullmatch(feedback.lower()):
            raise _reject("feedback_type must be a word such as abuse")
        return Report(kind, message_id, _address(item.get("recipient")), None, None, None, diagnostic,
                      occurred, feedback.lower())
    return Report(kind, message_id, _address(item.get("recipient")), bounce_type, code, status, diagnostic,
                  occurred, None)


def _bounce_fields(item: dict[str, Any], *, required: bool) -> tuple[Any, int | None, str | None]:
    """``type``, ``code`` and ``status``: a bounce needs ``type``; given on a complaint, each must
    still be well formed (it is ignored there), so a malformed report is never accepted."""
    bounce_type, code = item.get("type"), item.get("code")
    if bounce_type not in ("hard", "soft") and (required or bounce_type is not None):
        raise _reject("type must be hard or soft")
    if code is not None and (type(code) is not int or not 200 <= code <= 599):
        raise _reject("code must be an SMTP reply code such as 550")
    return bounce_type, code, _status(item.get("status"))


def _json_time(value: Any) -> datetime | None:
    if value is None:
        return None
    try:
        if isinstance(value, str):
            return _utc(datetime.fromisoformat(value))
        if type(value) in (int, float):
            return datetime.fromtimestamp(value, UTC)
    except (ValueError, OverflowError, OSError):
        pass
    raise _reject("timestamp must be ISO 8601 (2024-03-15T14:30:00Z) or Unix seconds")


def _text(value: Any) -> str:
    return " ".join(str(value or "").split())


def _address(value: Any) -> str:
    addr = parseaddr(_text(value).rpartition(";")[2])[1].lower()
    local, _, domain = addr.rpartition("@")
    if not local or "." not in domain:
        raise _reject(f"{_text(value)[:100]!r} is not a recipient address")
    return addr


def _status(value: Any) -> str | None:
    text = _text(value).split(" ")[0]
    return text if _STATUS_RE.fullmatch(text) else None


def _our_id(original: Message | None, fallback: Any) -> str | None:
    found = [original.get(MESSAGE_ID_HEADER), original.get("Message-ID")] if original is not None else []
    matches = (_UUID_RE.fullmatch(_text(value)) for value in [*found, fallback])
    return next((str(UUID(match.group(1))) for match in matches if match), None)


def _date(value: Any) -> datetime | None:
    try:
        return _utc(parsedate_to_datetime(_text(value))) if value else None
    except (ValueError, TypeError, IndexError):
        return None


def _utc(when: datetime) -> datetime:
    return when.astimezone(UTC) if when.tzinfo else when.replace(tzinfo=UTC)

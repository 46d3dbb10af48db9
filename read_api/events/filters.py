"""Query-string parsing of the Events API (spec §8) and its opaque cursors; every problem is a 400.

:class:`EventFilters` says *which* events (shared by the Events API, the streaming export and
export jobs); :class:`PageRequest` says *where* in them (``page``/``limit`` or a ``cursor``).
A cursor is ``base64url(JSON [1, occurred_at seconds, event_id, filter fingerprint, page])``:
it resumes right after the last row shown, and a cursor used with other filters is refused.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from dataclasses import dataclass
from datetime import UTC
from datetime import datetime
from typing import TYPE_CHECKING
from typing import Any
from uuid import UUID

from event_store.envelope import EMAIL_EVENT_TYPES
from read_api.params import BadParam
from read_api.params import parse_when
from read_api.params import uuid_param
from read_api.params import whole_number

if TYPE_CHECKING:
    from collections.abc import Mapping

DEFAULT_LIMIT, MAX_LIMIT, MAX_PAGE = 50, 1000, 1_000_000
MAX_TEXT = 256  # longest accepted recipient / from / tag filter
_CURSOR_VERSION = 1


@dataclass(frozen=True)
class EventFilters:
    """Which events: all given filters must hold (``types`` empty means every public type).

    ``recipient`` and ``sender`` (the ``from`` parameter) match case-insensitively anywhere in
    the address; ``tag`` matches exactly; ``start`` is inclusive and ``end`` exclusive.
    """

    email_id: UUID | None = None
    types: tuple[str, ...] = ()
    recipient: str | None = None
    sender: str | None = None
    tag: str | None = None
    start: datetime | None = None
    end: datetime | None = None

    @property
    def event_types(self) -> tuple[str, ...]:
        """The types to show: the asked ones, else every public type."""
        return self.types or EMAIL_EVENT_TYPES

    def fingerprint(self) -> str:
        """A short stable digest of the filters (what a cursor is bound to)."""
        canon = [str(self.email_id or ""), sorted(self.types), self.recipient or "", self.sender or "",
                 self.tag or "", _stamp(self.start), _stamp(self.end)]
        return hashlib.sha256(json.dumps(canon).encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Cursor:
    """Where a walk stands: rows strictly before ``(occurred_at, event_id)`` come next."""

    occurred_at: datetime
    event_id: UUID
    page: int


@dataclass(frozen=True)
class PageRequest:
    """One page: ``limit`` rows after ``cursor``, else at offset ``(page - 1) * limit``."""

    page: int = 1
    limit: int = DEFAULT_LIMIT
    cursor: Cursor | None = None

    @property
    def offset(self) -> int:
        """Rows skipped before this page (0 with a cursor)."""
        return 0 if self.cursor else (self.page - 1) * self.limit


def parse_filters(args: Mapping[str, str]) -> EventFilters:
    """``email_id``, ``type`` (comma list), ``recipient``, ``from``, ``tag``, ``from_/to_timestamp``."""
    email_id = uuid_param(args, "email_id")
    start = parse_when("from_timestamp", args["from_timestamp"], end=False) \
        if args.get("from_timestamp") else None
    end = parse_when("to_timestamp", args["to_timestamp"], end=True) if args.get("to_timestamp") else None
    if start and end and start >= end:
        raise BadParam("from_timestamp", "must be before to_timestamp")
    return EventFilters(email_id, _types(args.get("type") or ""), _text(args, "recipient"),
                        _text(args, "from"), _text(args, "tag"), start, end)


def parse_page(args: Mapping[str, str], filters: EventFilters) -> PageRequest:
    """``page`` (1-based), ``limit`` (default 50, at most 1000) or ``cursor`` (not both with page)."""
    limit = whole_number(args, "limit", DEFAULT_LIMIT, MAX_LIMIT)
    if not args.get("cursor"):
        return PageRequest(whole_number(args, "page", 1, MAX_PAGE), limit)
    if args.get("page"):
        raise BadParam("page", "give either page or cursor, not both")
    return PageRequest(limit=limit, cursor=decode_cursor(args["cursor"], filters))


def encode_cursor(occurred_at: datetime, event_id: UUID, filters: EventFilters, page: int) -> str:
    """The opaque, URL-safe token that resumes after ``(occurred_at, event_id)``."""
    body = [_CURSOR_VERSION, int(occurred_at.timestamp()), str(event_id), filters.fingerprint(), page]
    return base64.urlsafe_b64encode(json.dumps(body, separators=(",", ":")).encode()).decode().rstrip("=")


MAX_CURSOR_CHARS = 512


def decode_cursor(token: str, filters: EventFilters) -> Cursor:
    """The position in ``token``; 400 when it is not ours or was issued for other filters."""
    try:
        if len(token) > MAX_CURSOR_CHARS:  # ours are ~150: a longer one is not, and is never parsed
            raise ValueError(token)
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        version, seconds, event_id, fingerprint, page = json.loads(raw)
        if version != _CURSOR_VERSION or not isinstance(seconds, int) or not isinstance(page, int) \
                or not 1 <= page <= MAX_PAGE:
            raise ValueError(token)
        cursor = Cursor(datetime.fromtimestamp(seconds, UTC), UUID(event_id), page)
    except (ValueError, TypeError, binascii.Error, OverflowError, OSError, AttributeError, RecursionError):
        raise BadParam("cursor", "is not a cursor this API issued; start without one") from None
    if fingerprint != filters.fingerprint():
        raise BadParam("cursor", "was issued for other filters; repeat them or start without a cursor")
    return cursor


def _types(text: str) -> tuple[str, ...]:
    names = tuple(sorted({name.strip() for name in text.split(",") if name.strip()}))
    unknown = [name for name in names if name not in EMAIL_EVENT_TYPES]
    if unknown:
        raise BadParam("type", f"unknown event type {unknown[0][:40]!r}; use {', '.join(EMAIL_EVENT_TYPES)}")
    return names


def _text(args: Mapping[str, str], name: str) -> str | None:
    value = args.get(name) or None
    if value is not None and len(value) > MAX_TEXT:
        raise BadParam(name, f"must be at most {MAX_TEXT} characters")
    return value


def _stamp(value: datetime | None) -> Any:
    return int(value.timestamp()) if value else None

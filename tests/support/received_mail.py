"""Checks over what a test SMTP server received: copies grouped by Message-ID, compared byte
for byte up to the ``DKIM-Signature`` header (its ``t=`` is the signing time, so a re-sent
message legitimately carries another one)."""

from __future__ import annotations

import difflib
import email
from email.policy import default
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterable

    from tests.support.smtp_server import Received


def without_dkim(data: bytes) -> bytes:
    """``data`` without its ``DKIM-Signature`` header fields (and their folded lines)."""
    head, separator, body = data.partition(b"\r\n\r\n")
    kept: list[bytes] = []
    dropping = False
    for line in head.split(b"\r\n"):
        if line[:1] not in (b" ", b"\t"):  # a new field starts
            dropping = line.lower().startswith(b"dkim-signature:")
        if not dropping:
            kept.append(line)
    return b"\r\n".join(kept) + separator + body


def message_id(data: bytes) -> str:
    """The ``Message-ID`` header of a received message."""
    value = email.message_from_bytes(data, policy=default)["Message-ID"]
    assert value, f"no Message-ID in {data[:300]!r}"
    return str(value)


def by_message_id(received: Iterable[Received]) -> dict[str, list[Received]]:
    """Every received copy, grouped by Message-ID, in arrival order."""
    groups: dict[str, list[Received]] = {}
    for copy in received:
        groups.setdefault(message_id(copy.data), []).append(copy)
    return groups


def differences(copies: list[Received]) -> list[str]:
    """A unified diff of each copy that differs from the first (DKIM-Signature left out)."""
    first = without_dkim(copies[0].data)
    found: list[str] = []
    for copy in copies[1:]:
        other = without_dkim(copy.data)
        if other != first or copy.rcpt_tos != copies[0].rcpt_tos or copy.mail_from != copies[0].mail_from:
            found.extend(difflib.unified_diff(
                first.decode("ascii", "replace").splitlines(), other.decode("ascii", "replace").splitlines(),
                f"first {copies[0].rcpt_tos}", f"again {copy.rcpt_tos}", lineterm="", n=1))
    return found

"""DKIM signing (RFC 6376) with dkimpy; no cryptography is written here."""

from __future__ import annotations

import re
from dataclasses import dataclass
from dataclasses import field

import dkim

#: Header fields covered by the signature when present, in this order. RFC 8058 requires
#: List-Unsubscribe and List-Unsubscribe-Post to be signed.
SIGNED_HEADERS = (
    "from", "to", "cc", "reply-to", "subject", "date", "message-id",
    "list-unsubscribe", "list-unsubscribe-post", "mime-version", "content-type",
)
#: Signed once more than they occur, so a copy added in transit breaks the signature.
OVERSIGNED_HEADERS = frozenset({"from", "subject", "date", "message-id", "list-unsubscribe"})
_FIELD_NAME = re.compile(rb"^([!-9;-~]+)[ \t]*:", re.MULTILINE)


@dataclass(frozen=True)
class DkimSigner:
    """One sending domain's DKIM key: ``selector._domainkey.domain`` serves the public half."""

    domain: str
    selector: str
    private_key_pem: bytes = field(repr=False)

    def sign(self, message: bytes) -> bytes:
        """The message with a ``DKIM-Signature`` header (rsa-sha256, relaxed/relaxed) prepended."""
        signature: bytes = dkim.sign(
            message,
            self.selector.encode("ascii"),
            self.domain.encode("ascii"),
            self.private_key_pem,
            canonicalize=(b"relaxed", b"relaxed"),
            include_headers=headers_to_sign(message),
            linesep=b"\r\n",
        )
        return signature + message


def headers_to_sign(message: bytes) -> list[bytes]:
    """The ``h=`` list: present fields of :data:`SIGNED_HEADERS`, then the oversigned ones."""
    present = [name.lower() for name in _FIELD_NAME.findall(_header_block(message))]
    signed = [name for name in SIGNED_HEADERS if name.encode() in present]
    names = [name for name in signed for _ in range(present.count(name.encode()))]
    names += [name for name in signed if name in OVERSIGNED_HEADERS]
    return [name.encode("ascii") for name in names]


def _header_block(message: bytes) -> bytes:
    return re.split(rb"\r?\n\r?\n", message, maxsplit=1)[0]

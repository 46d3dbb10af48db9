"""DKIM signing (RFC 6376): rsa-sha256 with relaxed/relaxed canonicalization.

The canonicalization and the ``DKIM-Signature`` header are built here; the RSA PKCS#1 v1.5
signature is OpenSSL's, through ``cryptography``. Each private key is parsed once per
process (:func:`_load_key` caches it on the PEM bytes), since a signer is built per message.
The tags are dkimpy's, in its order (``v a c d i q s t h bh b``), and the output verifies
with dkimpy and OpenDKIM (``tests/unit/delivery/test_dkim_signer.py`` and the integration
test). Bare LF line ends are read as CRLF. A key that cannot be used, or a message without
From, raises :class:`DkimError`, a ``ValueError``: retrying cannot help.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import re
import time
from dataclasses import dataclass
from dataclasses import field

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.asymmetric import rsa

#: Header fields covered by the signature when present, in this order. RFC 8058 requires
#: List-Unsubscribe and List-Unsubscribe-Post to be signed.
SIGNED_HEADERS = (
    "from", "to", "cc", "reply-to", "subject", "date", "message-id",
    "list-unsubscribe", "list-unsubscribe-post", "mime-version", "content-type",
)
#: Signed once more than they occur, so a copy added in transit breaks the signature.
OVERSIGNED_HEADERS = frozenset({"from", "subject", "date", "message-id", "list-unsubscribe"})
#: Longest line of the folded ``DKIM-Signature`` header, CRLF excluded (RFC 5322 §2.1.1).
MAX_LINE = 78
#: RFC 8301: signers MUST use RSA keys of at least 1024 bits.
MIN_KEY_BITS = 1024

_FIELD_NAME = re.compile(rb"^([!-9;-~]+)[ \t]*:", re.MULTILINE)
_NAME = re.compile(rb"[!-9;-~]+")
_FIELD_START = re.compile(rb"\r\n(?![ \t])")  # a line that is not a continuation
_WSP_RUN = re.compile(rb"[ \t]+")
_PADDING = padding.PKCS1v15()
_SHA256 = hashes.SHA256()


class DkimError(ValueError):
    """The message cannot be signed: an unusable key, or a message DKIM cannot cover."""


@dataclass(frozen=True)
class DkimSigner:
    """One sending domain's DKIM key: ``selector._domainkey.domain`` serves the public half."""

    domain: str
    selector: str
    private_key_pem: bytes = field(repr=False)

    def sign(self, message: bytes, *, timestamp: int | None = None) -> bytes:
        """The message with a ``DKIM-Signature`` header (rsa-sha256, relaxed/relaxed) prepended."""
        key = _load_key(self.private_key_pem)
        head, body = _split(_crlf(message))
        fields = _fields(head)
        names = _names_to_sign([name.lower() for name, _ in fields])
        if b"from" not in names:
            raise DkimError("the message has no From header field, which DKIM must sign")
        body_hash = base64.b64encode(hashlib.sha256(_relaxed_body(body)).digest())
        lines = _fold(_tags(self.domain, self.selector, timestamp, names, body_hash))
        unsigned = b"\r\n".join(lines) + b"\r\n b="
        signed_data = b"".join(_select(fields, names)) + _relaxed_field(unsigned).removesuffix(b"\r\n")
        b_value = base64.b64encode(key.sign(signed_data, _PADDING, _SHA256))
        return unsigned + b"\r\n".join(_chunks(b_value)) + b"\r\n" + message


def headers_to_sign(message: bytes) -> list[bytes]:
    """The ``h=`` list: present fields of :data:`SIGNED_HEADERS`, then the oversigned ones."""
    present = [name.lower() for name in _FIELD_NAME.findall(_header_block(message))]
    return _names_to_sign(present)


def _names_to_sign(present: list[bytes]) -> list[bytes]:
    signed = [name for name in SIGNED_HEADERS if name.encode() in present]
    names = [name for name in signed for _ in range(present.count(name.encode()))]
    names += [name for name in signed if name in OVERSIGNED_HEADERS]
    return [name.encode("ascii") for name in names]


def _header_block(message: bytes) -> bytes:
    return re.split(rb"\r?\n\r?\n", message, maxsplit=1)[0]


@functools.lru_cache(maxsize=1024)
def _load_key(pem: bytes) -> rsa.RSAPrivateKey:
    """The RSA private key of a PKCS#1 or PKCS#8 PEM, parsed once per PEM."""
    try:
        key = serialization.load_pem_private_key(pem, password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm) as error:  # TypeError: encrypted
        raise DkimError("the DKIM private key is not an unencrypted PKCS#1 or PKCS#8 PEM") from error
    if not isinstance(key, rsa.RSAPrivateKey):
        raise DkimError("the DKIM private key is not an RSA key")
    if key.key_size < MIN_KEY_BITS:
        raise DkimError(f"the DKIM key has {key.key_size} bits; RFC 8301 wants at least {MIN_KEY_BITS}")
    return key


def _crlf(message: bytes) -> bytes:
    """``message`` with every bare LF made CRLF (a bare CR stays, as in dkimpy)."""
    if message.count(b"\n") == message.count(b"\r\n"):
        return message
    return message.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


def _split(message: bytes) -> tuple[bytes, bytes]:
    """The header block without its last CRLF, and the body after the empty line."""
    if message.startswith(b"\r\n"):
        return b"", message[2:]
    end = message.find(b"\r\n\r\n")
    if end < 0:
        return message, b""
    return message[:end], message[end + 4:]


def _fields(head: bytes) -> list[tuple[bytes, bytes]]:
    """``(name, whole field)`` pairs in message order; the field keeps its folding."""
    fields: list[tuple[bytes, bytes]] = []
    for text in _FIELD_START.split(head):
        if not text:
            continue
        name = text.partition(b":")[0].rstrip(b" \t")
        if b":" not in text or not _NAME.fullmatch(name):
            raise DkimError(f"malformed header field {text[:40]!r}")
        fields.append((name, text))
    return fields


def _select(fields: list[tuple[bytes, bytes]], names: list[bytes]) -> list[bytes]:
    """The relaxed fields ``h=`` names, each name taking its last unused instance (§5.4.2)."""
    instances: dict[bytes, list[bytes]] = {}
    for name, text in fields:
        instances.setdefault(name.lower(), []).append(text)
    # A name past its instances (oversigning) selects nothing: the null string.
    return [_relaxed_field(instances[name].pop()) for name in names if instances.get(name)]


def _relaxed_field(text: bytes) -> bytes:
    """RFC 6376 §3.4.2: lowercase name, unfolded value, WSP runs as one SP, trimmed; CRLF."""
    name, _, value = text.partition(b":")
    value = _WSP_RUN.sub(b" ", value.replace(b"\r\n", b"")).strip(b" \t")
    return name.rstrip(b" \t").lower() + b":" + value + b"\r\n"


def _relaxed_body(body: bytes) -> bytes:
    """RFC 6376 §3.4.4: WSP runs as one SP, none at line ends, no trailing empty lines."""
    if b"\t" in body or b"  " in body:
        body = _WSP_RUN.sub(b" ", body)
    body = body.replace(b" \r\n", b"\r\n")  # after the runs, at most one SP ends a line
    # An unterminated last line loses its WSP too, as the RFC says (dkimpy keeps it; OpenDKIM
    # drops it and the added CRLF). SMTP ends the data with CRLF, and then all three agree.
    body = body.removesuffix(b" ")
    end = len(body)
    while body.endswith(b"\r\n", 0, end):
        end -= 2
    # An empty body hashes as the empty string (§3.4.4); a last line gets its CRLF.
    return body[:end] + b"\r\n" if end else b""


def _tags(domain: str, selector: str, timestamp: int | None, names: list[bytes],
          body_hash: bytes) -> list[bytes]:
    """The tags before ``b=``, as dkimpy writes them (``h=`` joined by `` : ``)."""
    try:
        d, s = domain.encode("ascii"), selector.encode("ascii")
    except UnicodeEncodeError:
        raise DkimError(f"DKIM needs an A-label domain and selector: {domain!r}, {selector!r}") from None
    t = str(int(time.time()) if timestamp is None else timestamp).encode("ascii")
    return [b"v=1", b"a=rsa-sha256", b"c=relaxed/relaxed", b"d=" + d, b"i=@" + d, b"q=dns/txt",
            b"s=" + s, b"t=" + t, b"h=" + b" : ".join(names), b"bh=" + body_hash]


def _fold(tags: list[bytes]) -> list[bytes]:
    """``DKIM-Signature: tag; tag;`` folded at spaces only, so unfolding restores it exactly."""
    lines: list[bytes] = []
    line = b"DKIM-Signature:"
    for word in (b"; ".join(tags) + b";").split(b" "):
        if len(line) + 1 + len(word) > MAX_LINE:
            lines.append(line)
            line = b""
        line += b" " + word
    return [*lines, line]


def _chunks(b_value: bytes) -> list[bytes]:
    """``b=``'s value cut to fit the `` b=`` line and continuation lines (FWS is ignored in it)."""
    first = MAX_LINE - len(b" b=")
    rest = [b" " + b_value[i:i + MAX_LINE - 1] for i in range(first, len(b_value), MAX_LINE - 1)]
    return [b_value[:first], *rest]

"""Header fields of outbound mail, written directly: folded at 78 columns, ASCII on the wire.

ASCII values are written as they are, folded only where a line would pass 78 columns
(unstructured text at whitespace, address lists after commas). Folding only puts CRLF
before whitespace that is already there, so an unfolded value is exactly the input.
Non-ASCII text becomes UTF-8 encoded words (RFC 2047; ``q`` unless ``b`` is clearly
shorter, as the ``email`` package chooses). In address lists only a display name is
encoded and a non-ASCII domain is written in IDNA form. The rare value these rules cannot
write (a non-ASCII local part, lone surrogates) is folded by the ``email`` package, as
all headers were before. A value with a line break raises ``ValueError``: header injection.
"""

from __future__ import annotations

import binascii
import re
import string
from email.utils import formataddr
from email.utils import getaddresses
from typing import TYPE_CHECKING

from consumers.delivery.policy import SMTP_VERBATIM

if TYPE_CHECKING:
    from collections.abc import Callable
    from collections.abc import Sequence

__all__ = ["address_list", "unstructured", "verbatim"]

_WIDTH = 78  # RFC 5322 SHOULD; lines may reach 998 octets only where nothing can fold
_MAX_LINE = 998
# Every character str.splitlines() breaks at; the email package refused them all.
_LINE_BREAK = re.compile("[\r\n\x0b\x0c\x1c-\x1e\x85\u2028\u2029]")
# A word with the whitespace before it; trailing whitespace is a token of its own.
_WORDS = re.compile(r"[ \t]*[^ \t]+|[ \t]+")
# RFC 2047 "q" text safe even in a display name (the email package's set).
_Q_SAFE = frozenset((string.ascii_letters + string.digits + "!*+-/").encode("ascii"))
_Q = tuple("_" if byte == 0x20 else chr(byte) if byte in _Q_SAFE else f"={byte:02X}"
           for byte in range(256))
_EW_OVERHEAD = len("=?utf-8?q??=")
# A display-name word that may be written as it is (RFC 5322 atext).
_ATOM = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+")


class _Unsupported(ValueError):
    """A value these rules cannot write; the email package folds it instead."""


def unstructured(name: str, value: str) -> str:
    """``name: value`` folded at whitespace, non-ASCII words encoded, ending in CRLF."""
    _check(name, value)
    if value.isascii() and len(name) + len(value) + 2 <= _WIDTH:
        return _line(name, value)
    longest = _MAX_LINE - len(name) - 2

    def encode(word: str) -> bool:
        return not word.isascii() or len(word) > longest

    try:
        return _fold(name, _text_tokens(value, _ew_width(name), encode))
    except UnicodeError:  # lone surrogates: the email package writes unknown-8bit words
        return _legacy(name, value)


def address_list(name: str, addresses: Sequence[str]) -> str:
    """``name: a, b`` folded after the commas, display names encoded, ending in CRLF."""
    for address in addresses:
        _check(name, address)
    joined = ", ".join(addresses)
    if joined.isascii() and len(name) + len(joined) + 2 <= _WIDTH:
        return _line(name, joined)
    try:
        items = [tokens for address in addresses for tokens in _mailboxes(address, _ew_width(name))]
    except (_Unsupported, UnicodeError):
        return _legacy(name, joined)
    folded: list[str] = []
    for index, tokens in enumerate(items):
        # Break inside an address (between encoded words) only when it fills a line.
        first, *rest = tokens if len("".join(tokens)) > _WIDTH - 2 else ["".join(tokens)]
        folded += [f" {first}" if index else first, *rest]
        if index < len(items) - 1:
            folded[-1] += ","
    return _fold(name, folded)


def verbatim(name: str, value: str) -> str:
    """``name: value`` exactly as given (a URL header), ending in CRLF."""
    _check(name, value)
    return _line(name, value)


def _check(name: str, value: str) -> None:
    if _LINE_BREAK.search(value):
        raise ValueError(f"header {name} may not contain a line break")


def _line(name: str, value: str) -> str:
    return f"{name}: {value}\r\n" if value else f"{name}:\r\n"


def _fold(name: str, tokens: list[str]) -> str:
    # Every token but the first starts with whitespace, so a break goes before it; a
    # whitespace-only token never starts a line (RFC 5322 forbids blank continuations).
    lines: list[str] = []
    line = f"{name}:"
    for index, token in enumerate(tokens):
        if index and len(line) + len(token) > _WIDTH and token.strip(" \t"):
            lines.append(line)
            line = token
        else:
            line += token if index else f" {token}"
    lines.append(line)
    return "\r\n".join(lines) + "\r\n"


def _ew_width(name: str) -> int:
    # Encoded words of at most 75 characters (RFC 2047) that fit after "Name: ".
    return max(40, min(75, _WIDTH - len(name) - 2))


def _text_tokens(value: str, width: int, encode: Callable[[str], bool]) -> list[str]:
    # Runs of words to ``encode`` become encoded words, the whitespace inside a run with
    # them (decoders drop whitespace between encoded words); other words stay as they are.
    tokens: list[str] = []
    run: list[str] = []
    for word in [*_WORDS.findall(value), ""]:
        if word and encode(word):
            run.append(word)
            continue
        if run:
            text = "".join(run)
            body = text.lstrip(" \t")
            first, *rest = _encoded_words(body, width)
            tokens += [text[:len(text) - len(body)] + first, *(f" {ew}" for ew in rest)]
            run = []
        if word:
            tokens.append(word)
    return tokens


def _mailboxes(address: str, width: int) -> list[list[str]]:
    if address.isascii():
        return [[address]]
    found = getaddresses([address])
    if not found or not all("@" in spec for _, spec in found):
        raise _Unsupported(address)
    return [_mailbox(display, spec, width) for display, spec in found]


def _mailbox(display: str, spec: str, width: int) -> list[str]:
    local, _, domain = spec.rpartition("@")
    if not local.isascii():
        raise _Unsupported(spec)  # needs SMTPUTF8; write it as the email package did
    if not domain.isascii():
        spec = f"{local}@{domain.encode('idna').decode('ascii')}"
    if not display:
        return [spec]
    if display.isascii():
        return [formataddr((display, spec))]
    return [*_text_tokens(display, width, _not_atom), f" <{spec}>"]


def _not_atom(word: str) -> bool:
    return _ATOM.fullmatch(word.lstrip(" \t")) is None


def _encoded_words(text: str, width: int) -> list[str]:
    data = text.encode("utf-8")
    q_length = sum(len(_Q[byte]) for byte in data)
    if q_length - (len(data) + 2) // 3 * 4 < 5:
        return _q_words(text, width - _EW_OVERHEAD)
    return _b_words(text, (width - _EW_OVERHEAD) // 4 * 3)


def _q_words(text: str, room: int) -> list[str]:
    chunks = [""]
    for char in text:  # never split a character's bytes between two words
        piece = "".join(_Q[byte] for byte in char.encode("utf-8"))
        if chunks[-1] and len(chunks[-1]) + len(piece) > room:
            chunks.append("")
        chunks[-1] += piece
    return [f"=?utf-8?q?{chunk}?=" for chunk in chunks]


def _b_words(text: str, room: int) -> list[str]:
    chunks = [b""]
    for char in text:
        piece = char.encode("utf-8")
        if chunks[-1] and len(chunks[-1]) + len(piece) > room:
            chunks.append(b"")
        chunks[-1] += piece
    return [f"=?utf-8?b?{binascii.b2a_base64(chunk, newline=False).decode('ascii')}?="
            for chunk in chunks]


def _legacy(name: str, value: str) -> str:
    return str(SMTP_VERBATIM.header_factory(name, value).fold(policy=SMTP_VERBATIM))

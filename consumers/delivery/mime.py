"""MIME bodies of outbound mail: UTF-8 text parts and one multipart/alternative.

Every line ends in CRLF, whatever the input used (LF, CR or CRLF), and no line is longer
than 998 octets. A part is ``7bit`` when it is ASCII with lines of at most 78 octets;
otherwise ``quoted-printable`` (lines of at most 76), or ``base64`` when that is shorter
(mostly non-Latin text). That is the choice the ``email`` package made for these parts
before, so the relay never needs 8BITMIME.

Quoted-printable is built from whole-buffer ``bytes`` operations and one regular
expression for the soft line breaks, which is faster here than :func:`binascii.b2a_qp`
and, unlike it, never lets an escaped trailing blank push a line past 76 octets.
"""

from __future__ import annotations

import binascii
import re

__all__ = ["Part", "alternative", "text_part"]

#: The header lines of a part (each ending in CRLF) and its encoded body.
Part = tuple[list[str], bytes]

_LONG_LINE = re.compile(rb"[^\n]{79}")  # longer than 78 octets: not 7bit
_TRAILING_BLANK = re.compile(rb"\n(?<=[ \t]\n)")  # "\n" first: a fast literal search
_BASE64_LINE = 76
# The octets quoted-printable keeps as they are ("=" aside: it becomes "=3D" first, as
# do trailing blanks), and runs of the others. Text with few distinct escaped octets
# (Latin scripts) gets one bytes.replace per octet; past that, one call per run is cheaper.
_QP_LITERAL = bytes((0x09, 0x0A, *range(0x20, 0x7F)))
_ESCAPE_RUN = re.compile(rb"[^\t\n -<>-~]+")
_ESCAPES = tuple(b"=%02X" % octet for octet in range(256))
_MAX_REPLACE_PASSES = 32
# What lies between two soft line breaks: lines short enough to keep (at most 76 octets),
# then the first 75 octets or fewer of a longer line, never cutting an "=XX" escape.
_SOFT_BREAK_PIECE = re.compile(rb"(?:.{0,76}+\n)*+(?:.{1,75}(?<!=)(?<!=.))?")


def text_part(content: str, subtype: str) -> Part:
    """A ``text/<subtype>; charset="utf-8"`` part holding ``content``."""
    data = content.encode("utf-8")
    if b"\r" in data:  # CR or CRLF line ends (bytes.splitlines, as the email package)
        data = b"\n".join(data.splitlines()) + b"\n"
    elif not data.endswith(b"\n"):
        data += b"\n"
    encoding, encoded = _encode(data)
    headers = [f'Content-Type: text/{subtype}; charset="utf-8"\r\n',
               f"Content-Transfer-Encoding: {encoding}\r\n"]
    return headers, encoded


def alternative(boundary: str, parts: list[Part]) -> Part:
    """A ``multipart/alternative`` of ``parts`` in order; ``boundary`` must not occur in them."""
    delimiter = f"--{boundary}".encode("ascii")
    chunks: list[bytes] = []
    for headers, body in parts:
        chunks += [delimiter, b"\r\n", "".join(headers).encode("ascii"), b"\r\n", body, b"\r\n"]
    chunks += [delimiter, b"--\r\n"]
    headers = ["MIME-Version: 1.0\r\n",
               f'Content-Type: multipart/alternative;\r\n boundary="{boundary}"\r\n']
    return headers, b"".join(chunks)


def _encode(body: bytes) -> tuple[str, bytes]:
    # ``body`` ends every line with LF; the wire gets CRLF.
    is_ascii = body.isascii()
    if is_ascii and _LONG_LINE.search(body) is None:
        return "7bit", body.replace(b"\n", b"\r\n")
    # The email package's rule: base64 when quoted-printable (with one-octet line ends)
    # is longer. Non-ASCII is estimated first, so non-Latin text is not encoded twice.
    odd = body.translate(None, _QP_LITERAL)  # the octets to escape, but for "="
    escapes = len(odd) + body.count(b"=")
    if is_ascii or len(body) + 2 * escapes <= _base64_length(body):
        quoted = _quoted_printable(body, set(odd))
        if len(quoted) <= len(body) * 4 // 3 or len(quoted) <= _base64_length(body):
            return "quoted-printable", quoted.replace(b"\n", b"\r\n")
    return "base64", _base64(body.replace(b"\n", b"\r\n"))


def _base64_length(body: bytes) -> int:
    # Of the CRLF body, with the newline b2a_base64 ends it with.
    return (len(body) + body.count(b"\n") + 2) // 3 * 4 + 1


def _quoted_printable(body: bytes, odd: set[int]) -> bytes:
    # RFC 2045 quoted-printable of an LF-ended body, with LF line ends: escapes, then
    # trailing blanks, then soft breaks (the last piece is the empty match at the end).
    if len(odd) > _MAX_REPLACE_PASSES:  # non-Latin text: one call per run instead
        encoded = _ESCAPE_RUN.sub(lambda run: b"".join(_ESCAPES[octet] for octet in run[0]), body)
    else:
        encoded = body.replace(b"=", b"=3D")
        for octet in odd:
            encoded = encoded.replace(bytes((octet,)), _ESCAPES[octet])
    if _TRAILING_BLANK.search(encoded):
        encoded = encoded.replace(b" \n", b"=20\n").replace(b"\t\n", b"=09\n")
    return b"=\n".join(_SOFT_BREAK_PIECE.findall(encoded)[:-1])


def _base64(body: bytes) -> bytes:
    encoded = binascii.b2a_base64(body, newline=False)
    return b"".join(encoded[at:at + _BASE64_LINE] + b"\r\n"
                    for at in range(0, len(encoded), _BASE64_LINE))

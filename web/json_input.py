"""JSON request bodies decoded safely: nesting bounded before parsing, lone surrogates refused.

Python's decoder recurses once per ``[`` or ``{``, so a body nested some thousands deep
raises ``RecursionError`` (a 500) instead of a clean refusal. :func:`loads` first measures
the depth without recursion (strings blanked out by one regular expression, then the
brackets counted) and refuses anything deeper than :data:`MAX_DEPTH`. After parsing it
refuses a string holding a lone surrogate (``"\\ud800"``): it is not Unicode text
(RFC 8259 §8.2), cannot be encoded as UTF-8 and used to fail later, when stored.

Every refusal is a :class:`JsonRefused` (a ``ValueError``) naming the reason; callers turn
it into their ``400``. Pure: the write API and the inbound report parser share it.
"""

from __future__ import annotations

import json
import re
from itertools import accumulate
from itertools import repeat
from operator import sub
from typing import Any

__all__ = ["MAX_DEPTH", "JsonRefused", "loads"]

#: The deepest nesting of arrays and objects accepted (the top-level value is depth 1).
MAX_DEPTH = 64

# A string from its opening quote to its closing one, or to the end of an unterminated one
# (possessive, so a long unterminated string is scanned once, never backtracked).
_STRING = re.compile(r'"(?:[^"\\]++|\\.)*+(?:"|\Z)', re.S)
# A surrogate as such (bytes decoded with "surrogatepass": always refused), or a real escape of
# one (after an even run of backslashes), a high one with the low one that may follow it.
_SURROGATE = re.compile(r"[\ud800-\udfff]|(?<!\\)(?:\\\\)*+\\u([dD][89abAB][0-9a-fA-F]{2}"
                        r"(?:\\u[dD][c-fC-F][0-9a-fA-F]{2})?|[dD][c-fC-F][0-9a-fA-F]{2})")
_STEPS = bytes.maketrans(b"[{]}", b"\x02\x02\x00\x00")
_NOT_BRACKETS = bytes(set(range(256)) - set(b"[]{}"))
_CHUNK = 1 << 16


class JsonRefused(ValueError):
    """The body is not JSON we accept; the message says why."""


def loads(data: str | bytes | bytearray, **kwargs: Any) -> Any:
    """``json.loads`` that refuses deep nesting and lone surrogates with :class:`JsonRefused`."""
    text = data if isinstance(data, str) else bytes(data).decode(json.detect_encoding(data),
                                                                 "surrogatepass")
    if too_deep(text):
        raise JsonRefused(f"the JSON is nested deeper than {MAX_DEPTH} levels")
    try:
        value = json.loads(text, **kwargs)
    except RecursionError:  # cannot happen below MAX_DEPTH; never a 500 all the same
        raise JsonRefused(f"the JSON is nested deeper than {MAX_DEPTH} levels") from None
    if (found := lone_surrogate(text)) is not None:
        at, spelling = found
        raise JsonRefused(f"the JSON has a lone surrogate ({spelling}) at character {at}: "
                          "it is not Unicode text")
    return value


def too_deep(text: str) -> bool:
    """Whether JSON ``text`` nests arrays and objects deeper than :data:`MAX_DEPTH` (no recursion).

    Malformed text may be over-estimated, never under-estimated: it is refused either way.
    """
    if text.count("[") + text.count("{") <= MAX_DEPTH:  # the common case: few brackets at all
        return False
    # Opening brackets become 2 and closing ones 0, so the running sum of (octet - 1) is the depth.
    outside = _STRING.sub("", text).encode("utf-8", "surrogatepass")  # no bracket in a multi-byte
    brackets = outside.translate(_STEPS, _NOT_BRACKETS)
    level = 0
    for start in range(0, len(brackets), _CHUNK):  # in chunks: a deep body is refused early
        levels = list(accumulate(map(sub, brackets[start:start + _CHUNK], repeat(1)), initial=level))
        if max(levels) > MAX_DEPTH:
            return True
        if min(levels) < 0:  # a stray closing bracket: the parser stops there
            return False
        level = levels[-1]
    return False


def lone_surrogate(text: str) -> tuple[int, str] | None:
    """The offset and spelling (``\\ud800``) of the first lone surrogate in JSON ``text``, else ``None``."""
    for found in _SURROGATE.finditer(text):
        if found[1] is None:  # the character itself
            return found.start(), f"U+{ord(found[0]):04X}"
        if len(found[1]) == 4:  # a high one with its low one (10 characters) is one character
            return found.start(1) - 2, f"\\u{found[1]}"
    return None

"""Pure rewrites of a message body: click-tracked links and the open pixel.

HTML is scanned by one compiled regular expression that knows the constructs where
``<a href=...>`` text is not a link: comments, ``<![CDATA[...]]>``, declarations,
processing instructions, end tags, the raw-text elements ``<script>``, ``<style>``,
``<textarea>`` and ``<title>``, and quoted attribute values (which may hold ``>``).
Only real ``<a>``/``<area>`` start tags are touched, and only their first ``href``, as
browsers use the first; everything else in the document is kept byte for byte. A
construct left open at the end (an unclosed comment, script or tag) runs to the end of
the document, as in an HTML5 parser, so nothing after it is rewritten; ``<!-->`` is an
empty comment, as there too.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from html import escape
from html import unescape

#: Maps an original http(s) URL to its tracked replacement, or None to keep it.
Rewrite = Callable[[str], str | None]

_TRACKED_SCHEME = re.compile(r"https?://", re.IGNORECASE)
# One attribute inside a start tag, after the tag name (the html.parser grammar).
_ATTR = re.compile(
    r"""(?P<name>[^\s/>][^\s/=>]*)(?:\s*=\s*(?P<value>'[^']*'|"[^"]*"|(?!['"])[^>\s]*))?""",
)
_TAG_NAME = re.compile(r"<[a-zA-Z][^\s/>]*")
# A tag whose first attribute is a double-quoted href: what the loop in _rewrite_tag finds.
_HREF_FIRST = re.compile(
    r'<[a-zA-Z][^\s/>]*[\t\n\f\r ]+[hH][rR][eE][fF][\t\n\f\r ]*=[\t\n\f\r ]*(?P<value>"[^"]*")')
_BARE_URL = re.compile(r"https?://[^\s<>\"']+", re.IGNORECASE)
_LOWER_URL = re.compile(r"https?://[^\s<>\"']+")
_TRAILING_PUNCTUATION = ".,;:!?'\""
_BODY_END = re.compile(r"</body\s*>", re.IGNORECASE)
_TAIL = 4096
# The attributes of a start tag. They run to the first ">" outside a quoted value (a value
# is quoted when a quote follows "=") or to the end of the document, as an unclosed quote
# does: possessive, and every construct below ends at the end of the document at the
# latest, so the scan is linear.
_TAG_BODY = r"""(?:[^>=]++|=[\t\n\f\r ]*+(?:"[^"]*+(?:"|\Z)|'[^']*+(?:'|\Z))?+)*+"""
_SPACE = r"[\t\n\f\r />]"  # what ends a tag name (HTML's whitespace, not Unicode's)
_RAW_NAMES = ("script", "style", "textarea", "title")


def _anycase(name: str) -> str:
    # [sS][cC]... rather than re.IGNORECASE, which slows down every character class.
    return "".join(f"[{char.lower()}{char.upper()}]" for char in name)


_LINK_NAME = f"(?:{_anycase('a')}|{_anycase('area')}){_SPACE}"
_SPECIAL_NAME = f"(?:{'|'.join(_anycase(name) for name in ('a', 'area', *_RAW_NAMES))}){_SPACE}"
# An end tag, or a start tag of no interest: the commonest constructs, skipped in a tight
# inner loop (with the text between them) since this scan is most of the cost of a rewrite.
_ORDINARY = rf"<(?:/[^>]*+>?|(?!{_SPECIAL_NAME})[a-zA-Z]{_TAG_BODY}(?:>|\Z))"
# Raw text runs to its own end tag. No capturing group (so no backreference) may sit in
# the possessive loop below: CPython 3.11's re reports a wrong group span there.
_RAW_TEXT = "|".join(
    rf"{_anycase(name)}(?={_SPACE}){_TAG_BODY}(?:>(?:[^<]++|<(?!/{_anycase(name)}{_SPACE}))*+|\Z)"
    for name in _RAW_NAMES)
# One match: everything that is not a link start tag (possessively), then one link tag.
_NEXT_LINK = re.compile(rf"""
    (?:[^<]++(?:{_ORDINARY}[^<]*+)*+
      | {_ORDINARY}
      | <(?:!--(?:-?>|(?:[^-]++|-(?!-!?>))*+(?:--!?>)?)    # comment, maybe unclosed
          | !\[CDATA\[(?:[^\]]++|\](?!\]>))*+(?:\]\]>)?
          | ![^>]*+>?                                       # <!DOCTYPE>, other <! >
          | \?[^>]*+>?                                      # processing instruction
          | {_RAW_TEXT}
          | (?={_LINK_NAME})[a-zA-Z]++{_TAG_BODY}\Z          # a link tag left open
          | (?![a-zA-Z])                                    # a "<" that starts nothing
        )
    )*+
    (?P<tag><(?={_LINK_NAME})[a-zA-Z]++{_TAG_BODY}>)
""", re.VERBOSE)


def is_trackable(url: str) -> bool:
    """True for an absolute http(s) URL (not mailto:, tel:, #anchors or relative links)."""
    return _TRACKED_SCHEME.match(url) is not None


def rewrite_html_links(html: str, rewrite: Rewrite) -> str:
    """Replace the ``href`` of every ``<a>``/``<area>`` for which ``rewrite`` gives a URL."""
    out: list[str] = []
    done = 0
    while (match := _NEXT_LINK.match(html, done)) is not None:
        out += [html[done:match.start("tag")], _rewrite_tag(match.group("tag"), rewrite)]
        done = match.end()
    out.append(html[done:])
    return "".join(out)


def rewrite_text_links(text: str, rewrite: Rewrite) -> str:
    """Replace every bare http(s) URL of a plain-text part (trailing punctuation excluded)."""
    # ASCII text is searched lower-cased (same offsets) with a case-sensitive pattern,
    # which finds "http" far faster than re.IGNORECASE does.
    found = _LOWER_URL.finditer(text.lower()) if text.isascii() else _BARE_URL.finditer(text)
    out: list[str] = []
    done = 0
    for match in found:
        url, tail = _split_trailing(text[match.start():match.end()])
        new = rewrite(url)
        out += [text[done:match.start()], url if new is None else new, tail]
        done = match.end()
    out.append(text[done:])
    return "".join(out)


def insert_pixel(html: str, open_url: str) -> str:
    """Insert the 1x1 open pixel before the last ``</body>``, or append it."""
    pixel = f'<img src="{escape(open_url)}" width="1" height="1" alt="" style="display:none">'
    at = _last_body_end(html)
    return html + pixel if at is None else html[:at] + pixel + html[at:]


def _last_body_end(html: str) -> int | None:
    # The last "</body" is nearly always in the last few hundred characters: look there
    # (lower-cased, when that keeps every offset) before a regular-expression pass over it all.
    start = max(0, len(html) - _TAIL)
    tail = html[start:]
    lowered = tail.lower()
    at = lowered.rfind("</body") if len(lowered) == len(tail) else -1
    if at >= 0 and _BODY_END.match(html, start + at):
        return start + at
    ends = list(_BODY_END.finditer(html))
    return ends[-1].start() if ends else None


def _rewrite_tag(raw: str, rewrite: Rewrite) -> str:
    if (first := _HREF_FIRST.match(raw)) is not None:  # the usual <a href="...">
        new = rewrite(_unquote(first.group("value")).strip())
        if new is None:
            return raw
        return raw[:first.start("value")] + f'"{escape(new)}"' + raw[first.end("value"):]
    name = _TAG_NAME.match(raw)
    position = name.end() if name else len(raw)
    while (attr := _ATTR.search(raw, position)) is not None:
        position = max(attr.end(), position + 1)
        if attr.group("name").lower() != "href":
            continue
        value = attr.group("value")
        if value is None:
            return raw
        new = rewrite(_unquote(value).strip())
        if new is None:
            return raw
        return raw[:attr.start("value")] + f'"{escape(new)}"' + raw[attr.end("value"):]
    return raw


def _unquote(value: str) -> str:
    if value[:1] in ("'", '"'):
        value = value[1:-1]
    if "&" in value.replace("&amp;", ""):
        return unescape(value)
    return value.replace("&amp;", "&")  # what unescape gives, without a callback per "&amp;"


def _split_trailing(url: str) -> tuple[str, str]:
    end = len(url)
    while end > 0 and (url[end - 1] in _TRAILING_PUNCTUATION or _unbalanced_paren(url[:end])):
        end -= 1
    return url[:end], url[end:]


def _unbalanced_paren(url: str) -> bool:
    return url.endswith(")") and url.count(")") > url.count("(")


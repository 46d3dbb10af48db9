"""Pure rewrites of a message body: click-tracked links and the open pixel.

HTML is scanned with :class:`html.parser.HTMLParser`, so only real ``<a>``/``<area>``
start tags are touched (never comments, scripts or attribute text that merely looks
like ``href=``). Only the first ``href`` of a tag is rewritten, as browsers use the
first; everything else in the document is kept byte for byte.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from html import escape
from html import unescape
from html.parser import HTMLParser

#: Maps an original http(s) URL to its tracked replacement, or None to keep it.
Rewrite = Callable[[str], str | None]

_LINK_TAGS = frozenset({"a", "area"})
_TRACKED_SCHEME = re.compile(r"https?://", re.IGNORECASE)
# One attribute inside a start tag, after the tag name (the html.parser grammar).
_ATTR = re.compile(
    r"""(?P<name>[^\s/>][^\s/=>]*)(?:\s*=\s*(?P<value>'[^']*'|"[^"]*"|(?!['"])[^>\s]*))?""",
)
_TAG_NAME = re.compile(r"<[a-zA-Z][^\s/>]*")
_BARE_URL = re.compile(r"https?://[^\s<>\"']+", re.IGNORECASE)
_TRAILING_PUNCTUATION = ".,;:!?'\""
_BODY_END = re.compile(r"</body\s*>", re.IGNORECASE)


def is_trackable(url: str) -> bool:
    """True for an absolute http(s) URL (not mailto:, tel:, #anchors or relative links)."""
    return _TRACKED_SCHEME.match(url) is not None


def rewrite_html_links(html: str, rewrite: Rewrite) -> str:
    """Replace the ``href`` of every ``<a>``/``<area>`` for which ``rewrite`` gives a URL."""
    finder = _LinkFinder()
    finder.feed(html)
    finder.close()
    starts = _line_starts(html)
    out: list[str] = []
    done = 0
    for (line, column), raw in finder.tags:
        offset = starts[line - 1] + column
        if offset < done or html[offset:offset + len(raw)] != raw:
            continue  # the parser's view disagrees with the source: leave the tag alone
        out += [html[done:offset], _rewrite_tag(raw, rewrite)]
        done = offset + len(raw)
    out.append(html[done:])
    return "".join(out)


def rewrite_text_links(text: str, rewrite: Rewrite) -> str:
    """Replace every bare http(s) URL of a plain-text part (trailing punctuation excluded)."""

    def replace(match: re.Match[str]) -> str:
        url, tail = _split_trailing(match.group(0))
        new = rewrite(url)
        return (url if new is None else new) + tail

    return _BARE_URL.sub(replace, text)


def insert_pixel(html: str, open_url: str) -> str:
    """Insert the 1x1 open pixel before the last ``</body>``, or append it."""
    pixel = f'<img src="{escape(open_url)}" width="1" height="1" alt="" style="display:none">'
    ends = list(_BODY_END.finditer(html))
    if not ends:
        return html + pixel
    at = ends[-1].start()
    return html[:at] + pixel + html[at:]


class _LinkFinder(HTMLParser):
    """Collects the position and raw text of every link start tag."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[tuple[int, int], str]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        raw = self.get_starttag_text()
        if tag in _LINK_TAGS and raw is not None:
            self.tags.append((self.getpos(), raw))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)


def _rewrite_tag(raw: str, rewrite: Rewrite) -> str:
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
    return unescape(value)


def _split_trailing(url: str) -> tuple[str, str]:
    end = len(url)
    while end > 0 and (url[end - 1] in _TRAILING_PUNCTUATION or _unbalanced_paren(url[:end])):
        end -= 1
    return url[:end], url[end:]


def _unbalanced_paren(url: str) -> bool:
    return url.endswith(")") and url.count(")") > url.count("(")


def _line_starts(text: str) -> list[int]:
    return [0] + [match.end() for match in re.finditer("\n", text)]

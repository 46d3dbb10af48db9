"""Content scoring (spec §12): an explainable spam-risk score for one email, pure and local.

Formula: start at 100, subtract the points of every rule in ``RULES`` that fires (each at most
once), floor at 0. Higher is cleaner. Rating: excellent >= 90, good >= 75, fair >= 50, poor < 50;
``likely_spam`` is ``score < 50``. Every fired rule yields one concrete suggestion. HTML is read
with ``html.parser`` only; visible text skips ``script``, ``style`` and ``title``. Beyond spec §12
it also flags an empty body and a free-mailbox From (DMARC alignment). No spamd delegation here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from email.utils import parseaddr
from functools import cached_property
from html.parser import HTMLParser
from typing import TYPE_CHECKING
from typing import Final
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from collections.abc import Callable


@dataclass(frozen=True)
class Rule:
    """A rule's cost, what it means, and the advice given (``{detail}`` is filled in)."""

    points: int
    description: str
    suggestion: str


RULES: Final[dict[str, Rule]] = {
    "missing_subject": Rule(10, "The subject is empty", "Write a subject that says what the email is for."),
    "long_subject": Rule(3, "The subject is over 78 characters and gets cut off",
                         "Shorten the subject to 78 characters or fewer (it has {detail})."),
    "shouting_subject": Rule(15, "The subject is mostly capital letters (>= 60 % of >= 8 letters)",
                             "Write the subject in sentence case ({detail} of its letters are capitals)."),
    "excessive_punctuation": Rule(10, "Runs of !, ? or $, or 3+ exclamation marks in the subject",
                                  "Use at most one ! or ? in a row and drop repeated $ (found {detail})."),
    "spam_trigger_phrases": Rule(15, "Phrases that spam filters associate with spam",
                                 "Rephrase or remove {detail}."),
    "missing_body": Rule(25, "Neither an HTML nor a text body", "Write the message body (html and text)."),
    "image_heavy": Rule(15, "Mostly images: visible text < max(200, 100 x images) characters",
                        "Add real text next to the images ({detail}); put key words in text, not pictures."),
    "missing_text_part": Rule(10, "HTML without a plain-text alternative",
                              "Add a plain-text version of the message (the text field)."),
    "link_shortener": Rule(15, "Links through public URL shorteners",
                           "Link straight to the destination on your own domain instead of {detail}."),
    "mismatched_link_text": Rule(20, "Link text shows a different domain than the link opens",
                                 "Make each link's visible text match where it goes: {detail}."),
    "missing_unsubscribe": Rule(15, "No unsubscribe link or {{unsubscribe_url}} placeholder",
                                'Add a visible link such as <a href="{{unsubscribe_url}}">Unsubscribe</a>.'),
    "html_too_large": Rule(10, "HTML over 102 KB: Gmail clips the message",
                           "Trim the HTML below 102 KB (it is {detail}): drop comments and unused CSS."),
    "unbalanced_html": Rule(5, "Unclosed or mismatched HTML tags", "Fix the markup: {detail}."),
    "freemail_from": Rule(10, "From address on a free mailbox provider (fails DMARC alignment)",
                          "Send from an address on your own verified domain instead of {detail}."),
}

SPAM_PHRASES: Final = (
    "act now", "100% free", "risk-free", "risk free", "winner", "click here", "limited time",
    "cash bonus", "no credit check", "earn money", "make money fast", "double your money",
    "free gift", "no obligation", "once in a lifetime", "while supplies last", "order now",
    "buy now", "call now", "apply now", "this is not spam", "you have been selected",
    "claim your prize", "congratulations you", "100% satisfied", "dear friend", "work from home",
    "extra income", "lowest price", "no hidden fees", "miracle", "viagra", "casino",
)
SHORTENERS: Final = frozenset({
    "bit.ly", "tinyurl.com", "t.co", "goo.gl", "ow.ly", "is.gd", "buff.ly", "rebrand.ly", "cutt.ly",
    "shorturl.at", "tiny.cc", "rb.gy", "t.ly", "v.gd", "bl.ink", "s.id", "adf.ly", "shorte.st",
})
FREEMAIL: Final = frozenset({
    "gmail.com", "googlemail.com", "yahoo.com", "ymail.com", "hotmail.com", "outlook.com", "live.com",
    "msn.com", "aol.com", "icloud.com", "me.com", "gmx.com", "gmx.de", "web.de", "mail.com",
    "proton.me", "protonmail.com", "yandex.ru", "mail.ru", "zoho.com",
})
GMAIL_CLIP_BYTES: Final = 102 * 1024
VOID: Final = frozenset("area base br col embed hr img input link meta param source track wbr".split())
OPTIONAL_END: Final = frozenset("p li dt dd tr td th thead tbody tfoot option optgroup colgroup caption "
                                "html head body".split())
HIDDEN: Final = frozenset({"script", "style", "title"})
FILE_EXTENSIONS: Final = frozenset("pdf doc docx xls xlsx ppt pptx csv txt jpg jpeg png gif htm html".split())
_PHRASE_RE = re.compile("|".join(rf"(?<!\w){re.escape(p)}(?!\w)" for p in SPAM_PHRASES), re.IGNORECASE)
_PUNCT_RE = re.compile(r"[!?]{3,}|\${3,}")
_URL_RE = re.compile(r"https?://[^\s<>\"')]+", re.IGNORECASE)
_DOMAIN_TEXT_RE = re.compile(r"(?:https?://)?(?:www\.)?((?:[a-z0-9-]+\.)+[a-z]{2,})(?:[/:?#]\S*)?", re.I)


@dataclass(frozen=True)
class FiredRule:
    """One rule that fired."""

    name: str
    description: str
    points: int


@dataclass(frozen=True)
class ContentScore:
    """The score, its rating, the spam verdict, the rules that fired and what to do."""

    score: int
    rating: str
    likely_spam: bool
    rules: tuple[FiredRule, ...]
    suggestions: tuple[str, ...]


class _Scan(HTMLParser):
    """One pass over the HTML: visible text, images, links and tag-balance problems."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.words: list[str] = []
        self.images = 0
        self.links: list[tuple[str, str]] = []
        self.problems: list[str] = []
        self.stack: list[str] = []
        self.hidden = 0
        self.anchor: tuple[str, list[str]] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.images += tag == "img"
        self.hidden += tag in HIDDEN
        if tag == "a":
            self.anchor = (dict(attrs).get("href") or "", [])
        if tag not in VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.images += tag == "img"  # <br/>, <img/>: nothing to open or close

    def handle_endtag(self, tag: str) -> None:
        self.hidden = max(0, self.hidden - (tag in HIDDEN))
        if tag == "a" and self.anchor is not None:
            self.links.append((self.anchor[0], " ".join(" ".join(self.anchor[1]).split())))
            self.anchor = None
        if tag in VOID:
            return
        if tag not in self.stack:
            self.problems.append(f"stray </{tag}>")
            return
        while (top := self.stack.pop()) != tag:
            if top not in OPTIONAL_END:
                self.problems.append(f"<{top}> not closed before </{tag}>")

    def handle_data(self, data: str) -> None:
        if not self.hidden:
            self.words.append(data)
            if self.anchor is not None:
                self.anchor[1].append(data)

    def finish(self) -> _Scan:
        """Close the parser and report tags still open at the end."""
        self.close()
        self.problems += [f"<{tag}> never closed" for tag in self.stack if tag not in OPTIONAL_END]
        return self


@dataclass(frozen=True)
class _Content:
    subject: str
    html: str
    text: str
    sender: str
    scan: _Scan

    @cached_property
    def visible(self) -> str:
        return " ".join(" ".join(self.scan.words).split())

    def urls(self) -> list[str]:
        return [href for href, _ in self.scan.links] + _URL_RE.findall(self.text)


def _host(url: str) -> str:
    try:
        host = urlsplit(url.strip()).hostname or ""
    except ValueError:
        return ""
    return host.removeprefix("www.")


def _listed(items: list[str], limit: int = 3) -> str | None:
    unique = list(dict.fromkeys(items))
    if not unique:
        return None
    more = f" and {len(unique) - limit} more" if len(unique) > limit else ""
    return ", ".join(unique[:limit]) + more


def _shouting(c: _Content) -> str | None:
    letters = [ch for ch in c.subject if ch.isalpha()]
    upper = sum(ch.isupper() for ch in letters)
    shouting = len(letters) >= 8 and upper >= 0.6 * len(letters)
    return f"{round(100 * upper / len(letters))} %" if shouting else None


def _punctuation(c: _Content) -> str | None:
    found = [f'"{m}"' for m in _PUNCT_RE.findall(f"{c.subject} {c.visible} {c.text}")]
    if c.subject.count("!") >= 3:
        found.append(f"{c.subject.count('!')} exclamation marks in the subject")
    return _listed(found)


def _phrases(c: _Content) -> str | None:
    return _listed([f'"{m.lower()}"' for m in _PHRASE_RE.findall(f"{c.subject}\n{c.visible}\n{c.text}")])


def _image_heavy(c: _Content) -> str | None:
    chars, images = len(c.visible), c.scan.images
    if images and chars < max(200, 100 * images):
        return f"{images} image(s) and {chars} characters of text; aim for at least {max(200, 100 * images)}"
    return None


def _mismatched(c: _Content) -> str | None:
    found = []
    for href, label in c.scan.links:
        shown, target = _DOMAIN_TEXT_RE.fullmatch(label), _host(href)
        domain = shown.group(1).lower().removeprefix("www.") if shown else ""
        if "://" not in label and domain.rpartition(".")[2] in FILE_EXTENSIONS:
            continue  # "report.pdf" names a file, not a site
        if domain and target and not _same_site(domain, target):
            found.append(f'"{label}" opens {target}')
    return _listed(found)


def _same_site(a: str, b: str) -> bool:
    return a == b or a.endswith("." + b) or b.endswith("." + a)


def _size(c: _Content) -> str | None:
    size = len(c.html.encode("utf-8", "surrogatepass"))
    return f"{size / 1024:.1f} KB" if size > GMAIL_CLIP_BYTES else None


def _freemail(c: _Content) -> str | None:
    domain = parseaddr(c.sender)[1].rpartition("@")[2].lower()
    return domain if domain in FREEMAIL else None


CHECKS: Final[dict[str, Callable[[_Content], str | None]]] = {
    "missing_subject": lambda c: "" if not c.subject.strip() else None,
    "long_subject": lambda c: f"{len(c.subject)} characters" if len(c.subject) > 78 else None,
    "shouting_subject": _shouting,
    "excessive_punctuation": _punctuation,
    "spam_trigger_phrases": _phrases,
    "missing_body": lambda c: "" if not c.html.strip() and not c.text.strip() else None,
    "image_heavy": _image_heavy,
    "missing_text_part": lambda c: "" if c.html.strip() and not c.text.strip() else None,
    "link_shortener": lambda c: _listed([host for host in map(_host, c.urls()) if _is_short(host)]),
    "mismatched_link_text": _mismatched,
    "missing_unsubscribe": lambda c: None if "unsubscribe" in f"{c.html} {c.text}".lower() else "",
    "html_too_large": _size,
    "unbalanced_html": lambda c: _listed(c.scan.problems),
    "freemail_from": _freemail,
}


def _is_short(host: str) -> bool:
    return any(host == s or host.endswith("." + s) for s in SHORTENERS)


def _rating(value: int) -> str:
    return "excellent" if value >= 90 else "good" if value >= 75 else "fair" if value >= 50 else "poor"


def score(subject: str, html: str | None, text: str | None, from_address: str | None) -> ContentScore:
    """Score one email's content against ``RULES``; pure and deterministic."""
    content = _Content(subject, html or "", text or "", from_address or "", _Scan())
    content.scan.feed(content.html)
    content.scan.finish()
    fired = [(name, detail) for name, check in CHECKS.items() if (detail := check(content)) is not None]
    rules = tuple(FiredRule(name, RULES[name].description, RULES[name].points) for name, _ in fired)
    value = max(0, 100 - sum(rule.points for rule in rules))
    suggestions = tuple(RULES[name].suggestion.replace("{detail}", detail) for name, detail in fired)
    return ContentScore(value, _rating(value), value < 50, rules, suggestions)

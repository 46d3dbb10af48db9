"""Scanner/bot confidence of one open or click: a small table of additive rules, capped at 100.

Classes (spec §7): ``>= 80`` scanner, ``50-79`` suspicious, ``< 50`` human.

Rules (name: points, kinds — why):

* ``security_gateway``: 100, open+click — the UA names a mail security gateway
  (Barracuda, Mimecast, Proofpoint, MessageLabs, IronPort, Safe Links, ...).
* ``automation_ua``: 90, open+click — a bot, spider, crawler, HTTP library (curl,
  python-requests, Go, Java, okhttp) or headless browser.
* ``no_user_agent``: 80, open+click — every real mail client and browser sends one.
* ``apple_privacy_proxy``: 90, open — Apple Mail Privacy Protection prefetches every pixel
  from 17.0.0.0/8 with no UA or a bare ``Mozilla/5.0``.
* ``google_image_proxy``: 80, open — ``GoogleImageProxy`` UA, or Google's proxy ranges
  66.249.0.0/16 and 66.102.0.0/16.
* ``bare_mozilla``: 50, open+click — ``Mozilla/5.0`` and nothing else is what proxies send.
* ``instant``: 80, open+click — within 2 s of sending, faster than a person.
* ``fast``: 30, open+click — within 3-10 s of sending.

Decision on proxies: a proxy *open* is a machine fetch that says nothing about a person reading
the mail (Apple prefetches everything; Google fetches on its own schedule and caches), so it
counts as a scanner open. The proxy rules never apply to *clicks*: a click from Gmail or Outlook
on the web arrives from the reader's own browser and counts as human (reference notes, §2.6).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from ipaddress import IPv4Address
from ipaddress import IPv4Network
from ipaddress import ip_address

KINDS = ("open", "click")
HUMAN, SUSPICIOUS, SCANNER = 0, 1, 2
SUSPICIOUS_FROM, SCANNER_FROM = 50, 80

_GATEWAYS = re.compile(
    r"barracuda|mimecast|proofpoint|messagelabs|symantec|forcepoint|trendmicro|"
    r"ironport|fortimail|sophos|safelinks",
    re.IGNORECASE,
)
_AUTOMATION = re.compile(
    r"bot\b|bot/|spider|crawl|curl/|wget/|python-requests|python-urllib|aiohttp|"
    r"go-http-client|okhttp|java/|libwww|httpclient|headless|phantomjs|puppeteer|playwright",
    re.IGNORECASE,
)
_APPLE = (IPv4Network("17.0.0.0/8"),)
_GOOGLE = (IPv4Network("66.249.0.0/16"), IPv4Network("66.102.0.0/16"))
# Cheap prefilter before parsing the address (parsing is the slow part of scoring).
_PREFIXES = {_APPLE: ("17.",), _GOOGLE: ("66.249.", "66.102.")}
_BARE = ("", "Mozilla/5.0")

Rule = Callable[[str, str, int | None, str], bool]


def _in(ip: str, networks: tuple[IPv4Network, ...]) -> bool:
    ip = ip.strip()
    if not ip.startswith(_PREFIXES[networks]):
        return False
    try:
        address = ip_address(ip)
    except ValueError:
        return False
    return isinstance(address, IPv4Address) and any(address in net for net in networks)


def _apple(ua: str, ip: str, _s: int | None, kind: str) -> bool:
    return kind == "open" and ua in _BARE and _in(ip, _APPLE)


def _google(ua: str, ip: str, _s: int | None, kind: str) -> bool:
    return kind == "open" and ("GoogleImageProxy" in ua or _in(ip, _GOOGLE))


RULES: tuple[tuple[str, int, Rule], ...] = (
    ("security_gateway", 100, lambda ua, _ip, _s, _k: bool(_GATEWAYS.search(ua))),
    ("automation_ua", 90, lambda ua, _ip, _s, _k: bool(_AUTOMATION.search(ua))),
    ("no_user_agent", 80, lambda ua, _ip, _s, _k: ua == ""),
    ("apple_privacy_proxy", 90, _apple),
    ("google_image_proxy", 80, _google),
    ("bare_mozilla", 50, lambda ua, _ip, _s, _k: ua == "Mozilla/5.0"),
    ("instant", 80, lambda _ua, _ip, s, _k: s is not None and s <= 2),
    ("fast", 30, lambda _ua, _ip, s, _k: s is not None and 2 < s <= 10),
)


def fired(user_agent: str, ip: str, seconds_since_sent: int | None, kind: str) -> list[str]:
    """Names of the rules that fire for one open or click."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, not {kind!r}")
    ua = user_agent.strip()
    return [name for name, _, rule in RULES if rule(ua, ip, seconds_since_sent, kind)]


def score(user_agent: str, ip: str, seconds_since_sent: int | None, kind: str) -> int:
    """Scanner confidence 0-100: the sum of the points of the rules that fire, capped at 100."""
    names = set(fired(user_agent, ip, seconds_since_sent, kind))
    return min(100, sum(points for name, points, _ in RULES if name in names))


def classify(value: int) -> int:
    """0 human (< 50), 1 suspicious (50-79), 2 scanner (>= 80)."""
    if value >= SCANNER_FROM:
        return SCANNER
    if value >= SUSPICIOUS_FROM:
        return SUSPICIOUS
    return HUMAN

from __future__ import annotations

import pytest

from projections import scanner

CHROME = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36"
)
GMAIL_PROXY = (
    "Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)"
)
HUMAN_IP, APPLE_IP, GOOGLE_IP = "203.0.113.5", "17.58.101.7", "66.249.84.10"


@pytest.mark.parametrize(
    ("user_agent", "ip", "seconds", "kind", "expected"),
    [
        (CHROME, HUMAN_IP, 3600, "open", 0),
        (CHROME, HUMAN_IP, None, "click", 0),
        ("Mozilla/5.0", APPLE_IP, 600, "open", 100),
        ("", APPLE_IP, 600, "open", 100),
        (CHROME, APPLE_IP, 600, "open", 0),
        (GMAIL_PROXY, GOOGLE_IP, 600, "open", 80),
        (GMAIL_PROXY, HUMAN_IP, 600, "open", 80),
        ("Mozilla/5.0 (compatible)", GOOGLE_IP, 600, "open", 80),
        (CHROME, GOOGLE_IP, 600, "click", 0),
        ("Mozilla/5.0", APPLE_IP, 600, "click", 50),
        ("Mozilla/5.0", HUMAN_IP, 600, "open", 50),
        ("Barracuda Sentinel (EE)", HUMAN_IP, 600, "click", 100),
        ("Mimecast-Link-Scanner/1.0", HUMAN_IP, None, "click", 100),
        ("curl/8.5.0", HUMAN_IP, 600, "open", 90),
        ("python-requests/2.32", HUMAN_IP, 600, "click", 90),
        ("Mozilla/5.0 (compatible; Googlebot/2.1)", HUMAN_IP, 600, "click", 90),
        ("Mozilla/5.0 HeadlessChrome/124.0", HUMAN_IP, 600, "click", 90),
        ("", HUMAN_IP, 600, "click", 80),
        (CHROME, HUMAN_IP, 1, "click", 80),
        (CHROME, HUMAN_IP, 2, "open", 80),
        (CHROME, HUMAN_IP, 5, "click", 30),
        (CHROME, HUMAN_IP, 11, "click", 0),
        ("Mozilla/5.0", HUMAN_IP, 1, "click", 100),
        (CHROME, "not-an-ip", 600, "open", 0),
        (CHROME, "2001:db8::1", 600, "open", 0),
    ],
)
def test_score_follows_the_rule_table(
    user_agent: str, ip: str, seconds: int | None, kind: str, expected: int
) -> None:
    assert scanner.score(user_agent, ip, seconds, kind) == expected


def test_fired_names_each_rule() -> None:
    assert scanner.fired("Mozilla/5.0", APPLE_IP, 1, "open") == [
        "apple_privacy_proxy",
        "bare_mozilla",
        "instant",
    ]


def test_gmail_clicks_never_fire_proxy_rules() -> None:
    assert scanner.fired(GMAIL_PROXY, GOOGLE_IP, 600, "click") == []


@pytest.mark.parametrize(
    ("value", "expected"),
    [(0, 0), (49, 0), (50, 1), (79, 1), (80, 2), (100, 2)],
)
def test_classify_uses_the_spec_thresholds(value: int, expected: int) -> None:
    assert scanner.classify(value) == expected


def test_unknown_kind_is_refused() -> None:
    with pytest.raises(ValueError, match="kind"):
        scanner.score(CHROME, HUMAN_IP, None, "opened")

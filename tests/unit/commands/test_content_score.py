from __future__ import annotations

from dataclasses import replace

import pytest

from commands import content_score
from commands.content_score import RULES
from commands.content_score import ContentScore
from commands.content_score import FiredRule

NEWSLETTER_HTML = """<!DOCTYPE html>
<html>
<head><meta charset="utf-8"><title>Acme March update</title>
<style>p { font-family: Arial, sans-serif; } .x { color: #333; }</style></head>
<body>
<!--[if mso]><table role="presentation"><tr><td><![endif]-->
<table role="presentation" width="600">
  <tr><td><img src="https://cdn.acme.test/logo.png" alt="Acme" width="120"/></td></tr>
  <tr><td>
    <h1>What's new at Acme in March</h1>
    <p>Hi Jane,</p>
    <p>Exports are now up to three times faster, and you can schedule them to arrive in your
    inbox every Monday morning. Dashboards gained a new sharing panel, so your whole team sees
    the same numbers without copying spreadsheets around.</p>
    <p>Read the <a href="https://www.acme.test/blog/march">full release notes</a> or visit
    <a href="https://acme.test/dashboards">www.acme.test</a> to try it.<br>
    Questions? Just reply to this email.</p>
  </td></tr>
  <tr><td><p>Acme Inc, 1 Main Street, Springfield.
    <a href="{{unsubscribe_url}}">Unsubscribe</a> from product updates.</p></td></tr>
</table>
<!--[if mso]></td></tr></table><![endif]-->
<script>var tracking = "ACT NOW!!!";</script>
</body>
</html>
"""
NEWSLETTER_TEXT = """Hi Jane,

Exports are now up to three times faster, and dashboards gained a sharing panel.
Release notes: https://www.acme.test/blog/march

Acme Inc, 1 Main Street, Springfield. Unsubscribe: {{unsubscribe_url}}
"""
CLEAN = {
    "subject": "What's new at Acme in March: faster exports",
    "html": NEWSLETTER_HTML,
    "text": NEWSLETTER_TEXT,
    "from_address": "Acme News <news@acme.test>",
}
UNSUB_LINK = '<a href="{{unsubscribe_url}}">Unsubscribe</a>'
UNSUB = f"<p>{UNSUB_LINK}</p>"
PROSE = "<p>" + "We wrote a long and helpful paragraph about our product for you. " * 4 + "</p>"


def fired(**overrides: str | None) -> dict[str, str]:
    result = content_score.score(**{**CLEAN, **overrides})  # type: ignore[arg-type]
    return {rule.name: suggestion for rule, suggestion in zip(result.rules, result.suggestions, strict=True)}


def test_a_clean_realistic_newsletter_scores_excellent() -> None:
    assert content_score.score(**CLEAN) == ContentScore(100, "excellent", False, (), ())


@pytest.mark.parametrize(("overrides", "name", "suggestion"), [
    ({"subject": "  "}, "missing_subject", "Write a subject that says what the email is for."),
    ({"subject": "x" * 79}, "long_subject",
     "Shorten the subject to 78 characters or fewer (it has 79 characters)."),
    ({"subject": "FINAL NOTICE: YOUR Acme account"}, "shouting_subject",
     "Write the subject in sentence case (62 % of its letters are capitals)."),
    ({"subject": "Are you ready???"}, "excessive_punctuation",
     'Use at most one ! or ? in a row and drop repeated $ (found "???").'),
    ({"subject": "New! Fast! Cheap!"}, "excessive_punctuation",
     "Use at most one ! or ? in a row and drop repeated $ (found 3 exclamation marks in the subject)."),
    ({"text": NEWSLETTER_TEXT + "Save $$$ today"}, "excessive_punctuation",
     'Use at most one ! or ? in a row and drop repeated $ (found "$$$").'),
    ({"subject": "Act NOW: a 100% free trial, risk-free"}, "spam_trigger_phrases",
     'Rephrase or remove "act now", "100% free", "risk-free".'),
    ({"html": NEWSLETTER_HTML.replace("Read the", "Click here, winner! Read the")}, "spam_trigger_phrases",
     'Rephrase or remove "click here", "winner".'),
    ({"html": '<img src="https://cdn.acme.test/a.png"><p>Sale</p>' + UNSUB}, "image_heavy",
     "Add real text next to the images (1 image(s) and 16 characters of text; aim for at least 200);"
     " put key words in text, not pictures."),
    ({"html": '<img src="a.png"><img src="b.png"><img src="c.png">' + PROSE + UNSUB}, "image_heavy",
     "Add real text next to the images (3 image(s) and 271 characters of text; aim for at least 300);"
     " put key words in text, not pictures."),
    ({"text": None}, "missing_text_part", "Add a plain-text version of the message (the text field)."),
    ({"text": NEWSLETTER_TEXT + "https://bit.ly/3xYz and https://t.co/abc"}, "link_shortener",
     "Link straight to the destination on your own domain instead of bit.ly, t.co."),
    ({"html": NEWSLETTER_HTML.replace("https://www.acme.test/blog/march", "http://www.tinyurl.com/y4")},
     "link_shortener", "Link straight to the destination on your own domain instead of tinyurl.com."),
    ({"html": NEWSLETTER_HTML.replace("https://acme.test/dashboards", "https://login.evil.example/x")},
     "mismatched_link_text", 'Make each link\'s visible text match where it goes: "www.acme.test" opens '
     "login.evil.example."),
    ({"html": NEWSLETTER_HTML.replace(UNSUB_LINK, "Manage preferences"), "text": "Hi"}, "missing_unsubscribe",
     'Add a visible link such as <a href="{{unsubscribe_url}}">Unsubscribe</a>.'),
    ({"html": NEWSLETTER_HTML + "<!--" + "x" * 102 * 1024 + "-->"}, "html_too_large",
     "Trim the HTML below 102 KB (it is 103.1 KB): drop comments and unused CSS."),
    ({"html": NEWSLETTER_HTML.replace("</h1>", "</h2>")}, "unbalanced_html",
     "Fix the markup: stray </h2>, <h1> not closed before </td>."),
    ({"html": NEWSLETTER_HTML.replace("</html>", "<div><b>bye</div><div>")}, "unbalanced_html",
     "Fix the markup: <b> not closed before </div>, <div> never closed."),
    ({"from_address": "Acme <acme.news@Gmail.com>"}, "freemail_from",
     "Send from an address on your own verified domain instead of gmail.com."),
])
def test_each_rule_fires_with_a_concrete_suggestion(overrides: dict[str, str | None], name: str,
                                                    suggestion: str) -> None:
    assert fired(**overrides) == {name: suggestion}


def test_an_empty_body_fires_missing_body_and_missing_unsubscribe() -> None:
    assert fired(html=None, text="   ") == {
        "missing_body": "Write the message body (html and text).",
        "missing_unsubscribe": 'Add a visible link such as <a href="{{unsubscribe_url}}">Unsubscribe</a>.',
    }


def test_every_rule_has_a_check_and_the_score_subtracts_its_points() -> None:
    assert list(content_score.CHECKS) == list(RULES)
    result = content_score.score(CLEAN["subject"], NEWSLETTER_HTML, None, None)
    assert (result.score, result.rating, result.likely_spam) == (90, "excellent", False)
    assert result.rules == (FiredRule("missing_text_part", RULES["missing_text_part"].description, 10),)


@pytest.mark.parametrize(("points", "rating", "likely_spam"), [
    (10, "excellent", False), (11, "good", False), (25, "good", False), (26, "fair", False),
    (50, "fair", False), (51, "poor", True), (200, "poor", True),
])
def test_rating_thresholds(monkeypatch: pytest.MonkeyPatch, points: int, rating: str,
                           likely_spam: bool) -> None:
    monkeypatch.setitem(RULES, "freemail_from", replace(RULES["freemail_from"], points=points))
    result = content_score.score(CLEAN["subject"], NEWSLETTER_HTML, NEWSLETTER_TEXT, "x@gmail.com")
    assert (result.score, result.rating, result.likely_spam) == (max(0, 100 - points), rating, likely_spam)


def test_a_spammy_email_is_likely_spam() -> None:
    result = content_score.score(
        "WINNER!!! CLAIM YOUR CASH BONUS NOW",
        '<html><body><img src="https://cdn.deals.example/prize.jpg">'
        '<a href="https://bit.ly/claim">Click here</a> - limited time, no credit check!</body></html>',
        None,
        "Prize Desk <prizes@yahoo.com>",
    )
    assert [rule.name for rule in result.rules] == [
        "shouting_subject", "excessive_punctuation", "spam_trigger_phrases", "image_heavy",
        "missing_text_part", "link_shortener", "missing_unsubscribe", "freemail_from",
    ]
    assert (result.score, result.rating, result.likely_spam) == (0, "poor", True)
    assert result.suggestions[2] == ('Rephrase or remove "winner", "cash bonus", "click here" and 2 more.')


def test_lookalike_words_and_same_site_links_do_not_fire() -> None:
    html = NEWSLETTER_HTML.replace(
        "Read the", 'Our winners list (<a href="https://shop.acme.test/a">acme.test</a>) is out. Read the'
    )
    assert fired(subject="Meet the 2024 award winners", html=html) == {}
    pdf = NEWSLETTER_HTML.replace("full release notes", "release-notes.pdf")
    assert fired(html=pdf) == {}  # a file name is not a domain
    assert fired(subject="Is it ready? Yes!") == {}
    assert fired(subject="ACME Q1 results") == {}  # short all-caps acronyms are not shouting

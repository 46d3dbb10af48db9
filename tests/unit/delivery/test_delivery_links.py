"""HTML-aware and plain-text link rewriting, and the open pixel."""

from __future__ import annotations

import pytest

from consumers.delivery.links import insert_pixel
from consumers.delivery.links import is_trackable
from consumers.delivery.links import rewrite_html_links
from consumers.delivery.links import rewrite_text_links

UNSUBSCRIBE = "https://t.example.test/track/u/1"


def track(url: str) -> str | None:
    """A readable rewrite that skips what the renderer skips."""
    if not is_trackable(url) or url == UNSUBSCRIBE:
        return None
    return f"https://t.example.test/c?u={url}"


@pytest.mark.parametrize(("html", "expected"), [
    ('<a href="https://a.test/x">x</a>', '<a href="https://t.example.test/c?u=https://a.test/x">x</a>'),
    ("<a href='https://a.test/x'>x</a>", '<a href="https://t.example.test/c?u=https://a.test/x">x</a>'),
    ('<A HREF="HTTP://A.test/X">x</A>', '<A HREF="https://t.example.test/c?u=HTTP://A.test/X">x</A>'),
    ("<a href=https://a.test/x>x</a>", '<a href="https://t.example.test/c?u=https://a.test/x">x</a>'),
    ('<a class="b" href = " https://a.test/x " id=c>x</a>',
     '<a class="b" href = "https://t.example.test/c?u=https://a.test/x" id=c>x</a>'),
    ('<a href="https://a.test/?a=1&amp;b=2&#38;c=3">x</a>',
     '<a href="https://t.example.test/c?u=https://a.test/?a=1&amp;b=2&amp;c=3">x</a>'),
    ('<a href="https://a.test/q?s=&quot;x&quot;">x</a>',
     '<a href="https://t.example.test/c?u=https://a.test/q?s=&quot;x&quot;">x</a>'),
    ('<a title=\'see href="https://evil.test"\' href="https://a.test/x">x</a>',
     '<a title=\'see href="https://evil.test"\' href="https://t.example.test/c?u=https://a.test/x">x</a>'),
    ('<a href="https://a.test/1" href="https://a.test/2">x</a>',
     '<a href="https://t.example.test/c?u=https://a.test/1" href="https://a.test/2">x</a>'),
    ('<map><area shape="rect" href="https://a.test/m"/></map>',
     '<map><area shape="rect" href="https://t.example.test/c?u=https://a.test/m"/></map>'),
], ids=["double", "single", "upper", "unquoted", "spaces", "amp-entities", "quote-entity",
        "href-in-other-attribute", "first-href-wins", "area"])
def test_http_links_are_rewritten(html: str, expected: str) -> None:
    assert rewrite_html_links(html, track) == expected


@pytest.mark.parametrize("html", [
    '<a href="mailto:ann@example.test">mail</a>',
    '<a href="tel:+15550100">call</a>',
    '<a href="#top">top</a>',
    '<a href="/relative/path">rel</a>',
    '<a href="ftp://a.test/f">ftp</a>',
    f'<a href="{UNSUBSCRIBE}">unsubscribe</a>',
    "<a name=anchor>no href</a>",
    "<a href>empty</a>",
    '<!-- <a href="https://a.test/commented">x</a> -->',
    '<script>var s = \'<a href="https://a.test/js">\';</script>',
    '<link rel="stylesheet" href="https://a.test/style.css">',
    '<img src="https://a.test/logo.png">',
], ids=["mailto", "tel", "anchor", "relative", "ftp", "unsubscribe", "no-href", "bare-href",
        "comment", "script", "link-tag", "img"])
def test_other_links_and_tags_are_left_alone(html: str) -> None:
    assert rewrite_html_links(html, track) == html


def test_the_rest_of_a_document_is_kept_byte_for_byte() -> None:
    html = ('<!DOCTYPE html>\r\n<html>\r\n<head><style>a{color:red}</style></head>\r\n'
            '<body>\r\n  <p>Caf&eacute; &amp; more</p>\r\n  <a\r\n   href="https://a.test/x"\r\n'
            '   >x</a> <a href="mailto:a@b.test">m</a>\r\n<a href="https://a.test/y">y</a>\r\n'
            '</body>\r\n</html>\r\n')

    assert rewrite_html_links(html, track) == (
        html.replace('"https://a.test/x"', '"https://t.example.test/c?u=https://a.test/x"')
        .replace('"https://a.test/y"', '"https://t.example.test/c?u=https://a.test/y"'))


@pytest.mark.parametrize(("text", "expected"), [
    ("Go to https://a.test/x now", "Go to https://t.example.test/c?u=https://a.test/x now"),
    ("End: https://a.test/x.", "End: https://t.example.test/c?u=https://a.test/x."),
    ("(see https://a.test/x), ok", "(see https://t.example.test/c?u=https://a.test/x), ok"),
    ("wiki https://a.test/A_(b)!", "wiki https://t.example.test/c?u=https://a.test/A_(b)!"),
    ("<https://a.test/x>", "<https://t.example.test/c?u=https://a.test/x>"),
    ("two http://a.test/1\nhttps://a.test/2?q=1&r=2",
     "two https://t.example.test/c?u=http://a.test/1\nhttps://t.example.test/c?u=https://a.test/2?q=1&r=2"),
    (f"Leave: {UNSUBSCRIBE}", f"Leave: {UNSUBSCRIBE}"),
    ("mail ann@example.test or www.a.test", "mail ann@example.test or www.a.test"),
], ids=["plain", "trailing-dot", "parenthesised", "balanced-parens", "angle-brackets", "several",
        "unsubscribe", "not-urls"])
def test_bare_urls_in_text_are_rewritten(text: str, expected: str) -> None:
    assert rewrite_text_links(text, track) == expected


def test_pixel_goes_before_the_last_closing_body_tag_with_escaped_url() -> None:
    html = "<body><p>&lt;/body&gt;</p></body><!-- trailer --></body>"

    assert insert_pixel(html, "https://t.test/o?a=1&b=2") == (
        "<body><p>&lt;/body&gt;</p></body><!-- trailer -->"
        '<img src="https://t.test/o?a=1&amp;b=2" width="1" height="1" alt="" style="display:none">'
        "</body>")


@pytest.mark.parametrize(("html", "expected"), [
    ('<a title="a > b" href="https://a.test/x">x</a>',
     '<a title="a > b" href="https://t.example.test/c?u=https://a.test/x">x</a>'),
    ("<a\nhref='https://a.test/x'\n>x</a>", '<a\nhref="https://t.example.test/c?u=https://a.test/x"\n>x</a>'),
    ('<a\thref="https://a.test/x"/>', '<a\thref="https://t.example.test/c?u=https://a.test/x"/>'),
    ('<AREA HREF="https://a.test/x">', '<AREA HREF="https://t.example.test/c?u=https://a.test/x">'),
    ('<script>x</SCRIPT\n><a href="https://a.test/x">',
     '<script>x</SCRIPT\n><a href="https://t.example.test/c?u=https://a.test/x">'),
    ('<!----><!-- a -- b --><a href="https://a.test/x">',
     '<!----><!-- a -- b --><a href="https://t.example.test/c?u=https://a.test/x">'),
    ('<!--><a href="https://a.test/x">', '<!--><a href="https://t.example.test/c?u=https://a.test/x">'),
    ('<![if !mso]><a href="https://a.test/x"><![endif]>',
     '<![if !mso]><a href="https://t.example.test/c?u=https://a.test/x"><![endif]>'),
    ('<p>1 < 2</p><a href="https://a.test/x">', '<p>1 < 2</p><a href="https://t.example.test/c?u=https://a.test/x">'),
    ('<a href="https://a.test/x"><!-- <a href="https://a.test/y">',
     '<a href="https://t.example.test/c?u=https://a.test/x"><!-- <a href="https://a.test/y">'),
], ids=["gt-in-quoted-attribute", "newline-attributes", "tab-and-self-closing", "upper-area",
        "script-end-tag-any-case", "comments-with-dashes", "empty-comment", "downlevel-revealed",
        "bare-less-than", "before-an-unclosed-comment"])
def test_links_next_to_other_constructs_are_rewritten(html: str, expected: str) -> None:
    assert rewrite_html_links(html, track) == expected


@pytest.mark.parametrize("html", [
    '<img alt="<a href=\'https://a.test/alt\'>" src="x.png">',
    "<div title='x > <a href=\"https://a.test/title\">'>",
    '<!--[if mso]><a href="https://a.test/mso"><![endif]-->',
    '<![CDATA[ <a href="https://a.test/cdata"> ]]>',
    '<!DOCTYPE html SYSTEM "<a href=https://a.test/doctype>">',
    '<?xml version="1.0" <a href="https://a.test/pi"?>',
    '<SCRIPT type="text/javascript">document.write(\'<a href="https://a.test/js">\')</SCRIPT>',
    '<style>/* <a href="https://a.test/css"> */</style>',
    '<textarea><a href="https://a.test/textarea">x</a></textarea>',
    '<title>See <a href="https://a.test/title">this</a></title>',
    '<script><a href="https://a.test/unclosed-script">',
    '<!-- <a href="https://a.test/unclosed-comment">',
    '<a href="https://a.test/unclosed-tag"',
    '<a title="unclosed quote href="https://a.test/q">',
    '<abbr href="https://a.test/abbr">', '<address href="https://a.test/address">',
    '</a href="https://a.test/end-tag">',
], ids=["lt-in-quoted-attribute", "gt-and-lt-in-quoted-attribute", "mso-conditional-comment",
        "cdata", "doctype", "processing-instruction", "uppercase-script", "style", "textarea",
        "title", "unclosed-script", "unclosed-comment", "unclosed-tag", "unclosed-quote",
        "abbr", "address", "end-tag"])
def test_link_lookalikes_are_left_alone(html: str) -> None:
    assert rewrite_html_links(html, track) == html


@pytest.mark.parametrize("tail", ["<a " * 20_000, '<p a="' * 20_000, "<!--" * 20_000,
                                  "<script " * 20_000, "<a x=" * 20_000, "<" * 50_000])
def test_pathological_documents_are_scanned_in_linear_time(tail: str) -> None:
    html = '<a href="https://a.test/x">' + tail

    assert rewrite_html_links(html, track) == (
        '<a href="https://t.example.test/c?u=https://a.test/x">' + tail)

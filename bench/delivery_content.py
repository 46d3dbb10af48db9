"""Seeded message bodies for the delivery benchmark, and ``POST /api/batch`` bodies of them.

Each message is a newsletter-like ``/api/send`` body: 10-50 KB of HTML (a table layout,
paragraphs, ~20 links, a few images, a footer) and a plain-text part with the same words
and links. Every message differs; the same seed gives the same messages.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterable
from collections.abc import Iterator
from typing import Any

FROM = "news@bench.test"
HTML_MIN, HTML_MAX = 10_000, 50_000
LINKS = 20
MAX_BATCH = 500  # spec §3
# Under the API's 10 MB request limit (JSON escaping adds a little to the HTML's size).
MAX_REQUEST_BYTES = 8_000_000
WORDS = (
    "account adventure autumn balance benefit bright budget cabin calendar camera careful "
    "carry center chapter choice citizen classic clever coffee collect comfort common "
    "company corner country course credit custom daily debate deliver design detail "
    "digital dinner direct discount dozen early easy edition effort energy event example "
    "expert family famous feature festival field final finish flavour forest fortune "
    "fresh friend future garden gather gentle global golden growth guide harbour healthy "
    "history holiday honest hotel idea import island journey kitchen ladder launch "
    "leader lesson library limited local lucky market member menu method minute modern "
    "moment monthly morning mountain museum nature network notice number ocean offer "
    "office online option orange order partner people perfect planet pocket popular "
    "portion premium present price private product program project promise quality "
    "question quick recipe record reader region report reward river safety sample "
    "season secret select service simple social special spring station story studio "
    "summer supply support system table talent ticket today travel update useful "
    "valley value village visit weekly welcome window winter wonder workshop world yearly"
).split()
HEAD = ('<!DOCTYPE html><html><head><meta charset="utf-8"><title>{title}</title><style>'
        "body{{margin:0;padding:0;background:#f4f4f4;font-family:Helvetica,Arial,sans-serif}}"
        ".wrap{{width:100%;max-width:640px;margin:0 auto;background:#fff}}"
        "h1{{font-size:24px;color:#222}}h2{{font-size:18px;color:#333}}"
        "p{{font-size:15px;line-height:1.5;color:#444}}a{{color:#0a66c2}}"
        ".btn{{display:inline-block;padding:10px 18px;background:#0a66c2;color:#fff}}"
        "</style></head><body><table class=\"wrap\" role=\"presentation\" cellpadding=\"0\" "
        "cellspacing=\"0\"><tr><td style=\"padding:24px\"><h1>{title}</h1>")
FOOT = ('</td></tr><tr><td style="padding:16px;font-size:12px;color:#888">You receive this '
        'because you subscribed at bench.test. <a href="https://bench.test/preferences?u={n}">'
        "Preferences</a></td></tr></table></body></html>")


def _words(rng: random.Random, count: int) -> str:
    return " ".join(rng.choices(WORDS, k=count))


def _link(rng: random.Random, n: int, k: int) -> tuple[str, str]:
    path = "/".join(rng.choices(WORDS, k=rng.randint(1, 3)))
    url = f"https://shop.example.org/{path}?id={n}-{k}&utm_source=newsletter&utm_medium=email"
    return url, _words(rng, rng.randint(2, 5)).capitalize()


def body(rng: random.Random, n: int, to: str, cc: tuple[str, ...] = ()) -> dict[str, Any]:
    """Message ``n``: an ``/api/send`` body with 10-50 KB of HTML, ~20 links and a text part."""
    target = rng.randint(HTML_MIN, HTML_MAX)
    title = _words(rng, rng.randint(4, 8)).capitalize()
    html, text = [HEAD.format(title=title)], [title, ""]
    size, links = len(html[0]) + len(FOOT), 0
    for k in range(10_000):  # bounded: each paragraph adds at least 100 bytes
        if size >= target:
            break
        paragraph = _words(rng, rng.randint(30, 90)).capitalize() + "."
        chunk, plain = f"<h2>{_words(rng, 3).title()}</h2><p>{paragraph}</p>", [paragraph]
        if links < LINKS and rng.random() < 0.8:
            url, label = _link(rng, n, k)
            chunk += f'<p><a class="btn" href="{url}">{label}</a></p>'
            plain.append(f"{label}: {url}")
            links += 1
        if k % 4 == 3:
            chunk += (f'<img src="https://cdn.example.org/img/{n}-{k}.jpg" width="592" '
                      f'height="300" alt="{_words(rng, 3)}">')
        html.append(chunk)
        text += [*plain, ""]
        size += len(chunk)
    html.append(FOOT.format(n=n))
    found: dict[str, Any] = {"to": to, "from": FROM, "subject": title, "html": "".join(html),
                             "text": "\n".join(text), "tag": "bench"}
    if cc:
        found["cc"] = list(cc)
    return found


def bodies(seed: int, count: int, first: int = 0) -> list[dict[str, Any]]:
    """``count`` messages to distinct recipients, numbered from ``first``."""
    rng = random.Random(seed * 1_000_003 + first)
    return [body(rng, n, f"reader{n}@example.com") for n in range(first, first + count)]


def pack(messages: Iterable[dict[str, Any]], max_items: int = MAX_BATCH,
         max_bytes: int = MAX_REQUEST_BYTES) -> Iterator[tuple[bytes, int]]:
    """``POST /api/batch`` request bodies, each with its number of messages."""
    parts: list[bytes] = []
    size = 0
    for message in messages:
        encoded = json.dumps(message).encode()
        if parts and (len(parts) == max_items or size + len(encoded) + 16 > max_bytes):
            yield b'{"emails":[' + b",".join(parts) + b"]}", len(parts)
            parts, size = [], 0
        parts.append(encoded)
        size += len(encoded) + 1
    if parts:
        yield b'{"emails":[' + b",".join(parts) + b"]}", len(parts)

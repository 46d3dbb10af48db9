"""DKIM signing rate on one core: dkimpy's ``dkim.sign`` against ours (OpenSSL via ``cryptography``).

Both sign the same rendered message (HTML and text parts, click and open tracking with the
worker's signed tracking links) with the same RSA-2048 key and ``h=`` list, in alternating
slices in one process and thread, so machine noise hits both alike. Ours builds a
:class:`DkimSigner` per message as the worker does. Imported by the delivery benchmark.
"""

from __future__ import annotations

import math
import time
from datetime import UTC
from datetime import datetime
from typing import TYPE_CHECKING
from uuid import UUID

import dkim

from consumers.delivery.render import OutboundMessage
from consumers.delivery.render import render
from consumers.delivery.signing import DkimSigner
from consumers.delivery.signing import headers_to_sign
from mailerlogic.delivery import SignedTrackingLinks
from security import dkim_keys

if TYPE_CHECKING:
    from collections.abc import Callable

DOMAIN, SELECTOR = "bench.test", "ml202603"
SLICE_S = 0.1
_PARAGRAPH = ('<h2>Spring edition</h2><p style="font-size:15px;line-height:1.5;color:#444">Fresh ideas '
              "for your garden, kitchen and weekend journeys: our editors picked the season's best "
              'offers, recipes and stories. <a href="https://shop.bench.test/spring/{n}?utm_source='
              'newsletter&amp;utm_medium=email">Read more</a></p>\n')


def sign_rates(seconds: float = 2.0, size: int = 30_000) -> tuple[float, float]:
    """(dkimpy signatures/s, ours signatures/s) on one ~``size``-byte rendered message.

    Each side runs about ``seconds`` in total, so the call takes about twice that.
    """
    pem = dkim_keys.generate().private_key_pem.encode("ascii")
    data = rendered_message(size)
    names = headers_to_sign(data)

    def theirs() -> None:
        dkim.sign(data, SELECTOR.encode(), DOMAIN.encode(), pem, canonicalize=(b"relaxed", b"relaxed"),
                  include_headers=names, linesep=b"\r\n")

    def ours() -> None:
        DkimSigner(DOMAIN, SELECTOR, pem).sign(data)

    runners = (theirs, ours)
    for run in runners:  # warm up (and parse our key once, as a long-running worker has)
        run()
    counts, spent = [0, 0], [0.0, 0.0]
    while min(spent) < seconds:
        for side, run in enumerate(runners):
            done, elapsed = _run_for(run, min(SLICE_S, seconds))
            counts[side] += done
            spent[side] += elapsed
    return counts[0] / spent[0], counts[1] / spent[1]


def rendered_message(size: int) -> bytes:
    """An unsigned newsletter as the worker renders it, of at least ``size`` bytes."""
    paragraphs = 8
    data = _render(paragraphs)
    while len(data) < size:  # headers and the text part do not grow: converge in a few renders
        paragraphs = math.ceil(paragraphs * size / len(data))
        data = _render(paragraphs)
    return data


def _render(paragraphs: int) -> bytes:
    html = "".join(_PARAGRAPH.format(n=n) for n in range(paragraphs))
    message = OutboundMessage(
        message_id=UUID("0b6f3c1e-7d2a-4c55-9a51-6f1e2d3c4b5a"), from_address="Bench News <news@bench.test>",
        to=("reader@example.test",), subject="Spring edition: fresh ideas for the season",
        domain=DOMAIN, queued_at=datetime(2026, 3, 15, 9, 0, tzinfo=UTC),
        html=f"<!DOCTYPE html><html><body>{html}</body></html>",
        text="Spring edition\n\nRead more: https://shop.bench.test/spring\n",
        track_opens=True, track_clicks=True, unsubscribe_mailto="unsubscribe@bench.test",
    )
    return render(message, SignedTrackingLinks(b"bench-secret", "https://t.bench.test"), dkim=None)


def _run_for(run: Callable[[], None], seconds: float) -> tuple[int, float]:
    """How many times ``run`` completed in about ``seconds``, and the time it really took."""
    done, start = 0, time.perf_counter()
    deadline = start + seconds
    while True:
        run()
        done += 1
        now = time.perf_counter()
        if now >= deadline:
            return done, now - start

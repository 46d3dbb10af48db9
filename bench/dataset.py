"""Realistic event envelopes, generated once per (count, seed) and cached in ``bench/data/``.

File format: one envelope per line, ``<Envelope.key>\\t<Envelope.to_json()>`` (JSON never holds a
raw tab or newline), so ``kcat -P -K '\\t'`` produces exactly the records the relay would: same
key, same value. ``values()`` yields the JSON part alone.

The stream: 1,000 customers with Zipf-skewed volume (1-3 sending domains, a few tags each) send
messages over 30 days; each message is ``queued`` -> ``sent`` -> ``delivered`` (~95.5%) or
``bounced`` (hard/soft), then opens (humans, Apple Mail privacy prefetches, Google's image
proxy, security gateways) and clicks. Payload keys are those of
``event_store.publishing`` (queued, opened, clicked) and the ones ``projections.events`` reads
for sent/delivered/bounced. Positions follow ``recorded_at`` order, as in the notification log.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC
from datetime import datetime
from pathlib import Path
from typing import Any
from uuid import UUID

from tqdm import tqdm

from bench.common import DATA_DIR
from event_store.envelope import Envelope
from event_store.envelope import event_id_for

VERSION = 1
CUSTOMERS = 1_000
START = datetime(2026, 3, 1, tzinfo=UTC).timestamp()
SPAN_S = 30 * 86_400
PROVIDERS = (("gmail.com", 35), ("outlook.com", 15), ("yahoo.com", 8), ("icloud.com", 12),
             ("hotmail.com", 5), ("corp", 25))
_WEBKIT = "AppleWebKit/605.1.15 (KHTML, like Gecko)"
_CHROME = "AppleWebKit/537.36 (KHTML, like Gecko) Chrome/122.0.0.0"
HUMAN_UAS = (
    f"Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) {_WEBKIT} Mobile/15E148",
    f"Mozilla/5.0 (Windows NT 10.0; Win64; x64) {_CHROME} Safari/537.36",
    "Microsoft Office/16.0 (Windows NT 10.0; Microsoft Outlook 16.0.17328; Pro)",
    f"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) {_WEBKIT}",
    f"Mozilla/5.0 (Linux; Android 14; Pixel 8) {_CHROME} Mobile Safari/537.36",
    "Mozilla/5.0 (X11; Linux x86_64; rv:123.0) Gecko/20100101 Thunderbird/115.8.0",
)
GOOGLE_UA = "Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)"
GATEWAY_UAS = ("Mimecast URL Protect/1.0", "Mozilla/5.0 (compatible; Barracuda Sentinel)",
               "Proofpoint URL Defense", "python-requests/2.31.0")
TAGS = ("newsletter", "receipt", "password-reset", "welcome", "digest", "promo", None)
SUBJECTS = ("Your receipt #{n}", "Weekly digest {n}", "Reset your password", "Welcome aboard!",
            "Only today: {n}% off", "Your order {n} has shipped")

# One pending event: (recorded_at, occurred_at, event_type, message index, extra).
Pending = tuple[float, float, str, int, Any]


@dataclass(frozen=True, slots=True)
class Message:
    """What every event of one message repeats: its dimensions."""

    email_id: UUID
    customer_id: UUID
    dims: dict[str, Any]
    provider: str
    sent_at: float


def path_for(count: int, seed: int) -> Path:
    """The cache file of ``count`` envelopes generated with ``seed``."""
    return DATA_DIR / f"envelopes-v{VERSION}-n{count}-s{seed}.tsv"


def ensure(count: int, seed: int) -> Path:
    """The cached file, generated first if missing (written to a temporary name, then renamed)."""
    path = path_for(count, seed)
    if path.exists():
        return path
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    with tmp.open("wb", buffering=1 << 20) as out:
        out.writelines(_lines(count, seed))
    tmp.rename(path)
    return path


def values(path: Path, limit: int | None = None) -> list[bytes]:
    """The JSON values of the first ``limit`` lines (the Kafka record values)."""
    with path.open("rb") as lines:
        return [line.rstrip(b"\n").split(b"\t", 1)[1] for line in itertools.islice(lines, limit)]


def _lines(count: int, seed: int) -> Iterator[bytes]:
    rng = random.Random(seed)
    messages, pending = _simulate(rng, count)
    pending.sort(key=lambda event: event[0])
    for position, event in enumerate(tqdm(pending[:count], desc="generate envelopes", unit="ev",
                                          unit_scale=True, leave=False), start=1):
        envelope = _envelope(rng, messages[event[3]], event, position)
        yield envelope.key + b"\t" + envelope.to_json() + b"\n"


def _uuid(rng: random.Random) -> UUID:
    return UUID(int=rng.getrandbits(128), version=4)


def _customers(rng: random.Random) -> list[tuple[UUID, list[tuple[str, str]], list[str | None]]]:
    found = []
    for i in range(CUSTOMERS):
        domains = [(f"{word}{i}.example", str(_uuid(rng)))
                   for word in rng.sample(("mail", "news", "shop", "app"), rng.randint(1, 3))]
        found.append((_uuid(rng), domains, rng.sample(TAGS, 3)))
    return found


def _simulate(rng: random.Random, count: int) -> tuple[list[Message], list[Pending]]:
    customers = _customers(rng)
    weights = list(itertools.accumulate(1 / (rank + 1) ** 1.1 for rank in range(CUSTOMERS)))
    providers, provider_weights = zip(*PROVIDERS, strict=True)
    messages: list[Message] = []
    pending: list[Pending] = []
    while len(pending) < count * 1.02 + 100:
        customer_id, domains, tags = customers[rng.choices(range(CUSTOMERS), cum_weights=weights)[0]]
        domain, domain_id = rng.choice(domains)
        provider = rng.choices(providers, provider_weights)[0]
        mailbox = provider if provider != "corp" else f"corp{rng.randrange(500)}.example"
        dims = {"recipient": f"user{rng.randrange(10**7)}@{mailbox}",
                "from_address": f"{rng.choice(('hello', 'news', 'no-reply'))}@{domain}",
                "domain": domain, "domain_id": domain_id, "tag": rng.choice(tags)}
        queued = START + rng.random() * SPAN_S
        sent = queued + rng.uniform(0.05, 2.0)
        messages.append(Message(_uuid(rng), customer_id, dims, provider, sent))
        _message_events(rng, len(messages) - 1, provider, queued, sent, pending)
    return messages, pending


def _message_events(rng: random.Random, index: int, provider: str, queued: float, sent: float,
                    pending: list[Pending]) -> None:
    def add(event_type: str, occurred: float, extra: Any = None) -> None:
        pending.append((occurred + rng.uniform(0.0, 0.4), occurred, event_type, index, extra))

    add("queued", queued)
    add("sent", sent)
    outcome = rng.random()
    if outcome >= 0.955:
        add("bounced", sent + rng.uniform(0.3, 30.0), "hard" if outcome >= 0.97 else "soft")
        return
    delivered = sent + rng.uniform(0.3, 8.0)
    add("delivered", delivered)
    opens = _opens(rng, provider, delivered)
    for opened, ua, ip in opens:
        add("opened", opened, (ua, ip, _uuid(rng)))
    if opens and rng.random() < 0.15:
        clicked, ua, ip = opens[0]
        add("clicked", clicked + rng.lognormvariate(3.5, 1.0), (ua, ip, _uuid(rng)))


def _opens(rng: random.Random, provider: str, delivered: float) -> list[tuple[float, str, str]]:
    if provider == "icloud.com" and rng.random() < 0.8:  # Apple Mail privacy prefetch
        apple_ip = f"17.{rng.randrange(256)}.0.{rng.randrange(256)}"
        return [(delivered + rng.uniform(1, 60), "Mozilla/5.0", apple_ip)]
    if provider == "corp" and rng.random() < 0.3:  # a security gateway fetches at once
        return [(delivered + rng.uniform(0.2, 1.8), rng.choice(GATEWAY_UAS), f"52.{rng.randrange(256)}.3.9")]
    if rng.random() >= 0.3:
        return []
    ip = f"{rng.choice((81, 86, 92, 151, 176, 203))}.{rng.randrange(256)}.{rng.randrange(256)}.7"
    ua = GOOGLE_UA if provider == "gmail.com" else rng.choice(HUMAN_UAS)
    if provider == "gmail.com":
        ip = f"66.249.{rng.randrange(256)}.{rng.randrange(256)}"
    first = delivered + rng.lognormvariate(7.5, 1.5)
    return [(first + i * rng.lognormvariate(8, 1), ua, ip) for i in range(1 + int(rng.expovariate(1.5)))]


def _envelope(rng: random.Random, message: Message, event: Pending, position: int) -> Envelope:
    recorded, occurred, event_type, _, extra = event
    payload, originator, version = _payload(rng, message, event_type, occurred, extra)
    return Envelope(event_id=event_id_for(originator, version), event_type=event_type,
                    customer_id=message.customer_id, email_id=message.email_id,
                    occurred_at=datetime.fromtimestamp(occurred, UTC),
                    recorded_at=datetime.fromtimestamp(recorded, UTC), position=position,
                    payload=payload)


def _payload(rng: random.Random, message: Message, event_type: str, occurred: float,
             extra: Any) -> tuple[dict[str, Any], UUID, int]:
    dims = message.dims
    if event_type == "queued":
        payload = {"from_address": dims["from_address"],
                   "subject": rng.choice(SUBJECTS).format(n=rng.randrange(1, 100_000)),
                   "tag": dims["tag"], "metadata": {"campaign": f"c{rng.randrange(300)}"}
                   if rng.random() < 0.6 else {}, "domain": dims["domain"],
                   "domain_id": dims["domain_id"], "recipient": dims["recipient"], "recipients": 1,
                   "track_opens": True, "track_clicks": rng.random() < 0.8}
        return payload, message.email_id, 1
    if event_type in ("opened", "clicked"):
        ua, ip, hit_id = extra
        payload = {**dims, "user_agent": ua, "ip": ip,
                   "seconds_since_sent": int(occurred - message.sent_at)}
        if event_type == "clicked":
            payload["url"] = f"https://{dims['domain']}/p/{rng.randrange(5000)}?utm_campaign={dims['tag']}"
        return payload, hit_id, 1
    mx = "gmail-smtp-in.l.google.com" if "gmail" in dims["recipient"] else "mx1.mail.example"
    if event_type == "sent":
        reason = f"2.0.0 Ok: queued as {rng.getrandbits(40):010X}"
        return {**dims, "mx": mx, "smtp_code": 250, "reason": reason}, message.email_id, 2
    if event_type == "delivered":
        reason = f"2.0.0 OK {int(occurred)} {rng.getrandbits(32):08x} - gsmtp"
        return {**dims, "mx": mx, "smtp_code": 250, "reason": reason}, message.email_id, 3
    code, reason = (550, "5.1.1 The email account does not exist") if extra == "hard" else \
        (452, "4.2.2 The recipient's inbox is out of storage space")
    return ({**dims, "mx": mx, "smtp_code": code, "reason": reason, "bounce_type": extra},
            message.email_id, 3)

from __future__ import annotations

import json
import random
from datetime import UTC
from datetime import datetime
from datetime import timedelta
from typing import Any
from uuid import UUID

import pytest

from event_store.envelope import EVENT_TYPES
from event_store.envelope import Envelope
from projections import events
from tests.helpers import envelope

CUSTOMER = UUID("00000000-0000-0000-0000-0000000000c1")
EMAIL = UUID("00000000-0000-0000-0000-0000000000e1")
DOMAIN_ID = UUID("00000000-0000-0000-0000-0000000000d1")
AT = datetime(2026, 3, 15, 10, 0, 7, 123_456, tzinfo=UTC)
SECOND = int(AT.timestamp())  # DateTime columns get Unix seconds
DIMENSIONS = {
    "recipient": "rcpt@example.org",
    "from_address": "news@mail.example.com",
    "domain": "mail.example.com",
    "domain_id": str(DOMAIN_ID),
    "tag": "welcome",
}
CHROME = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/124.0 Safari/537.36"


def _one(event_type: str, **payload: Any) -> dict[str, Any]:
    item = envelope(event_type, 7, customer_id=CUSTOMER, email_id=EMAIL, at=AT, **payload)
    [row] = events.rows([item])
    return dict(zip(events.COLUMNS, row, strict=True))


def test_queued_row_has_every_column() -> None:
    payload = {**DIMENSIONS, "subject": "Hi", "metadata": {"k": 1}, "recipients": 1}
    row = _one("queued", **payload)
    assert row == {
        "event_id": envelope("queued", 7).event_id,
        "position": 7,
        "event_type": "queued",
        "customer_id": CUSTOMER,
        "email_id": EMAIL,
        "occurred_at": SECOND,
        "recorded_at": SECOND,
        "recipient": "rcpt@example.org",
        "from_address": "news@mail.example.com",
        "domain": "mail.example.com",
        "domain_id": DOMAIN_ID,
        "tag": "welcome",
        "scanner_score": 0,
        "user_agent": "",
        "ip": "",
        "url": "",
        "smtp_code": 0,
        "bounce_type": "",
        "reason": "",
        "payload": json.dumps(payload, sort_keys=True, separators=(",", ":")),
    }


def test_queued_accepts_the_aggregate_field_name_to() -> None:
    assert _one("queued", to="a@b.c")["recipient"] == "a@b.c"


def test_opened_row_is_scored() -> None:
    row = _one("opened", **DIMENSIONS, user_agent="Mozilla/5.0", ip="17.1.2.3",
               seconds_since_sent=600)
    assert (row["scanner_score"], row["user_agent"], row["ip"]) == (100, "Mozilla/5.0", "17.1.2.3")


def test_clicked_row_keeps_url_and_scores_as_click() -> None:
    row = _one("clicked", **DIMENSIONS, user_agent=CHROME, ip="66.249.1.1",
               seconds_since_sent=5, url="https://example.org/a?b=1")
    assert (row["scanner_score"], row["url"]) == (30, "https://example.org/a?b=1")


def test_engagement_without_timing_is_scored_from_user_agent() -> None:
    assert _one("opened", user_agent="curl/8.0", ip="")["scanner_score"] == 90


def test_bounced_row_reads_type_code_and_diagnostic() -> None:
    row = _one("bounced", type="soft", code=421, diagnostic="4.2.1 try later")
    assert (row["bounce_type"], row["smtp_code"], row["reason"]) == ("soft", 421, "4.2.1 try later")


def test_bounce_type_defaults_to_hard_for_bounced_and_soft_for_failed() -> None:
    assert _one("bounced", smtp_code=550)["bounce_type"] == "hard"
    assert _one("failed", reason="timeout")["bounce_type"] == "soft"
    assert _one("delivered", smtp_code=250)["bounce_type"] == ""


def test_non_engagement_events_score_zero_even_with_a_bot_user_agent() -> None:
    assert _one("complained", user_agent="curl/8.0", reason="abuse")["scanner_score"] == 0


def test_missing_email_id_and_dimensions_become_zero_values() -> None:
    item = Envelope(event_id=UUID(int=9), event_type="unsubscribed", customer_id=CUSTOMER,
                    occurred_at=AT, recorded_at=AT, position=9)
    row = dict(zip(events.COLUMNS, events.rows([item])[0], strict=True))
    assert (row["email_id"], row["domain_id"], row["tag"], row["payload"]) == (
        events.ZERO_UUID, events.ZERO_UUID, "", "{}")


def test_unknown_event_types_are_skipped() -> None:
    items = [envelope("delivered", 1), envelope("rendered", 2), envelope("sent", 3)]
    assert [row[1] for row in events.rows(items)] == [1, 3]


def test_every_event_type_maps_to_one_row() -> None:
    items = [envelope(kind, i) for i, kind in enumerate(EVENT_TYPES)]
    assert [row[2] for row in events.rows(items)] == list(EVENT_TYPES)


def test_malformed_domain_id_raises_value_error() -> None:
    with pytest.raises(ValueError, match="badly formed"):
        _one("queued", domain_id="not-a-uuid")


def test_non_numeric_smtp_code_raises_value_error() -> None:
    with pytest.raises(ValueError, match="invalid literal"):
        _one("delivered", smtp_code="two-fifty")


def _random_envelope(rng: random.Random, position: int) -> Envelope:
    kind = rng.choice(EVENT_TYPES)
    payload: dict[str, Any] = {**DIMENSIONS, "tag": rng.choice(["", "a", "b'\\"])}
    if kind in ("opened", "clicked"):
        payload |= {"user_agent": rng.choice([CHROME, "Mozilla/5.0", "", "curl/8"]),
                    "ip": rng.choice(["17.0.0.9", "66.102.0.1", "198.51.100.2"]),
                    "seconds_since_sent": rng.choice([None, 0, 2, 9, 4000])}
    if kind in ("bounced", "failed", "delivered"):
        payload |= {"smtp_code": rng.choice([250, 421, 550]), "reason": "r"}
    at = AT + timedelta(seconds=rng.randrange(10**6), microseconds=rng.randrange(10**6))
    return envelope(kind, position, customer_id=UUID(int=rng.getrandbits(128)),
                    email_id=UUID(int=rng.getrandbits(128)), at=at, **payload)


@pytest.mark.parametrize("seed", range(20))
def test_same_input_gives_same_rows(seed: int) -> None:
    rng = random.Random(seed)
    batch = [_random_envelope(rng, position) for position in range(1, 51)]
    decoded = [Envelope.from_json(item.to_json()) for item in batch]
    assert events.rows(batch) == events.rows(list(batch)) == events.rows(decoded)
    assert [row[1] for row in events.rows(batch)] == list(range(1, 51))

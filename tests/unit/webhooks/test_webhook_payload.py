"""The outbound webhook contract: matching, firing order, body bytes and signature."""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import replace
from datetime import UTC
from datetime import datetime
from typing import Any
from uuid import UUID

import pytest

from consumers.webhooks.payload import EVENT_NAMES
from consumers.webhooks.payload import Endpoint
from consumers.webhooks.payload import body
from consumers.webhooks.payload import headers
from consumers.webhooks.payload import matches
from consumers.webhooks.payload import order
from consumers.webhooks.payload import sign
from consumers.webhooks.payload import targets
from event_store.envelope import Envelope

EVENT_ID = UUID("6f1c0d2e-0000-4000-8000-000000000001")
CUSTOMER = UUID("6f1c0d2e-0000-4000-8000-0000000000c1")
EMAIL = UUID("6f1c0d2e-0000-4000-8000-0000000000e1")
DOMAIN_A = UUID("6f1c0d2e-0000-4000-8000-0000000000d1")
DOMAIN_B = UUID("6f1c0d2e-0000-4000-8000-0000000000d2")
DOMAIN_C = UUID("6f1c0d2e-0000-4000-8000-0000000000d3")
WHEN = datetime(2026, 3, 15, 14, 30, 5, 123456, tzinfo=UTC)
SECRET = b"whsec_0123456789abcdef"
DIMENSIONS = {"recipient": "ann@example.net", "from_address": "news@a.example.com",
              "domain": "a.example.com", "domain_id": str(DOMAIN_A), "tag": "welcome"}


def envelope(event_type: str = "opened", **payload: Any) -> Envelope:
    return Envelope(event_id=EVENT_ID, event_type=event_type, customer_id=CUSTOMER, occurred_at=WHEN,
                    recorded_at=WHEN, position=42, email_id=EMAIL, payload={**DIMENSIONS, **payload})


def endpoint(number: int, *, events: tuple[str, ...] = (), domains: tuple[UUID, ...] = (),
             active: bool = True) -> Endpoint:
    return Endpoint(id=UUID(int=number), url=f"https://hooks.example.org/{number}", events=events,
                    domain_ids=domains, is_active=active, secret=SECRET)


def test_every_customer_facing_type_has_a_name_and_queued_has_none() -> None:
    assert EVENT_NAMES == {
        "sent": "email.sent", "delivered": "email.delivered", "opened": "email.opened",
        "clicked": "email.clicked", "bounced": "email.bounced", "complained": "email.complained",
        "unsubscribed": "email.unsubscribed", "failed": "email.failed",
    }


@pytest.mark.parametrize(("events", "event_type", "expected"), [
    ((), "opened", True),
    ((), "failed", True),
    ((), "queued", False),
    (("email.opened",), "opened", True),
    (("email.opened", "email.clicked"), "clicked", True),
    (("email.opened",), "bounced", False),
    (("email.sent",), "queued", False),
])
def test_matching_by_event(events: tuple[str, ...], event_type: str, expected: bool) -> None:
    assert matches(endpoint(1, events=events), envelope(event_type)) is expected


@pytest.mark.parametrize(("domains", "domain_id", "expected"), [
    ((), str(DOMAIN_A), True),
    ((DOMAIN_A,), str(DOMAIN_A), True),
    ((DOMAIN_A,), str(DOMAIN_A).upper(), True),
    ((DOMAIN_B,), str(DOMAIN_A), False),
    ((DOMAIN_B, DOMAIN_A), str(DOMAIN_A), True),
    ((DOMAIN_B, DOMAIN_C), str(DOMAIN_A), False),
    ((), None, True),
    ((DOMAIN_A,), None, False),
    ((DOMAIN_A,), "not-a-uuid", False),
])
def test_matching_by_domain(domains: tuple[UUID, ...], domain_id: str | None, expected: bool) -> None:
    assert matches(endpoint(1, domains=domains), envelope("clicked", domain_id=domain_id)) is expected


def test_an_inactive_endpoint_matches_nothing() -> None:
    assert not matches(endpoint(1, active=False), envelope("opened"))


def test_an_endpoint_refuses_unknown_event_names() -> None:
    with pytest.raises(ValueError, match=r"unknown webhook events \['opened'\]"):
        endpoint(1, events=("opened",))


def test_scoped_endpoints_fire_before_customer_level_ones_in_stable_order() -> None:
    everyone, group, other = endpoint(1), endpoint(2, domains=(DOMAIN_A, DOMAIN_B)), endpoint(3)
    single = endpoint(4, domains=(DOMAIN_A,))

    assert order([everyone, group, other, single]) == [group, single, everyone, other]
    assert order([]) == []


def test_targets_are_the_matching_endpoints_in_firing_order() -> None:
    listed = [endpoint(1), endpoint(2, domains=(DOMAIN_B,)), endpoint(3, events=("email.opened",)),
              endpoint(4, domains=(DOMAIN_A,), events=("email.clicked",)), endpoint(5, active=False),
              endpoint(6, domains=(DOMAIN_A, DOMAIN_C))]

    assert [e.id.int for e in targets(listed, envelope("clicked"))] == [4, 6, 1]
    assert [e.id.int for e in targets(listed, envelope("opened"))] == [6, 1, 3]
    assert targets(listed, envelope("queued")) == []


def test_the_body_of_an_open_is_exact_and_its_keys_sorted() -> None:
    event = envelope("opened", user_agent="Mozilla/5.0 (Macintosh)", ip="203.0.113.9",
                     seconds_since_sent=75)

    assert body(event) == (
        b'{"created_at":"2026-03-15T14:30:05.123456Z","data":{'
        b'"customer_id":"6f1c0d2e-0000-4000-8000-0000000000c1","domain":"a.example.com",'
        b'"domain_id":"6f1c0d2e-0000-4000-8000-0000000000d1",'
        b'"email_id":"6f1c0d2e-0000-4000-8000-0000000000e1","from":"news@a.example.com",'
        b'"ip":"203.0.113.9","recipient":"ann@example.net","seconds_since_sent":75,"tag":"welcome",'
        b'"user_agent":"Mozilla/5.0 (Macintosh)"},'
        b'"id":"6f1c0d2e-0000-4000-8000-000000000001","type":"email.opened"}'
    )


@pytest.mark.parametrize(("event_type", "payload", "specific"), [
    ("sent", {"smtp_code": 250, "reason": "250 2.0.0 queued as 4F", "attempt": 1},
     {"smtp_code": 250, "reason": "250 2.0.0 queued as 4F"}),
    ("delivered", {"smtp_code": 250}, {"smtp_code": 250, "reason": None}),
    ("failed", {"smtp_code": 451, "reason": "451 try later", "attempt": 29},
     {"smtp_code": 451, "reason": "451 try later"}),
    ("bounced", {"smtp_code": 550, "bounce_type": "hard", "status": "5.1.1", "reason": "no such user",
                 "source": "smtp"},
     {"smtp_code": 550, "bounce_type": "hard", "status": "5.1.1", "reason": "no such user",
      "source": "smtp"}),
    ("complained", {"feedback_type": "abuse"}, {"feedback_type": "abuse"}),
    ("clicked", {"url": "https://shop.example/p?q=1", "user_agent": "", "ip": "198.51.100.4",
                 "seconds_since_sent": None},
     {"url": "https://shop.example/p?q=1", "user_agent": "", "ip": "198.51.100.4",
      "seconds_since_sent": None}),
])
def test_each_type_carries_its_own_fields(event_type: str, payload: dict[str, Any],
                                          specific: dict[str, Any]) -> None:
    document = json.loads(body(envelope(event_type, **payload)))

    assert document["type"] == EVENT_NAMES[event_type]
    assert document["data"] == {
        "email_id": str(EMAIL), "customer_id": str(CUSTOMER), "recipient": "ann@example.net",
        "from": "news@a.example.com", "domain": "a.example.com", "domain_id": str(DOMAIN_A),
        "tag": "welcome", **specific,
    }


def test_a_global_unsubscribe_has_nulls_for_what_it_does_not_know() -> None:
    event = replace(envelope("unsubscribed"), email_id=None, payload={
        "recipient": "ann@example.net", "domain_id": None, "source": "link", "reason": None})

    assert json.loads(body(event))["data"] == {
        "email_id": None, "customer_id": str(CUSTOMER), "recipient": "ann@example.net", "from": None,
        "domain": None, "domain_id": None, "tag": None, "source": "link", "reason": None,
    }


def test_the_body_is_the_same_bytes_for_every_retry() -> None:
    event = envelope("bounced", smtp_code=550, bounce_type="hard", reason="nö such üser")
    reordered = replace(event, payload=dict(reversed(list(event.payload.items()))))
    replayed = Envelope.from_json(event.to_json())  # what the consumer reads again after a restart

    assert body(event) == body(reordered) == body(replayed)
    assert "nö such üser".encode() in body(event)


def test_queued_events_have_no_body() -> None:
    with pytest.raises(ValueError, match="'queued' events are not delivered to customers"):
        body(envelope("queued"))


def test_the_signature_verifies_with_hmac_sha256_over_timestamp_dot_body() -> None:
    raw = body(envelope("opened"))
    expected = hmac.new(SECRET, b"1773585005." + raw, hashlib.sha256).hexdigest()

    signature = sign(SECRET, 1773585005, raw)

    assert signature == f"v1={expected}"
    assert hmac.compare_digest(signature[3:], expected)
    assert sign(SECRET, "1773585005", raw) == signature
    assert sign(b"another secret", 1773585005, raw) != signature
    assert sign(SECRET, 1773585006, raw) != signature


def test_an_empty_secret_cannot_sign() -> None:
    with pytest.raises(ValueError, match="signing secret is empty"):
        sign(b"", 1773585005, b"{}")


def test_headers_of_one_attempt() -> None:
    raw = body(envelope("opened"))

    assert headers(SECRET, EVENT_ID, 1773585005, raw) == {
        "Content-Type": "application/json",
        "User-Agent": "MailerLogic-Webhooks/1",
        "X-MailerLogic-Event-Id": "6f1c0d2e-0000-4000-8000-000000000001",
        "X-MailerLogic-Timestamp": "1773585005",
        "X-MailerLogic-Signature": sign(SECRET, 1773585005, raw),
    }


def test_the_secret_stays_out_of_reprs() -> None:
    assert "whsec" not in repr(endpoint(1))

"""A domain name verified by one customer is refused to every other (issue 11, item 1).

Before the fix customer B could add A's verified ``a.test``, switch
``enforce_sender_verification`` off and send ``From: ceo@a.test``, DKIM-signed with ``d=a.test``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from uuid import UUID
from uuid import uuid4

import pytest
from flask import Flask
from flask.testing import FlaskClient

from commands.delivery import LoadForDelivery
from commands.messages import AddDomain
from event_store.aggregates import Customer
from event_store.aggregates import DomainClaim
from event_store.application import EmailEvents
from mailerlogic.claims_backfill import claim_verified
from mailerlogic.config import Settings
from tests.helpers import bus_for
from tests.helpers import new_customer
from web.app import create_app


@pytest.fixture
def events() -> EmailEvents:
    return EmailEvents(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})


@pytest.fixture
def app(events: EmailEvents, tmp_path: Path) -> Flask:
    settings = Settings.from_env({"MAILERLOGIC_DATA_DIR": str(tmp_path), "MAILERLOGIC_SECRET_KEY": "k",
                                  "MAILERLOGIC_PUBLIC_URL": "https://mail.example.net"})
    app = create_app(settings, events=events, clickhouse=lambda: None)  # type: ignore[arg-type,return-value]
    app.extensions["usage"] = lambda customer_id: 0
    return app


def _call(client: FlaskClient, method: str, path: str, key: str, body: Any = None) -> tuple[int, Any]:
    response = client.open(path, method=method, json=body, headers={"Authorization": f"Bearer {key}"})
    return response.status_code, response.get_json()


def _version(events: EmailEvents, customer: Customer) -> int:
    return events.get(customer.id, Customer, "customer").version  # type: ignore[no-any-return]


def test_a_domain_verified_by_one_customer_is_refused_to_every_other(app: Flask, events: EmailEvents) -> None:
    bus = bus_for(events, b"k")
    a, _ = new_customer(bus, "a.test")  # the operator vouched for it: verified, held by A
    b, b_key = new_customer(bus, "b.test")
    client = app.test_client()
    before = _version(events, b)

    assert _call(client, "POST", "/api/customer/domains", b_key, {"domain": "A.Test."}) == (
        409, {"error": "domain_taken", "message": "a.test is verified by another account"})
    with pytest.raises(Exception, match="verified by another account"):
        bus.handle(AddDomain(b.id, "a.test", trusted=True))  # not even the operator moves it
    assert _version(events, b) == before  # nothing recorded
    assert [d["domain"] for d in events.get(b.id, Customer, "customer").domains.values()] == ["b.test"]
    assert events.domain_claim("a.test").holder == a.id  # type: ignore[union-attr]


def test_verification_off_never_allows_a_domain_another_customer_holds(app: Flask,
                                                                       events: EmailEvents) -> None:
    bus = bus_for(events, b"k")
    a, a_key = new_customer(bus, "a.test", tier="professional")
    b, b_key = new_customer(bus, "b.test", tier="professional")
    client = app.test_client()
    # B adds c.test while nobody holds it (pending), and turns verification off.
    assert _call(client, "POST", "/api/customer/domains", b_key, {"domain": "c.test"})[0] == 201
    assert _call(client, "PATCH", "/api/customer/profile", b_key,
                 {"enforce_sender_verification": False})[0] == 200
    status, body = _call(client, "POST", "/api/send", b_key, {
        "to": "x@example.org", "from": "ceo@c.test", "subject": "hi", "text": "t"})
    assert status == 200, body
    unverified = bus.handle(LoadForDelivery(UUID(body["message_id"])))
    assert unverified.signing is None  # an unverified domain's mail is never DKIM-signed

    bus.handle(AddDomain(a.id, "c.test", trusted=True))  # now A holds c.test
    before = _version(events, b)
    assert _call(client, "POST", "/api/send", b_key, {
        "to": "x@example.org", "from": "ceo@c.test", "subject": "hi", "text": "t"}) == (
        409, {"error": "domain_taken", "message": "c.test is verified by another account"})
    assert _version(events, b) == before

    # A removes it: the name is free again, and B may send from its own (pending) copy.
    a_domain = next(d for d in events.get(a.id, Customer, "customer").domains.values()
                    if d["domain"] == "c.test")
    assert _call(client, "DELETE", f"/api/customer/domains/{a_domain['id']}", a_key)[0] == 200
    claim = events.domain_claim("c.test")
    assert isinstance(claim, DomainClaim)
    assert claim.holder is None
    assert _call(client, "POST", "/api/send", b_key, {
        "to": "x@example.org", "from": "ceo@c.test", "subject": "hi", "text": "t"})[0] == 200


def _verified_before_claims(events: EmailEvents, name: str) -> Customer:
    """A customer whose domain was vouched for before claims existed: no ``DomainClaim`` saved."""
    customer = Customer(name="Old", email=f"ops@{name}", tier="professional", key_hash="0" * 64,
                        key_prefix="ml_live_", key_last4="0000")
    customer.add_domain(uuid4(), name, verified=True, keys={
        "ownership_token": "t", "dkim_selector": "ml202601", "dkim_public_key": "p",
        "dkim_private_sealed": "s"})
    events.save(customer)
    return customer


def test_names_verified_before_claims_existed_are_claimed_once(app: Flask, events: EmailEvents) -> None:
    bus = bus_for(events, b"k")
    old = _verified_before_claims(events, "old.test")
    b, b_key = new_customer(bus, "b.test", tier="professional")
    client = app.test_client()
    assert _call(client, "POST", "/api/customer/domains", b_key, {"domain": "old.test"})[0] == 201  # the hole
    off = {"enforce_sender_verification": False}
    assert _call(client, "PATCH", "/api/customer/profile", b_key, off)[0] == 200

    assert claim_verified(events, bus) == [(old.id, "old.test", "claimed"), (b.id, "b.test", "held")]
    assert events.domain_claim("old.test").holder == old.id  # type: ignore[union-attr]
    assert _call(client, "POST", "/api/send", b_key, {
        "to": "x@example.org", "from": "ceo@old.test", "subject": "hi", "text": "t"}) == (
        409, {"error": "domain_taken", "message": "old.test is verified by another account"})
    assert claim_verified(events, bus) == []  # the next start reads only what came since


def test_a_name_two_customers_verified_before_claims_goes_to_the_first(events: EmailEvents) -> None:
    bus = bus_for(events, b"k")
    first, second = (_verified_before_claims(events, "both.test") for _ in range(2))
    assert claim_verified(events, bus) == [
        (first.id, "both.test", "claimed"), (second.id, "both.test", "taken")]
    assert events.domain_claim("both.test").holder == first.id  # type: ignore[union-attr]


def test_two_processes_finishing_the_same_read_both_start(tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """Sibling API workers start together: both read to the same head; the second's record of
    that position meets the first's (an IntegrityError that failed the worker's boot in CI)."""
    from event_store.application import open_application
    from event_store.feed import NotificationFeed

    events = open_application(None, str(tmp_path / "events.sqlite"))  # the store's real tracking table
    bus = bus_for(events, b"k")
    old = _verified_before_claims(events, "twice.test")
    assert claim_verified(events, bus) == [(old.id, "twice.test", "claimed")]
    assert claim_verified(events, bus) == []  # reads past the claim's own event: head recorded
    monkeypatch.setattr(NotificationFeed, "position", lambda self, reader: 0)  # read before the record
    assert claim_verified(events, bus) == [(old.id, "twice.test", "held")]  # the same head again

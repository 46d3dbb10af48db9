from __future__ import annotations

from uuid import uuid4

import pytest

from event_store.aggregates import ApiKey
from event_store.aggregates import Customer
from event_store.errors import DomainError
from event_store.errors import Forbidden


def _customer(tier: str = "starter") -> Customer:
    return Customer(name="Acme", email="ops@acme.test", tier=tier, key_hash="h1",
                    key_prefix="ml_live_", key_last4="abcd")


def test_registering_records_one_event_with_the_key_hash_only() -> None:
    customer = _customer()
    [registered] = customer.collect_events()
    assert type(registered) is Customer.Registered
    assert (registered.key_hash, registered.key_last4, registered.tier) == ("h1", "abcd", "starter")


def test_unknown_tier_is_refused() -> None:
    with pytest.raises(DomainError, match="unknown tier"):
        _customer("platinum")


def test_sending_domain_defaults_to_the_first_verified_domain() -> None:
    customer = _customer("professional")
    pending, verified = uuid4(), uuid4()
    customer.add_domain(pending, "pending.test", verified=False)
    customer.add_domain(verified, "acme.test", verified=True)
    assert customer.sending_domain(None, None) == ("acme.test", verified)
    assert customer.sending_domain(None, "hi@acme.test") == ("acme.test", verified)


@pytest.mark.parametrize(
    ("domain", "sender", "code"),
    [
        ("other.test", None, "domain_not_found"),
        (None, "hi@other.test", "domain_not_found"),
        ("acme.test", "hi@else.test", "from_domain_mismatch"),
        ("pending.test", None, "domain_not_verified"),
    ],
)
def test_sending_domain_refusals(domain: str | None, sender: str | None, code: str) -> None:
    customer = _customer("professional")
    customer.add_domain(uuid4(), "acme.test", verified=True)
    customer.add_domain(uuid4(), "pending.test", verified=False)
    with pytest.raises(DomainError) as caught:
        customer.sending_domain(domain, sender)
    assert caught.value.code == code


def test_no_domain_at_all_is_refused() -> None:
    with pytest.raises(DomainError) as caught:
        _customer().sending_domain(None, None)
    assert caught.value.code == "no_sending_domain"


def test_suspended_account_is_forbidden() -> None:
    customer = _customer()
    customer.add_domain(uuid4(), "acme.test", verified=True)
    customer.status = "suspended"
    with pytest.raises(Forbidden):
        customer.sending_domain(None, None)


def test_domain_limit_follows_the_tier() -> None:
    customer = _customer("starter")
    customer.add_domain(uuid4(), "a.test", verified=True)
    with pytest.raises(DomainError) as caught:
        customer.add_domain(uuid4(), "b.test", verified=True)
    assert (caught.value.code, caught.value.status) == ("domain_limit_reached", 422)


def test_api_key_index_is_keyed_by_the_hash_and_can_be_revoked() -> None:
    customer_id = uuid4()
    index = ApiKey.issue("hash", customer_id)
    assert index.id == ApiKey.create_id("hash")
    index.revoke()
    assert index.revoked
    assert [type(e) for e in index.collect_events()] == [ApiKey.Issued, ApiKey.Revoked]

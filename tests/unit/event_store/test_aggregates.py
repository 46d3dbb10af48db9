from __future__ import annotations

from uuid import uuid4

import pytest

from event_store.aggregates import ApiKey
from event_store.aggregates import Customer
from event_store.errors import DomainError
from event_store.errors import Forbidden

KEYS = {"ownership_token": "tok", "dkim_selector": "ml202611", "dkim_public_key": "PUB",
        "dkim_private_sealed": "v1:sealed"}


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
    customer.add_domain(pending, "pending.test", verified=False, keys=KEYS)
    customer.add_domain(verified, "acme.test", verified=True, keys=KEYS)
    assert customer.sending_domain(None, None)["id"] == verified
    assert customer.sending_domain(None, "hi@acme.test")["id"] == verified


@pytest.mark.parametrize(
    ("domain", "sender", "code"),
    [
        ("other.test", None, "domain_not_found"),
        (None, "hi@other.test", "domain_not_found"),
        ("acme.test", "hi@else.test", "from_domain_mismatch"),
        ("pending.test", None, "domain_not_verified"),
        (None, "x@pending.test", "domain_not_verified"),
    ],
)
def test_sending_domain_refusals(domain: str | None, sender: str | None, code: str) -> None:
    customer = _customer("professional")
    customer.add_domain(uuid4(), "acme.test", verified=True, keys=KEYS)
    customer.add_domain(uuid4(), "pending.test", verified=False, keys=KEYS)
    with pytest.raises(DomainError) as caught:
        customer.sending_domain(domain, sender)
    assert caught.value.code == code


def test_no_domain_at_all_is_refused() -> None:
    with pytest.raises(DomainError) as caught:
        _customer().sending_domain(None, None)
    assert caught.value.code == "no_sending_domain"


def test_suspended_account_is_forbidden() -> None:
    customer = _customer()
    customer.add_domain(uuid4(), "acme.test", verified=True, keys=KEYS)
    customer.status = "suspended"
    with pytest.raises(Forbidden):
        customer.sending_domain(None, None)


def test_domain_limit_follows_the_tier() -> None:
    customer = _customer("starter")
    customer.add_domain(uuid4(), "a.test", verified=True, keys=KEYS)
    with pytest.raises(DomainError) as caught:
        customer.add_domain(uuid4(), "b.test", verified=True, keys=KEYS)
    assert (caught.value.code, caught.value.status) == ("domain_limit_reached", 422)


def test_api_key_index_is_keyed_by_the_hash_and_can_be_revoked() -> None:
    customer_id = uuid4()
    index = ApiKey.issue("hash", customer_id)
    assert index.id == ApiKey.create_id("hash")
    index.revoke()
    assert index.revoked
    assert [type(e) for e in index.collect_events()] == [ApiKey.Issued, ApiKey.Revoked]


def test_a_domain_name_is_unique_per_customer() -> None:
    customer = _customer("professional")
    customer.add_domain(uuid4(), "acme.test", verified=False, keys=KEYS)
    with pytest.raises(DomainError) as caught:
        customer.add_domain(uuid4(), "acme.test", verified=False, keys=KEYS)
    assert (caught.value.code, caught.value.status) == ("domain_exists", 409)


def test_a_check_sets_status_records_and_the_first_verified_time() -> None:
    customer = _customer()
    domain_id = uuid4()
    customer.add_domain(domain_id, "acme.test", verified=False, keys=KEYS)
    assert customer.domains[domain_id]["status"] == "pending"
    customer.record_check(domain_id, False, [{"purpose": "spf", "valid": False}])
    assert (customer.domains[domain_id]["status"], customer.domains[domain_id]["verified_at"]) == (
        "failed", None)
    customer.record_check(domain_id, True, [{"purpose": "spf", "valid": True}])
    domain = customer.domains[domain_id]
    assert (domain["status"], domain["dns_records"]) == ("verified", [{"purpose": "spf", "valid": True}])
    assert domain["verified_at"] == domain["last_checked_at"]


def test_profile_changes_record_only_what_changes() -> None:
    customer = _customer()
    customer.collect_events()
    customer.change_profile({"name": "Acme", "open_tracking_enabled": False})
    [changed] = customer.collect_events()
    assert changed.changes == {"open_tracking_enabled": False}
    customer.change_profile({"open_tracking_enabled": False})
    assert customer.collect_events() == []


def test_unknown_profile_fields_are_refused() -> None:
    with pytest.raises(DomainError) as caught:
        _customer().change_profile({"tier": "enterprise"})
    assert caught.value.status == 400


def test_removing_an_unknown_domain_is_not_found() -> None:
    with pytest.raises(DomainError) as caught:
        _customer().remove_domain(uuid4())
    assert caught.value.status == 404


def test_per_customer_records_keep_their_stored_ids() -> None:
    from uuid import NAMESPACE_URL
    from uuid import UUID
    from uuid import uuid5

    from event_store.aggregates import ExportQueue
    from event_store.aggregates import HealthScore
    from event_store.aggregates import WebhookEndpoints

    customer = UUID("5b1c6f9e-0d0a-4c5e-9a57-1f2e3d4c5b6a")
    for kind, path in ((HealthScore, "health-scores"), (WebhookEndpoints, "webhooks"),
                       (ExportQueue, "export-queues")):
        expected = uuid5(NAMESPACE_URL, f"/mailerlogic/{path}/{customer}")
        started = kind.start(customer)
        assert (kind.create_id(customer), started.id, started.version) == (expected, expected, 1)
        assert type(started) is kind and started.customer_id == customer

"""Handlers of the account: customers, keys, profile and sending domains."""

from __future__ import annotations

import secrets
from datetime import UTC
from datetime import datetime
from typing import TYPE_CHECKING
from typing import Any
from uuid import uuid4

from commands import domain_dns
from commands.messages import AddDomain
from commands.messages import ChangeDomain
from commands.messages import ChangeProfile
from commands.messages import ClaimVerifiedDomains
from commands.messages import CreateCustomer
from commands.messages import RemoveDomain
from commands.messages import RotateApiKey
from commands.messages import RotateSmtpPassword
from commands.messages import VerifyDomain
from commands.webhooks import check_target
from event_store.aggregates import ApiKey
from event_store.aggregates import Customer
from event_store.aggregates import DomainClaim
from event_store.aggregates import DomainTaken
from event_store.errors import DomainError
from security import dkim_keys
from security.keys import KEY_PREFIX
from security.keys import hash_key
from security.keys import new_key

if TYPE_CHECKING:
    from uuid import UUID

    from commands.bus import Bus


def create_customer(cmd: CreateCustomer, bus: Bus) -> tuple[Customer, str]:
    """Register a customer with its first key (returned once) and operator-trusted domains."""
    key = new_key()
    customer = Customer(name=cmd.name, email=cmd.email, tier=cmd.tier, key_hash=hash_key(key),
                        key_prefix=KEY_PREFIX, key_last4=key[-4:])
    claims = [_add_domain(customer, domain, trusted=True, bus=bus)[1] for domain in cmd.domains]
    bus.app.save(customer, ApiKey.issue(customer.key_hash, customer.id), *claims)
    return customer, key


def rotate_api_key(cmd: RotateApiKey, bus: Bus) -> tuple[Customer, str]:
    """A new key; the old key's index entry is revoked in the same atomic save."""
    customer = bus.app.get(cmd.customer_id, Customer, "customer")
    old = bus.app.get(ApiKey.create_id(customer.key_hash), ApiKey, "key")
    key = new_key()
    customer.rotate_key(hash_key(key), KEY_PREFIX, key[-4:])
    old.revoke()
    bus.app.save(customer, old, ApiKey.issue(customer.key_hash, customer.id))
    return customer, key


def rotate_smtp_password(cmd: RotateSmtpPassword, bus: Bus) -> tuple[Customer, str]:
    """A new SMTP password (returned once); only its salted hash is stored."""
    customer = bus.app.get(cmd.customer_id, Customer, "customer")
    customer.rotate_smtp_password(password_hash=cmd.password_hash)  # hashed once, not per attempt
    bus.app.save(customer)
    return customer, cmd.password


def change_profile(cmd: ChangeProfile, bus: Bus) -> Customer:
    """Change profile settings; ``webhook_url`` follows the webhook endpoints' https and address rules."""
    check_target(bus, "webhook_url", cmd.changes.get("webhook_url"))
    customer = bus.app.get(cmd.customer_id, Customer, "customer")
    customer.change_profile(cmd.changes)
    bus.app.save(customer)
    return customer


def add_domain(cmd: AddDomain, bus: Bus) -> dict[str, Any]:
    """Add a sending domain with a fresh DKIM key pair (private key sealed)."""
    customer = bus.app.get(cmd.customer_id, Customer, "customer")
    domain, claim = _add_domain(customer, cmd.domain, trusted=cmd.trusted, bus=bus)
    bus.app.save(customer, claim)
    return domain


def _add_domain(customer: Customer, name: str, *, trusted: bool,
                bus: Bus) -> tuple[dict[str, Any], DomainClaim | None]:
    """The new domain, and its name's claim to save with it when the domain is verified at once.

    A name another customer holds verified is refused (``409 domain_taken``), trusted or not.
    """
    try:
        normalised = domain_dns.normalise_domain(name)
    except ValueError as exc:
        raise DomainError(str(exc), code="invalid_domain", status=400) from None
    claim = bus.app.domain_claim(normalised)
    if claim is not None and claim.held_by_another(customer.id):
        raise DomainTaken(f"{normalised} is verified by another account")
    if trusted:
        claim = _claimed(claim, normalised, customer.id)
    domain_id, pair = uuid4(), dkim_keys.generate()
    keys = {
        "ownership_token": secrets.token_hex(16),
        "dkim_selector": dkim_keys.selector_for(datetime.now(UTC)),
        "dkim_public_key": pair.public_key_b64,
        "dkim_private_sealed": dkim_keys.seal(bus.deps.secret_key, pair.private_key_pem.encode(),
                                              associated_data=domain_id.bytes),
    }
    customer.add_domain(domain_id, normalised, verified=trusted, keys=keys)
    return customer.domains[domain_id], claim if trusted else None


def _claimed(claim: DomainClaim | None, domain: str, customer_id: UUID) -> DomainClaim:
    """The name's claim held by ``customer_id`` (first claimed now if never claimed)."""
    if claim is None:
        return DomainClaim.first(domain, customer_id)
    claim.claim(domain, customer_id)
    return claim


def claim_verified_domains(cmd: ClaimVerifiedDomains, bus: Bus) -> dict[str, str]:
    """Claim every verified domain name of the customer that no one holds; each name's outcome:
    ``claimed`` (now), ``held`` (already this customer's) or ``taken`` (another customer's)."""
    customer = bus.app.get(cmd.customer_id, Customer, "customer")
    outcomes: dict[str, str] = {}
    claims = []
    for domain in sorted(customer.domains.values(), key=lambda d: (d["verified_at"] is None, d["domain"])):
        if domain["status"] != "verified":
            continue
        name, claim = domain["domain"], bus.app.domain_claim(domain["domain"])
        if claim is not None and claim.holder == customer.id:
            outcomes[name] = "held"
        elif claim is not None and claim.held_by_another(customer.id):
            outcomes[name] = "taken"
        else:
            claims.append(_claimed(claim, name, customer.id))
            outcomes[name] = "claimed"
    if claims:
        bus.app.save(*claims)
    return outcomes


def expected(domain: dict[str, Any], spf_include: str) -> list[domain_dns.ExpectedRecord]:
    """The records a domain must publish."""
    return domain_dns.expected_records(
        domain["domain"], ownership_token=domain["ownership_token"],
        dkim_selector=domain["dkim_selector"], dkim_public_key_b64=domain["dkim_public_key"],
        spf_include=spf_include)


def verify_domain(cmd: VerifyDomain, bus: Bus) -> dict[str, Any]:
    """Look the domain's records up now (dnspython) and record the outcome."""
    customer = bus.app.get(cmd.customer_id, Customer, "customer")
    domain = customer.domain(cmd.domain_id)
    if bus.deps.resolver is None:
        raise DomainError("DNS checks are not configured", code="internal", status=500)
    results = domain_dns.verify(expected(domain, bus.deps.spf_include), bus.deps.resolver())
    verified = domain_dns.is_verified(results)
    name = domain["domain"]
    claim = _claimed(bus.app.domain_claim(name), name, customer.id) if verified else None
    customer.record_check(cmd.domain_id, verified, [r.to_dict() for r in results])
    bus.app.save(customer, claim)
    return customer.domains[cmd.domain_id]


def change_domain(cmd: ChangeDomain, bus: Bus) -> dict[str, Any]:
    """Change a domain's tracking flags."""
    customer = bus.app.get(cmd.customer_id, Customer, "customer")
    customer.change_domain(cmd.domain_id, cmd.changes)
    bus.app.save(customer)
    return customer.domains[cmd.domain_id]


def remove_domain(cmd: RemoveDomain, bus: Bus) -> None:
    """Remove a sending domain."""
    customer = bus.app.get(cmd.customer_id, Customer, "customer")
    name = customer.domain(cmd.domain_id)["domain"]
    customer.remove_domain(cmd.domain_id)
    claim = bus.app.domain_claim(name)
    if claim is not None:
        claim.release(customer.id)
    bus.app.save(customer, claim)

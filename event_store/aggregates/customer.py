"""A sending account: key hash, tier limits, settings and its sending domains.

The customer is the consistency boundary of its domains: uniqueness of a domain name and
``max_domains`` are invariants across all of them, so domains live inside this aggregate.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate
from eventsourcing.domain import event

from event_store.errors import Conflict
from event_store.errors import DomainError
from event_store.errors import Forbidden
from event_store.errors import NotFound

TIERS: dict[str, dict[str, Any]] = {
    "starter": {"monthly_email_limit": 10_000, "max_domains": 1, "rate_limit_per_minute": 600,
                "webhook_endpoints_limit": 1, "retention_days": 90, "events_api": False},
    "professional": {"monthly_email_limit": 100_000, "max_domains": 5, "rate_limit_per_minute": 600,
                     "webhook_endpoints_limit": 10, "retention_days": 90, "events_api": False},
    "enterprise": {"monthly_email_limit": 1_000_000, "max_domains": 50,
                   "rate_limit_per_minute": 6000, "webhook_endpoints_limit": 50,
                   "retention_days": 365, "events_api": True},
}
PROFILE_FIELDS = ("name", "webhook_url", "tracking_enabled", "open_tracking_enabled",
                  "click_tracking_enabled", "enforce_sender_verification")
DOMAIN_FIELDS = ("open_tracking_enabled", "click_tracking_enabled")


class Customer(Aggregate):
    """One customer account."""

    class Registered(Aggregate.Created):
        name: str
        email: str
        tier: str
        key_hash: str
        key_prefix: str
        key_last4: str

    class KeyRotated(Aggregate.Event):
        key_hash: str
        key_prefix: str
        key_last4: str

    class ProfileChanged(Aggregate.Event):
        changes: dict[str, Any]

    class SmtpPasswordRotated(Aggregate.Event):
        password_hash: str

    class DomainAdded(Aggregate.Event):
        domain_id: UUID
        domain: str
        verified: bool
        ownership_token: str
        dkim_selector: str
        dkim_public_key: str
        dkim_private_sealed: str

    class DomainChecked(Aggregate.Event):
        domain_id: UUID
        verified: bool
        records: list[dict[str, Any]]

    class DomainChanged(Aggregate.Event):
        domain_id: UUID
        changes: dict[str, Any]

    class DomainRemoved(Aggregate.Event):
        domain_id: UUID

    @event(Registered)
    def __init__(
        self, name: str, email: str, tier: str, key_hash: str, key_prefix: str, key_last4: str
    ) -> None:
        if tier not in TIERS:
            raise DomainError(f"unknown tier {tier!r}", code="invalid_tier", status=400)
        self.name, self.email, self.tier = name, email, tier
        self.key_hash, self.key_prefix, self.key_last4 = key_hash, key_prefix, key_last4
        self.status = "active"
        self.webhook_url: str | None = None
        self.tracking_enabled = self.open_tracking_enabled = self.click_tracking_enabled = True
        self.enforce_sender_verification = True
        self.smtp_password_hash: str | None = None
        self.domains: dict[UUID, dict[str, Any]] = {}

    @property
    def limits(self) -> dict[str, Any]:
        """The tier's limits."""
        return TIERS[self.tier]

    def rotate_key(self, key_hash: str, key_prefix: str, key_last4: str) -> None:
        """Replace the API key; the old hash stops matching at once."""
        self._key_rotated(key_hash=key_hash, key_prefix=key_prefix, key_last4=key_last4)

    @event(KeyRotated)
    def _key_rotated(self, key_hash: str, key_prefix: str, key_last4: str) -> None:
        self.key_hash, self.key_prefix, self.key_last4 = key_hash, key_prefix, key_last4

    def change_profile(self, changes: dict[str, Any]) -> None:
        """Change profile settings; only the fields that really change are recorded."""
        unknown = set(changes) - set(PROFILE_FIELDS)
        if unknown:
            raise DomainError(f"cannot change {sorted(unknown)}", code="validation_error", status=400)
        real = {k: v for k, v in changes.items() if getattr(self, k) != v}
        if real:
            self._profile_changed(changes=real)

    @event(ProfileChanged)
    def _profile_changed(self, changes: dict[str, Any]) -> None:
        for name, value in changes.items():
            setattr(self, name, value)

    @event(SmtpPasswordRotated)
    def rotate_smtp_password(self, password_hash: str) -> None:
        """Replace the SMTP password hash; the old password stops working at once."""
        self.smtp_password_hash = password_hash

    def add_domain(self, domain_id: UUID, domain: str, *, verified: bool, keys: dict[str, str]) -> None:
        """Add a sending domain (operator-added domains are trusted as verified)."""
        if any(d["domain"] == domain for d in self.domains.values()):
            raise Conflict(f"{domain} is already one of your domains", code="domain_exists")
        if len(self.domains) >= self.limits["max_domains"]:
            raise DomainError(f"your tier allows {self.limits['max_domains']} domain(s)",
                              code="domain_limit_reached")
        self._domain_added(domain_id=domain_id, domain=domain, verified=verified, **keys)

    @event(DomainAdded)
    def _domain_added(self, domain_id: UUID, domain: str, verified: bool, ownership_token: str,
                      dkim_selector: str, dkim_public_key: str, dkim_private_sealed: str) -> None:
        at = self._at()
        self.domains[domain_id] = {
            "id": domain_id, "domain": domain, "status": "verified" if verified else "pending",
            "vouched": verified, "dns_verified": None,
            "created_at": at, "verified_at": at if verified else None, "last_checked_at": None,
            "dns_records": [], "ownership_token": ownership_token, "dkim_selector": dkim_selector,
            "dkim_public_key": dkim_public_key, "dkim_private_sealed": dkim_private_sealed,
            "open_tracking_enabled": None, "click_tracking_enabled": None,
        }

    def domain(self, domain_id: UUID) -> dict[str, Any]:
        """One of this customer's domains, or :class:`NotFound`."""
        found = self.domains.get(domain_id)
        if found is None:
            raise NotFound("domain not found")
        return found

    def record_check(self, domain_id: UUID, verified: bool, records: list[dict[str, Any]]) -> None:
        """Record the outcome of a DNS check of a domain. A domain the operator vouched for stays
        verified (usable) whatever its DNS says; the check only reports what is missing."""
        self.domain(domain_id)
        self._domain_checked(domain_id=domain_id, verified=verified, records=records)

    @event(DomainChecked)
    def _domain_checked(self, domain_id: UUID, verified: bool, records: list[dict[str, Any]]) -> None:
        domain, at = self.domains[domain_id], self._at()
        usable = verified or domain.get("vouched", False)
        domain.update(status="verified" if usable else "failed", last_checked_at=at, dns_records=records,
                      dns_verified=verified)
        if verified and domain["verified_at"] is None:
            domain["verified_at"] = at

    def change_domain(self, domain_id: UUID, changes: dict[str, Any]) -> None:
        """Change a domain's tracking settings."""
        domain = self.domain(domain_id)
        real = {k: v for k, v in changes.items() if k in DOMAIN_FIELDS and domain[k] != v}
        if real:
            self._domain_changed(domain_id=domain_id, changes=real)

    @event(DomainChanged)
    def _domain_changed(self, domain_id: UUID, changes: dict[str, Any]) -> None:
        self.domains[domain_id].update(changes)

    def remove_domain(self, domain_id: UUID) -> None:
        """Remove a sending domain."""
        self.domain(domain_id)
        self._domain_removed(domain_id=domain_id)

    @event(DomainRemoved)
    def _domain_removed(self, domain_id: UUID) -> None:
        del self.domains[domain_id]

    def sending_domain(self, requested: str | None, from_address: str | None) -> dict[str, Any]:
        """Decide which of this customer's domains sends a message, or refuse."""
        if self.status == "suspended":
            raise Forbidden("this account is suspended", code="account_suspended")
        name = requested or _domain_of(from_address)
        domain = self._by_name(name) if name else self._first_verified()
        if domain is None:
            if name:
                raise DomainError(f"{name} is not one of your domains", code="domain_not_found")
            raise DomainError("the account has no verified sending domain", code="no_sending_domain")
        if from_address is not None and _domain_of(from_address) != domain["domain"]:
            raise DomainError("from must be an address on the sending domain", code="from_domain_mismatch")
        if self.enforce_sender_verification and domain["status"] != "verified":
            raise DomainError(f"{domain['domain']} is not verified", code="domain_not_verified")
        return domain

    def _by_name(self, name: str) -> dict[str, Any] | None:
        return next((d for d in self.domains.values() if d["domain"] == name), None)

    def _first_verified(self) -> dict[str, Any] | None:
        return next((d for d in self.domains.values() if d["status"] == "verified"), None)

    def _at(self) -> datetime:
        return self.modified_on


def _domain_of(address: str | None) -> str | None:
    if not address or "@" not in address:
        return None
    return address.rsplit("@", 1)[1].lower()

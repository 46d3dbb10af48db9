"""Aggregates: they decide, and record what happened as typed, past-tense events.

Topic strings of these event classes are stored with every event: never rename a
class, add a new one and upcast instead.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import NAMESPACE_URL
from uuid import UUID
from uuid import uuid5

from eventsourcing.domain import Aggregate
from eventsourcing.domain import event

from event_store.errors import DomainError
from event_store.errors import Forbidden

TIERS: dict[str, dict[str, Any]] = {
    "starter": {
        "monthly_email_limit": 10_000,
        "max_domains": 1,
        "rate_limit_per_minute": 600,
        "webhook_endpoints_limit": 1,
        "retention_days": 90,
        "events_api": False,
    },
    "professional": {
        "monthly_email_limit": 100_000,
        "max_domains": 5,
        "rate_limit_per_minute": 600,
        "webhook_endpoints_limit": 10,
        "retention_days": 90,
        "events_api": False,
    },
    "enterprise": {
        "monthly_email_limit": 1_000_000,
        "max_domains": 50,
        "rate_limit_per_minute": 6000,
        "webhook_endpoints_limit": 50,
        "retention_days": 365,
        "events_api": True,
    },
}


class Customer(Aggregate):
    """A sending account: its key hash, tier limits and sending domains."""

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

    class DomainAdded(Aggregate.Event):
        domain_id: UUID
        domain: str
        verified: bool

    @event(Registered)
    def __init__(
        self, name: str, email: str, tier: str, key_hash: str, key_prefix: str, key_last4: str
    ) -> None:
        if tier not in TIERS:
            raise DomainError(f"unknown tier {tier!r}", code="invalid_tier", status=400)
        self.name, self.email, self.tier = name, email, tier
        self.key_hash, self.key_prefix, self.key_last4 = key_hash, key_prefix, key_last4
        self.status = "active"
        self.domains: dict[str, dict[str, Any]] = {}
        self.enforce_sender_verification = True
        self.open_tracking_enabled = True
        self.click_tracking_enabled = True

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

    def add_domain(self, domain_id: UUID, domain: str, *, verified: bool) -> None:
        """Register a sending domain (operator-added domains are trusted as verified)."""
        if domain in self.domains:
            raise DomainError(f"domain {domain} already added", code="domain_exists", status=409)
        if len(self.domains) >= self.limits["max_domains"]:
            raise DomainError("max_domains reached for this tier", code="domain_limit_reached")
        self._domain_added(domain_id=domain_id, domain=domain, verified=verified)

    @event(DomainAdded)
    def _domain_added(self, domain_id: UUID, domain: str, verified: bool) -> None:
        self.domains[domain] = {"id": domain_id, "verified": verified}

    def sending_domain(self, requested: str | None, from_address: str | None) -> tuple[str, UUID]:
        """Decide which of this customer's domains sends a message, or refuse."""
        if self.status == "suspended":
            raise Forbidden("this account is suspended", code="account_suspended")
        domain = requested or _domain_of(from_address) or self._first_verified()
        if domain is None:
            raise DomainError("the account has no verified sending domain", code="no_sending_domain")
        info = self.domains.get(domain)
        if info is None:
            raise DomainError(f"{domain} is not one of your domains", code="domain_not_found")
        if from_address is not None and _domain_of(from_address) != domain:
            raise DomainError("from must be an address on the sending domain", code="from_domain_mismatch")
        if self.enforce_sender_verification and not info["verified"]:
            raise DomainError(f"{domain} is not verified", code="domain_not_verified")
        return domain, info["id"]

    def _first_verified(self) -> str | None:
        return next((d for d, info in self.domains.items() if info["verified"]), None)


def _domain_of(address: str | None) -> str | None:
    if not address or "@" not in address:
        return None
    return address.rsplit("@", 1)[1].lower()


class ApiKey(Aggregate):
    """Index aggregate: key hash -> customer, so authentication is one lookup."""

    class Issued(Aggregate.Created):
        customer_id: UUID

    class Revoked(Aggregate.Event):
        pass

    @staticmethod
    def create_id(key_hash: str) -> UUID:
        """The id of the index entry for a key hash."""
        return uuid5(NAMESPACE_URL, f"/mailerlogic/api-keys/{key_hash}")

    @event(Issued)
    def __init__(self, customer_id: UUID) -> None:
        self.customer_id = customer_id
        self.revoked = False

    @classmethod
    def issue(cls, key_hash: str, customer_id: UUID) -> ApiKey:
        """Create the index entry for a new key."""
        return cls._create(cls.Issued, id=cls.create_id(key_hash), customer_id=customer_id)

    @event(Revoked)
    def revoke(self) -> None:
        """The key stops working."""
        self.revoked = True


class Message(Aggregate):
    """One outbound email; its id is the ``message_id`` / ``email_id`` of the API."""

    class Queued(Aggregate.Created):
        customer_id: UUID
        to: str
        from_address: str
        subject: str
        html: str | None
        text: str | None
        reply_to: str | None
        cc: list[str]
        bcc: list[str]
        headers: dict[str, str]
        tag: str | None
        metadata: dict[str, Any]
        domain: str
        domain_id: UUID
        track_opens: bool
        track_clicks: bool

    @event(Queued)
    def __init__(  # noqa: PLR0913 - the contract's fields
        self,
        customer_id: UUID,
        to: str,
        from_address: str,
        subject: str,
        html: str | None,
        text: str | None,
        reply_to: str | None,
        cc: list[str],
        bcc: list[str],
        headers: dict[str, str],
        tag: str | None,
        metadata: dict[str, Any],
        domain: str,
        domain_id: UUID,
        track_opens: bool,
        track_clicks: bool,
    ) -> None:
        self.customer_id, self.to, self.from_address = customer_id, to, from_address
        self.subject, self.html, self.text = subject, html, text
        self.reply_to, self.cc, self.bcc, self.headers = reply_to, cc, bcc, headers
        self.tag, self.metadata, self.domain, self.domain_id = tag, metadata, domain, domain_id
        self.track_opens, self.track_clicks = track_opens, track_clicks
        self.status = "queued"
        self.sent_at: datetime | None = None

    def dimensions(self) -> dict[str, Any]:
        """What engagement events copy so that projections never need a lookup."""
        return {
            "customer_id": self.customer_id,
            "recipient": self.to,
            "from_address": self.from_address,
            "domain": self.domain,
            "domain_id": self.domain_id,
            "tag": self.tag,
        }


class Engagement(Aggregate):
    """Base of one tracked hit (open or click): each hit is its own fact, so concurrent
    hits on one message never contend for the message's version."""

    email_id: UUID


class Open(Engagement):
    """A recipient's mail client fetched the tracking pixel."""

    class Recorded(Aggregate.Created):
        email_id: UUID
        customer_id: UUID
        recipient: str
        from_address: str
        domain: str
        domain_id: UUID
        tag: str | None
        user_agent: str
        ip: str
        seconds_since_sent: int | None

    @event(Recorded)
    def __init__(  # noqa: PLR0913
        self,
        email_id: UUID,
        customer_id: UUID,
        recipient: str,
        from_address: str,
        domain: str,
        domain_id: UUID,
        tag: str | None,
        user_agent: str,
        ip: str,
        seconds_since_sent: int | None,
    ) -> None:
        self.email_id, self.customer_id = email_id, customer_id


class Click(Engagement):
    """A recipient followed a tracked link."""

    class Recorded(Aggregate.Created):
        email_id: UUID
        customer_id: UUID
        recipient: str
        from_address: str
        domain: str
        domain_id: UUID
        tag: str | None
        user_agent: str
        ip: str
        seconds_since_sent: int | None
        url: str

    @event(Recorded)
    def __init__(  # noqa: PLR0913
        self,
        email_id: UUID,
        customer_id: UUID,
        recipient: str,
        from_address: str,
        domain: str,
        domain_id: UUID,
        tag: str | None,
        user_agent: str,
        ip: str,
        seconds_since_sent: int | None,
        url: str,
    ) -> None:
        self.email_id, self.customer_id, self.url = email_id, customer_id, url

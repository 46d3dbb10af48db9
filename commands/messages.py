"""Commands: small frozen dataclasses, named in the imperative."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from dataclasses import field
from typing import Any
from uuid import UUID

from security import keys


@dataclass(frozen=True)
class CreateCustomer:
    """An operator creates a customer (CLI only)."""

    name: str
    email: str
    tier: str
    domains: tuple[str, ...] = ()


@dataclass(frozen=True)
class SendEmail:
    """Queue one message for delivery."""

    customer_id: UUID
    to: str
    subject: str
    html: str | None
    text: str | None
    domain: str | None = None
    from_address: str | None = None
    reply_to: str | None = None
    cc: tuple[str, ...] = ()
    bcc: tuple[str, ...] = ()
    headers: dict[str, str] = field(default_factory=dict)
    tag: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    track_opens: bool | None = None
    track_clicks: bool | None = None
    # The customer aggregate this request already authenticated (read only), saving a load.
    customer: Any = field(default=None, compare=False, repr=False)

    @classmethod
    def from_body(cls, customer_id: UUID, body: dict[str, Any], customer: Any = None) -> SendEmail:
        """Build from a body already loaded by :class:`commands.http.schemas.SendSchema`."""
        body = dict(body)
        body["from_address"] = body.pop("from_", None)
        body["cc"], body["bcc"] = tuple(body["cc"]), tuple(body["bcc"])
        return cls(customer_id=customer_id, customer=customer, **body)


@dataclass(frozen=True)
class SendMany:
    """Queue many messages of one customer, each decided on its own (batch, bulk-send)."""

    customer_id: UUID
    items: tuple[SendEmail, ...]
    customer: Any = field(default=None, compare=False, repr=False)  # as in SendEmail


@dataclass(frozen=True)
class RecordOpen:
    """A tracking pixel was fetched."""

    message_id: UUID
    user_agent: str
    ip: str


@dataclass(frozen=True)
class RecordClick:
    """A tracked link was followed."""

    message_id: UUID
    url: str
    user_agent: str
    ip: str


@dataclass(frozen=True)
class ChangeProfile:
    """Change profile settings."""

    customer_id: UUID
    changes: dict[str, Any]


@dataclass(frozen=True)
class RotateApiKey:
    """Replace the API key; the old one dies at once."""

    customer_id: UUID


@dataclass(frozen=True)
class RotateSmtpPassword:
    """Replace the SMTP password; the old one dies at once."""

    customer_id: UUID
    password: str = field(default_factory=keys.new_smtp_password, repr=False)

    @functools.cached_property
    def password_hash(self) -> str:
        """The stored form, computed once however often the bus decides the command."""
        return keys.hash_password(self.password)


@dataclass(frozen=True)
class AddDomain:
    """Add a sending domain (``trusted``: the operator vouches for it)."""

    customer_id: UUID
    domain: str
    trusted: bool = False


@dataclass(frozen=True)
class ClaimVerifiedDomains:
    """Hold the names of a customer's verified domains (for names verified before claims existed)."""

    customer_id: UUID


@dataclass(frozen=True)
class VerifyDomain:
    """Look a domain's DNS records up now and record the result."""

    customer_id: UUID
    domain_id: UUID


@dataclass(frozen=True)
class ChangeDomain:
    """Change a domain's tracking settings."""

    customer_id: UUID
    domain_id: UUID
    changes: dict[str, Any]


@dataclass(frozen=True)
class RemoveDomain:
    """Remove a sending domain."""

    customer_id: UUID
    domain_id: UUID

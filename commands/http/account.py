"""Account endpoints: profile (§4), SMTP credentials (§5), sending domains (§6)."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from flask import Blueprint
from flask import current_app
from flask import g

from commands import messages as m
from commands.account import expected
from commands.http.schemas import DomainChangeSchema
from commands.http.schemas import DomainSchema
from commands.http.schemas import ProfileSchema
from commands.http.sending import load_json
from commands.webhook_deliveries import profile_secret
from event_store.errors import NotFound
from security.keys import KEY_PREFIX
from security.keys import mask

bp = Blueprint("account", __name__)
SMTP_PORTS = [25, 587, 465, 2525]


def _bus() -> Any:
    return current_app.extensions["bus"]


def _iso(value: Any) -> str | None:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ") if value is not None else None


@bp.get("/customer/profile")
def profile() -> dict[str, Any]:
    """The customer's profile, limits and usage; the key masked."""
    return {"customer": profile_view(g.customer)}


def profile_view(customer: Any) -> dict[str, Any]:
    """The profile object of the contract."""
    limit = customer.limits["monthly_email_limit"]
    usage = current_app.extensions["usage"](customer.id)
    return {
        "id": str(customer.id), "name": customer.name, "email": customer.email,
        "status": customer.status, "tier": customer.tier, "created_at": _iso(customer.created_on),
        "webhook_url": customer.webhook_url, "tracking_enabled": customer.tracking_enabled,
        "open_tracking_enabled": customer.open_tracking_enabled,
        "click_tracking_enabled": customer.click_tracking_enabled,
        "monthly_email_limit": limit, "emails_sent_this_month": usage,
        "remaining_emails": max(0, limit - usage), "max_domains": customer.limits["max_domains"],
        "current_domains": len(customer.domains),
        "enforce_sender_verification": customer.enforce_sender_verification,
        "api_key": mask(customer.key_prefix, customer.key_last4),
    }


@bp.patch("/customer/profile")
def change_profile() -> dict[str, Any]:
    """Change name, webhook_url, the tracking flags or enforce_sender_verification."""
    changes = load_json(ProfileSchema())
    customer = _bus().handle(m.ChangeProfile(g.customer.id, changes))
    answer: dict[str, Any] = {"customer": profile_view(customer)}
    if changes.get("webhook_url"):  # shown when the URL is set, to verify its signatures
        answer["webhook_secret"] = profile_secret(_bus().deps.secret_key, customer.id).decode()
    return answer


@bp.post("/customer/rotate-key")
def rotate_key() -> dict[str, Any]:
    """A new API key, shown only here; the old one stops working at once."""
    customer, key = _bus().handle(m.RotateApiKey(g.customer.id))
    return {"message": "API key rotated; the previous key no longer works", "api_key": key,
            "key_prefix": KEY_PREFIX,
            "customer": {"id": str(customer.id), "name": customer.name, "email": customer.email}}


def _smtp(customer: Any) -> dict[str, Any]:
    return {"host": current_app.extensions["settings"].smtp_host, "ports": SMTP_PORTS,
            "recommended_port": 587, "username": customer.email}


@bp.get("/smtp-credentials")
def smtp_credentials() -> dict[str, Any]:
    """Where and as whom to connect over SMTP (the password is never shown again)."""
    return {"smtp_credentials": _smtp(g.customer)}


@bp.post("/smtp-credentials/rotate")
def rotate_smtp() -> dict[str, Any]:
    """A new SMTP password, shown only here; the old one stops working at once."""
    customer, password = _bus().handle(m.RotateSmtpPassword(g.customer.id))
    return {"success": True, "message": "SMTP password rotated",
            "smtp_credentials": {**_smtp(customer), "password": password},
            "warning": "Store this password now: it cannot be shown again."}


def domain_view(domain: dict[str, Any]) -> dict[str, Any]:
    """A domain object of the contract; before any check, the records to publish."""
    records = domain["dns_records"] or [
        {"purpose": r.purpose, "type": r.type, "host": r.host, "value": r.value, "valid": False,
         "found": [], "reason": None}
        for r in expected(domain, current_app.extensions["settings"].spf_include)]
    return {"id": str(domain["id"]), "domain": domain["domain"], "status": domain["status"],
            "created_at": _iso(domain["created_at"]), "verified_at": _iso(domain["verified_at"]),
            "last_checked_at": _iso(domain["last_checked_at"]), "dkim_selector": domain["dkim_selector"],
            "open_tracking_enabled": domain["open_tracking_enabled"],
            "click_tracking_enabled": domain["click_tracking_enabled"],
            "vouched": bool(domain.get("vouched")), "dns_verified": domain.get("dns_verified"),
            "dns_records": records}


def _domain_id(text: str) -> UUID:
    try:
        return UUID(text)
    except ValueError:
        raise NotFound("domain not found") from None


@bp.post("/customer/domains")
def add_domain() -> tuple[dict[str, Any], int]:
    """Add a sending domain (pending until verified)."""
    body = load_json(DomainSchema())
    return {"domain": domain_view(_bus().handle(m.AddDomain(g.customer.id, body["domain"])))}, 201


@bp.get("/customer/domains")
def list_domains() -> dict[str, Any]:
    """Every sending domain of the customer."""
    domains = sorted(g.customer.domains.values(), key=lambda d: d["created_at"])
    total = len(domains)
    return {"domains": [domain_view(d) for d in domains],
            "pagination": {"page": 1, "limit": max(total, 1), "total": total, "pages": 1}}


@bp.get("/customer/domains/<domain_id>")
def get_domain(domain_id: str) -> dict[str, Any]:
    """One sending domain."""
    return {"domain": domain_view(g.customer.domain(_domain_id(domain_id)))}


@bp.patch("/customer/domains/<domain_id>")
def change_domain(domain_id: str) -> dict[str, Any]:
    """Change a domain's tracking flags."""
    changes = load_json(DomainChangeSchema())
    domain = _bus().handle(m.ChangeDomain(g.customer.id, _domain_id(domain_id), changes))
    return {"domain": domain_view(domain)}


@bp.delete("/customer/domains/<domain_id>")
def remove_domain(domain_id: str) -> dict[str, Any]:
    """Remove a sending domain."""
    _bus().handle(m.RemoveDomain(g.customer.id, _domain_id(domain_id)))
    return {"message": "domain removed", "id": domain_id}


@bp.post("/customer/domains/<domain_id>/verify")
def verify_domain(domain_id: str) -> dict[str, Any]:
    """Check the domain's DNS records now; each failed record says why."""
    domain = _bus().handle(m.VerifyDomain(g.customer.id, _domain_id(domain_id)))
    return {"domain": domain_view(domain)}



"""The document's shared parts: overview, tags, security schemes, headers and error answers."""

from __future__ import annotations

from typing import TYPE_CHECKING
from typing import Any

from web.apidoc import common
from web.apidoc.write_answers import JsonReport

if TYPE_CHECKING:
    from apispec import APISpec
    from marshmallow import Schema

OVERVIEW = """\
Email sending, tracking and analytics. Every customer endpoint is served under both `/api/...`
and `/api/v1/...` (the same handler).

* **Auth**: the API key in `X-API-Key: <key>` or `Authorization: Bearer <key>`
  (`ml_live_` + 64 hex characters). Missing or unknown key: `401`.
* **Tenancy**: another customer's object answers `404`.
* **Errors**: always JSON `{"error": code, "message": sentence}`, plus `details`
  (field -> problems, nested by list index or key for per-item problems: `ErrorDetails`) on
  `400`. Wrong method `405 method_not_allowed` with an `Allow` header listing the path's methods;
  wrong content type `415`; a body over 10 MB `413` (inbound reports: 1 MB); the only non-JSON
  error is the open pixel's GIF on a bad token.
* **Conflicts**: every operation that records something may answer `409 conflict` when a
  concurrent request changed the same object first: nothing was recorded, send it again.
* **Rate limit**: per customer per minute (600 by default, by tier). Every authenticated answer
  carries `X-RateLimit-Limit`, `X-RateLimit-Remaining`, `X-RateLimit-Reset` (Unix seconds);
  over the limit: `429` with `Retry-After`.
* **Time**: UTC, ISO 8601 with `Z`. **IDs**: UUID strings. An empty query parameter (`?tag=`)
  is the same as leaving it out.
* **Pagination**: `page` (1-based) and `limit`; answers carry
  `pagination: {page, limit, total, pages}`, event lists also an opaque `next_cursor`.
* **Request id**: `X-Request-Id` is echoed (or generated) on every answer.
* **Operations**: `/healthz`, `/readyz`, `/metrics` (Prometheus; keep it off the public network)
  and this document need no key.
"""

TAGS = {
    "Sending": "Queue messages one by one, in batches or as a mail merge (spec §3).",
    "Profile": "The customer's profile and API key (§4).",
    "SMTP": "SMTP credentials (§5).",
    "Domains": "Sending domains and their DNS verification (§6).",
    "Statistics": "Totals and time series from the read model (§7).",
    "Events": "The event log of every message; enterprise tier (§8).",
    "Exports": "Bulk analytics exports (§9).",
    "Unsubscribes": "The suppression list (§10).",
    "Health score": "Sending reputation (§11).",
    "Content": "Spam scoring before sending (§12).",
    "Tracking": "Open pixel, click redirects and unsubscribe links; public (§13).",
    "Inbound webhooks": "Bounce and complaint reports from the mail servers, HMAC-signed (§14).",
    "Outbound webhooks": "Endpoints that receive the customer's events (§15).",
    "Operations": "Liveness, readiness, metrics and this reference; no key (§16). The operator "
                  "endpoints need the operator token, from loopback.",
    "Undocumented": "Routes without an entry in the registry (a test fails while any exist).",
}
API_KEY: list[dict[str, list[str]]] = [{"ApiKeyHeader": []}, {"BearerAuth": []}]
OPERATOR: list[dict[str, list[str]]] = [{"OperatorToken": []}]
CONFLICT = ("`conflict`: a concurrent request changed the same object first; nothing was recorded, "
            "send it again")
SUCCESS = {200: "Success", 201: "Created", 202: "Accepted", 302: "Redirect to the link that was sent"}
ERRORS = {400: "Invalid input: `details` names each field's problems", 401: "Missing or unknown key",
          403: "Not allowed for this account (suspended, or the tier lacks the feature)",
          405: "Method not allowed: `Allow` lists the path's methods",
          404: "Not found, or another customer's", 409: "Already exists, or not ready yet",
          410: "Gone (an expired export)",
          413: "Too large", 415: "Wrong content type", 422: "Refused by a business rule",
          429: "Rate limit exceeded: retry after `Retry-After` seconds",
          503: "`analytics_unavailable`: the analytics store is unreachable; retry after `Retry-After` "
               "seconds"}
_INT = {"schema": {"type": "integer"}}
HEADERS = {
    "X-Request-Id": {"description": "the request's id, echoed or generated", "schema": {"type": "string"}},
    "X-RateLimit-Limit": {"description": "requests allowed per minute", **_INT},
    "X-RateLimit-Remaining": {"description": "requests left in this minute", **_INT},
    "X-RateLimit-Reset": {"description": "when the window resets (Unix seconds)", **_INT},
    "Retry-After": {"description": "seconds to wait", **_INT},
    "Location": {"description": "where to go", "schema": {"type": "string", "format": "uri"}},
    "Allow": {"description": "the methods of this path, comma-separated", "schema": {"type": "string"}},
}
_RATE = ("X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset")


def schema_name(schema: type[Schema] | Schema) -> str:
    """Component names: the views' request schemas end in ``Request``, PATCH variants in ``Patch``."""
    cls = schema if isinstance(schema, type) else type(schema)
    name = cls.__name__.removesuffix("Schema")
    if not cls.__module__.startswith("web.apidoc") and not name.endswith("Request"):
        name += "Request"
    return name + ("Patch" if getattr(schema, "partial", False) is True else "")


def register(spec: APISpec) -> None:
    """Add tags, security schemes, headers, the error schema and error responses."""
    for name, description in TAGS.items():
        spec.tag({"name": name, "description": description})
    spec.components.security_scheme("ApiKeyHeader", {"type": "apiKey", "in": "header", "name": "X-API-Key"})
    spec.components.security_scheme("BearerAuth", {"type": "http", "scheme": "bearer",
                                                   "description": "the same API key as a bearer token"})
    spec.components.security_scheme("OperatorToken", {
        "type": "http", "scheme": "bearer", "description": "the operator token (`mailerlogic` derives it "
        "from MAILERLOGIC_SECRET_KEY), accepted only from loopback; never a customer key"})
    spec.components.schema("ErrorDetails", dict(common.DETAILS))
    spec.components.schema("Error", schema=common.Error)
    spec.components.schema("Pagination", schema=common.Pagination)
    spec.components.schema("JsonReport", schema=JsonReport)
    for name, header in HEADERS.items():
        spec.components.header(name, dict(header))
    for status, description in ERRORS.items():
        headers = {"X-Request-Id": _ref("headers", "X-Request-Id")}
        if status == 429:
            headers |= {name: _ref("headers", name) for name in (*_RATE, "Retry-After")}
        if status == 503:
            headers["Retry-After"] = _ref("headers", "Retry-After")
        if status == 405:
            headers["Allow"] = _ref("headers", "Allow")
        spec.components.response(f"Error{status}", {
            "description": description, "headers": headers,
            "content": {"application/json": {"schema": _ref("schemas", "Error")}}})


def _ref(kind: str, name: str) -> dict[str, str]:
    return {"$ref": f"#/components/{kind}/{name}"}


def headers(authenticated: bool, status: int) -> dict[str, Any]:
    """Headers of a success answer: the request id, rate-limit headers, ``Location`` on 302."""
    names = ["X-Request-Id", *(_RATE if authenticated else ()), *(("Location",) if status == 302 else ())]
    return {name: _ref("headers", name) for name in names}


def error_response(status: int, note: str | None = None, media: str | None = None,
                   schema: type[Schema] | Schema | None = None) -> dict[str, Any]:
    """The shared error answer of ``status``; inline when this operation says more, answers another
    ``media`` or another JSON ``schema`` than ``Error``."""
    if note is None and media is None and schema is None:
        return _ref("responses", f"Error{status}")
    content = ({media: {"schema": raw_schema(media)}} if media
               else {"application/json": {"schema": schema if schema is not None
                                          else _ref("schemas", "Error")}})
    headers = {"X-Request-Id": _ref("headers", "X-Request-Id")}
    return {"description": note or ERRORS[status], "headers": headers, "content": content}


def raw_schema(media: str) -> dict[str, Any]:
    """The schema of a non-JSON (or undescribed JSON) answer."""
    if media.startswith("image/"):
        return {"type": "string", "format": "binary"}
    if media == "application/json":
        return {"type": "object"}
    return {"type": "string"}

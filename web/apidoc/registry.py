"""What the API document says about each endpoint beyond its route and docstring: one line each.

Keys are endpoint names without the ``_v1`` twin suffix (``account.profile`` documents both
``/api/customer/profile`` and ``/api/v1/customer/profile``). The summary is the first line of the
view's docstring; the route, its methods and path parameters come from the app's url_map; whether
an API key is needed comes from ``web.app.AUTHENTICATED``. A route without an entry here
is still listed, marked ``x-undocumented``, and the coverage test fails.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field
from typing import Any

from marshmallow import Schema
from marshmallow import fields

from commands.http.batch import BulkSchema
from commands.http.exports import ExportSchema
from commands.http.schemas import DomainChangeSchema
from commands.http.schemas import DomainSchema
from commands.http.schemas import ProfileSchema
from commands.http.schemas import SendSchema
from commands.http.suppression import ContentSchema
from commands.http.suppression import UnsubscribeSchema
from commands.http.webhooks import WebhookSchema
from read_api.series import KINDS
from web.apidoc import account_answers as a
from web.apidoc import common as c
from web.apidoc import events_answers as ev
from web.apidoc import exports_answers as ex
from web.apidoc import operator_answers as op
from web.apidoc import read_answers as r
from web.apidoc import read_lists as rl
from web.apidoc import write_answers as w

SchemaRef = type[Schema] | Schema


@dataclass(frozen=True)
class Doc:
    """One endpoint's documentation: tag, bodies, query, extra statuses, media types."""

    tag: str
    answer: SchemaRef | None = None  # JSON body of the success answer
    status: int = 200
    body: SchemaRef | Mapping[str, Any] | None = None  # JSON request body, or a raw OpenAPI schema
    query: SchemaRef | None = None
    errors: tuple[int, ...] = ()  # beyond the automatic ones (400/415 with a body, 401/429 with a key)
    path: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)  # path parameter schemas
    media: str = "application/json"  # of the success answer
    more_media: tuple[str, ...] = ()  # other media types of the success answer (same schema)
    body_media: tuple[str, ...] = ("application/json",)
    headers: Mapping[str, str] = field(default_factory=dict)  # required request headers -> meaning
    example: Mapping[str, Any] | None = None  # of the JSON request body
    notes: Mapping[int, str] = field(default_factory=dict)  # what a status means here, beyond ERRORS
    error_media: Mapping[int, str] = field(default_factory=dict)  # a non-JSON error answer's media type
    writes: bool | None = None  # records events, so may answer 409 conflict; None: POST/PATCH/PUT/DELETE
    body_limit: int | None = None  # bytes of the body above which it answers 413; None: the app's
    body_required: bool = True  # a JSON body must be sent (else: may be empty)
    operator: bool = False  # the operator token, not a customer key
    error_schemas: Mapping[int, SchemaRef] = field(default_factory=dict)  # an error answer not an Error


UUID = {"type": "string", "format": "uuid"}
DOMAIN = {"domain_id": UUID}
WEBHOOK = {"endpoint_id": UUID}
TOKEN = {"token": {"type": "string", "description": "signed token from the message"}}
_SIGNED = {"X-MailerLogic-Timestamp": "Unix seconds; refused when more than 300 s away from now",
           "X-MailerLogic-Signature": "v1=<hex HMAC-SHA256 of '<timestamp>.<path>.' + raw body>, where "
                                      "<path> is /api/webhooks/bounce or /api/webhooks/complaint (also when "
                                      "posting to /api/v1/...), comma-separated for key rotation; a "
                                      "signature made for the other endpoint, or without the path, is "
                                      "refused"}
_FORM = "application/x-www-form-urlencoded"
_ONE_CLICK = {"type": "object", "properties": {"List-Unsubscribe": {
    "type": "string", "enum": ["One-Click"], "description": "RFC 8058 one-click (else: the page's button)"}}}
_REPORT_MEDIA = ("application/json", "multipart/report", "message/delivery-status", "message/rfc822")
_REPORT_BODY = {"oneOf": [{"$ref": "#/components/schemas/JsonReport"},
                          {"type": "array", "items": {"$ref": "#/components/schemas/JsonReport"}}]}


_TAKEN = "`domain_taken`: another customer holds this domain name verified"
_MAIL = {"to": "ada@example.org", "subject": "Welcome", "text": "Hello Ada", "tag": "welcome"}
_BULK = {"subject": "Hi {{name}}", "text": "Hello {{name}}", "recipients": [
    {"email": "ada@example.org", "vars": {"name": "Ada"}}]}


class ResubscribeQuery(Schema):
    """Which unsubscribe to remove."""

    domain_id = fields.UUID(metadata={"description": "the domain-scoped entry; omit for the global one"})


DOCS: dict[str, Doc] = {
    # Sending (§3)
    "commands.send": Doc("Sending", w.Queued, body=SendSchema, errors=(403, 409, 413, 422), example=_MAIL,
                         notes={409: _TAKEN, 413: "Too large: the request over 10 MB, or html or text over "
                                "1 MB"}),
    "batch.batch": Doc("Sending", w.BatchResult, body=w.BatchRequest, errors=(403, 413),
                         example={"emails": [_MAIL]}),
    "batch.bulk_send": Doc("Sending", w.BulkResult, body=BulkSchema, errors=(403, 413), example=_BULK),
    # Profile (§4) and SMTP (§5)
    "account.profile": Doc("Profile", a.ProfileAnswer, errors=(503,)),
    "account.change_profile": Doc("Profile", a.ProfileAnswer, body=ProfileSchema),
    "account.rotate_key": Doc("Profile", a.KeyRotated),
    "account.smtp_credentials": Doc("SMTP", a.SmtpAnswer),
    "account.rotate_smtp": Doc("SMTP", a.SmtpRotated),
    # Sending domains (§6)
    "account.add_domain": Doc("Domains", a.DomainAnswer, 201, DomainSchema, errors=(409, 422),
                              notes={409: f"`domain_exists`: the customer already has it; {_TAKEN}"}),
    "account.list_domains": Doc("Domains", a.DomainList),
    "account.get_domain": Doc("Domains", a.DomainAnswer, errors=(404,), path=DOMAIN),
    "account.change_domain": Doc("Domains", a.DomainAnswer, body=DomainChangeSchema, errors=(404,),
                                 path=DOMAIN),
    "account.remove_domain": Doc("Domains", c.Removed, errors=(404,), path=DOMAIN),
    "account.verify_domain": Doc("Domains", a.DomainAnswer, errors=(404, 409), path=DOMAIN,
                                 notes={409: _TAKEN}),
    # Statistics (§7)
    "read_api.outbound": Doc("Statistics", r.OutboundTotals, query=r.StatsQuery, errors=(400, 503)),
    "read_api.outbound_series": Doc("Statistics", r.Series, query=r.SeriesQuery, errors=(400, 404, 503),
                                    path={"kind": {"type": "string", "enum": list(KINDS)}}),
    # Events (§8) and the streaming export (§9): enterprise only
    "events_api.list_events": Doc("Events", ev.EventList, query=ev.EventPageQuery, errors=(400, 403, 503)),
    "events_api.email_events": Doc("Events", ev.EmailHistory, errors=(403, 404, 503),
                                   path={"email_id": UUID}),
    "events_api.export_events": Doc("Events", media="text/csv", more_media=("application/x-ndjson",),
                                    query=ev.EventExportQuery, errors=(400, 403, 503)),
    # Bulk export jobs (§9): events for Events API tiers, stats for all
    "exports.request_export": Doc("Exports", ex.ExportStarted, 202, ExportSchema, errors=(403, 409),
                                  notes={409: "`too_many_exports`: finish or wait for the open ones "
                                         "(`details.open_exports`)"},
                                  example={"kind": "stats", "format": "csv", "interval": "day"}),
    "exports.export_status": Doc("Exports", ex.ExportStatus, errors=(404,), path={"export_id": UUID}),
    "exports.download": Doc("Exports", media="text/csv", more_media=("application/x-ndjson",),
                            errors=(404, 409, 410), path={"export_id": UUID},
                            notes={409: "`export_not_ready` (still running) or `export_failed`"}),
    # Unsubscribes (§10)
    "suppression.unsubscribe": Doc("Unsubscribes", w.Unsubscribed, 201, UnsubscribeSchema,
                                   errors=(404, 409), notes={
                                       404: "`domain_id` is not one of the customer's domains",
                                       409: "`already_unsubscribed`: this address, in this scope"}),
    "suppression.resubscribe": Doc("Unsubscribes", w.Resubscribed, query=ResubscribeQuery,
                                   errors=(404,), path={"email": {"type": "string", "format": "email"}}),
    "unsubscribes.list_unsubscribes": Doc("Unsubscribes", rl.UnsubscribeList, query=rl.UnsubscribeQuery,
                                          errors=(400, 503)),
    # Health score (§11)
    "health.health_score": Doc("Health score", rl.HealthAnswer, errors=(404, 503)),
    "health.refresh": Doc("Health score", rl.HealthRefreshed, errors=(404, 503)),
    "health_history.health_history": Doc("Health score", rl.History, query=rl.HistoryQuery,
                                         errors=(400, 503)),
    # Content scoring (§12)
    "suppression.content_score": Doc("Content", w.ContentScore, body=ContentSchema, writes=False,
                                     example={"subject": "FREE MONEY!!!", "text": "Click now"}),
    # Tracking (§13): public
    "tracking.open_pixel": Doc("Tracking", media="image/gif", path=TOKEN, errors=(404,),
                               error_media={404: "image/gif"}, notes={
                                   404: "A forged or altered token, or an unknown message: nothing is "
                                        "recorded, and the GIF is served all the same"}),
    "tracking.click": Doc("Tracking", status=302, media="", path=TOKEN, errors=(404,), writes=True),
    "unsubscribe_links.unsubscribe_link": Doc("Tracking", media="text/html", path=TOKEN, errors=(404,),
                                              body=_ONE_CLICK, body_media=(_FORM,)),
    # Inbound webhooks (§14): signed, no API key
    "webhooks.inbound_report": Doc("Inbound webhooks", w.ReportsAccepted, body=_REPORT_BODY,
                                   body_media=_REPORT_MEDIA, errors=(400, 401, 404, 409, 413, 415),
                                   body_limit=1024 * 1024, notes={
                                       400: "`invalid_report`: not a report (also JSON nested deeper "
                                            "than 64, a lone surrogate, a MIME report of more than 64 parts)",
                                       401: "`missing_signature`, `invalid_signature` (wrong secret, "
                                            "endpoint or signing string) or `stale_signature`",
                                       409: "`replayed_signature`: this signed request was accepted "
                                            "already; sign again with a new timestamp to resend"},
                                   headers=_SIGNED, path={"kind": {"type": "string",
                                                                   "enum": ["bounce", "complaint"]}}),
    # Outbound webhooks (§15)
    "webhooks_api.add": Doc("Outbound webhooks", w.WebhookCreated, 201, WebhookSchema, errors=(422,)),
    "webhooks_api.list_all": Doc("Outbound webhooks", w.WebhookList),
    "webhooks_api.get_one": Doc("Outbound webhooks", w.WebhookAnswer, errors=(404,), path=WEBHOOK),
    "webhooks_api.change": Doc("Outbound webhooks", w.WebhookAnswer, body=WebhookSchema(partial=True),
                               errors=(404,), path=WEBHOOK),
    "webhooks_api.remove": Doc("Outbound webhooks", c.Removed, errors=(404,), path=WEBHOOK),
    # Operations (§16): public
    "ops.healthz": Doc("Operations", c.Status),
    "readiness.readyz": Doc("Operations", c.Readiness, errors=(503,), error_schemas={503: c.Readiness},
                            notes={503: "Not ready: the same body, `status` not_ready"}),
    "apidoc.openapi": Doc("Operations", media="application/json"),
    "apidoc.docs_page": Doc("Operations", media="text/html"),
    "metrics.metrics": Doc("Operations", media="text/plain"),
    "operator.rebuild_status": Doc("Operations", op.JobAnswer, operator=True),
    "operator.start_rebuild": Doc("Operations", op.JobAnswer, 202, op.RebuildRequest, operator=True,
                                  writes=False, body_required=False, errors=(400, 409), notes={
                                      409: "`rebuild_running`: follow it with GET"}),
}

"""The Flask app factory: composes the write and read blueprints, auth and JSON errors."""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING
from typing import Any

from flask import Flask
from flask import g
from flask import request
from werkzeug.exceptions import HTTPException

from commands.http import account as account_api
from commands.http import batch as batch_api
from commands.http import exports as exports_api
from commands.http import health as health_api
from commands.http import sending as write_api
from commands.http import suppression as suppression_api
from commands.http import webhooks as webhooks_api
from commands.http.pixel import OpenPixel
from event_store.errors import DomainError
from event_store.errors import Unauthorized
from mailerlogic.wiring import build_bus
from mailerlogic.wiring import month_usage
from read_api import health_history
from read_api.http import events as events_api
from read_api.http import statistics as read_api
from read_api.http import unsubscribes as unsubscribes_api
from read_api.params import BadParam
from security.keys import hash_key
from security.keys import key_from_headers
from warehouse.clients import AnalyticsUnavailable
from web import metrics
from web import readiness as ops
from web.apidoc import views as apidoc
from web.lag import ReaderLag
from web.ratelimit import headers as ratelimit_headers
from web.ratelimit import open_rate_limiter
from web.request_input import BoundedJSONProvider
from web.request_input import DechunkedBody
from web.seen_signatures import open_seen_signatures

if TYPE_CHECKING:
    from flask import Response

    from event_store.application import EmailEvents
    from mailerlogic.config import Settings
    from warehouse.port import ClickHouse
    from web.ratelimit import RateLimiter

log = logging.getLogger("mailerlogic.api")
AUTHENTICATED = {"commands", "commands_v1", "batch", "batch_v1", "account", "account_v1", "suppression",
                 "suppression_v1", "webhooks_api", "webhooks_api_v1", "read_api", "read_api_v1"}
AUTHENTICATED |= {"unsubscribes", "unsubscribes_v1"}
AUTHENTICATED |= {"health", "health_v1", "health_history", "health_history_v1"}
AUTHENTICATED |= {"events_api", "events_api_v1"}
AUTHENTICATED |= {"exports", "exports_v1"}
MAX_REQUEST_BYTES = 10 * 1024 * 1024


def create_app(
    settings: Settings,
    *,
    events: EmailEvents,
    clickhouse: Callable[[], ClickHouse],
    test_config: dict[str, Any] | None = None,
    rate_limiter: RateLimiter | None = None,
) -> Flask:
    """Build the API: every customer endpoint under ``/api`` and ``/api/v1``."""
    app = Flask(__name__)
    app.config.from_mapping(MAX_CONTENT_LENGTH=MAX_REQUEST_BYTES)
    app.json = BoundedJSONProvider(app)  # nesting > 64 or a lone surrogate: 400, never a 500
    app.json.sort_keys = False
    if test_config:
        app.config.from_mapping(test_config)
    app.extensions.update(events=events, clickhouse=clickhouse, secret_key=settings.secret_key,
                          settings=settings, bus=build_bus(settings, events, clickhouse),
                          lag=ReaderLag(settings, events),
                          usage=lambda customer_id: month_usage(clickhouse(), customer_id),  # exact
                          ratelimit=rate_limiter or open_rate_limiter(settings.event_store_url,
                                                                      settings.data_dir),
                          seen_signatures=open_seen_signatures(settings.event_store_url, settings.data_dir))
    for blueprint in (write_api.bp, batch_api.bp, account_api.bp, suppression_api.bp, webhooks_api.bp,
                      read_api.bp, unsubscribes_api.bp,
                      health_api.bp, health_history.bp, events_api.bp, exports_api.bp,
                      suppression_api.webhooks):
        app.register_blueprint(blueprint, url_prefix="/api")
        app.register_blueprint(blueprint, url_prefix="/api/v1", name=f"{blueprint.name}_v1")
    app.register_blueprint(write_api.tracking, url_prefix="/track")
    app.register_blueprint(suppression_api.links, url_prefix="/track")
    app.register_blueprint(read_api.ops)
    app.register_blueprint(ops.bp)
    app.register_blueprint(apidoc.bp, url_prefix="/api")  # the reference: public
    app.register_blueprint(apidoc.bp, url_prefix="/api/v1", name="apidoc_v1")
    # first before_request: refused requests are timed too
    metrics.install(app, events, app.extensions["lag"])
    # Flask sees a chunked body as one with its true Content-Length (413 past the limit); the
    # pixel's fast path (GET, outermost) reads no body.
    app.wsgi_app = DechunkedBody(app.wsgi_app,  # type: ignore[method-assign]
                                 lambda: app.config["MAX_CONTENT_LENGTH"])
    app.wsgi_app = OpenPixel(app.wsgi_app, settings.secret_key,  # type: ignore[method-assign]
                             app.extensions["bus"].handle, app.extensions["metrics"].observe)
    app.before_request(_before)
    app.after_request(_after)
    _register_errors(app)
    return app


def _before() -> None:
    g.request_id = request.headers.get("X-Request-Id") or uuid.uuid4().hex
    if request.blueprint in AUTHENTICATED:
        key = key_from_headers(request.headers)
        if not key:
            raise Unauthorized("send your API key in X-API-Key or Authorization: Bearer",
                               code="missing_api_key")
        from flask import current_app

        g.customer = current_app.extensions["events"].customer_for_key_hash(hash_key(key))
        limiter = current_app.extensions["ratelimit"]
        g.ratelimit = limiter.hit(str(g.customer.id), g.customer.limits["rate_limit_per_minute"],
                                  time.time())
        if not g.ratelimit.allowed:
            raise DomainError("too many requests: retry after the Retry-After seconds",
                              code="rate_limit_exceeded", status=429)


#: Every HTML page: no script at all, styles only inline, forms only back to us, never framed.
HTML_CSP = ("default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; form-action 'self'; "
            "base-uri 'none'; frame-ancestors 'none'")


def _after(response: Response) -> Response:
    response.headers["X-Request-Id"] = g.get("request_id", "")
    if response.mimetype == "text/html":
        response.headers.setdefault("Content-Security-Policy", HTML_CSP)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
    if "ratelimit" in g:
        response.headers.update(ratelimit_headers(g.ratelimit))
    return response


def error_body(code: str, message: str, status: int, details: Any = None) -> tuple[dict[str, Any], int]:
    """The one JSON error shape of the contract."""
    body: dict[str, Any] = {"error": code, "message": message}
    if details:
        body["details"] = details
    return body, status


def _register_errors(app: Flask) -> None:
    @app.errorhandler(DomainError)
    def domain_error(exc: DomainError) -> tuple[dict[str, Any], int]:
        return error_body(exc.code, exc.message, exc.status, exc.details)

    @app.errorhandler(BadParam)
    def bad_param(exc: BadParam) -> tuple[dict[str, Any], int]:
        return error_body("invalid_parameter", str(exc), 400, exc.details)

    @app.errorhandler(AnalyticsUnavailable)
    def analytics_unavailable(exc: AnalyticsUnavailable) -> tuple[dict[str, Any], int, dict[str, str]]:
        log.warning("analytics unavailable (request %s): %s", g.get("request_id"), exc)
        body, status = error_body(exc.code, "the analytics store is unreachable right now: retry "
                                  "after the Retry-After seconds", exc.status)
        return body, status, {"Retry-After": str(exc.retry_after_s)}

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> tuple[dict[str, Any], int, dict[str, str]]:
        code = (exc.name or "error").lower().replace(" ", "_")
        body, status = error_body(code, exc.description or code, exc.code or 500)
        # The exception's own headers (405's Allow) without its HTML content type.
        headers = {name: value for name, value in exc.get_headers() if name.lower() != "content-type"}
        return body, status, headers

    @app.errorhandler(Exception)
    def unexpected(exc: Exception) -> tuple[dict[str, Any], int]:
        log.exception("unhandled error (request %s)", g.get("request_id"))
        return error_body("internal_error", "something went wrong on our side", 500)

"""The open pixel, answered below Flask: the hottest endpoint gets the shortest path.

Every open of every tracked message is a ``GET /track/o/{token}``, so its cost decides how
many opens a machine records. Flask's request context, URL map, hooks and response objects
cost about as much as the work itself, so :class:`OpenPixel` wraps the Flask app's WSGI
callable and answers ``GET /track/o/{token}`` directly with the *same* behaviour as the Flask
view it shadows (``commands.http.sending.open_pixel``, still served for ``HEAD`` and for paths it
does not recognise):

* the token is verified (HMAC) and ``RecordOpen`` goes through the same command bus, so the
  open is appended (durably) before the answer, exactly as through Flask;
* the same 43-byte GIF and ``Cache-Control``, ``200``, or ``404`` for a token that does not
  verify or a message that does not exist (the GIF still, so mail clients show nothing);
* ``X-Request-Id`` echoed or minted, and the request timed and counted in the same metrics
  (rule ``/track/o/<token>``);
* an unexpected error is logged and answered with the contract's JSON ``500``.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Callable
from collections.abc import Iterable
from typing import Any

from commands.messages import RecordOpen
from event_store.errors import NotFound
from security import tokens

log = logging.getLogger("mailerlogic.api")

PREFIX = "/track/o/"
RULE = "/track/o/<token>"
PIXEL = (b"GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\xff\xff\xff!\xf9\x04\x01\x00\x00\x00"
         b"\x00,\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;")
CACHE_CONTROL = "no-store, no-cache, must-revalidate, max-age=0"
_GIF_HEADERS = [("Content-Type", "image/gif"), ("Content-Length", str(len(PIXEL))),
                ("Cache-Control", CACHE_CONTROL)]
_ERROR = json.dumps({"error": "internal_error", "message": "something went wrong on our side"}).encode()
_STATUS = {200: "200 OK", 404: "404 NOT FOUND", 500: "500 INTERNAL SERVER ERROR"}

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]
Observe = Callable[[str, str, int, float], None]  # method, endpoint rule, status, seconds


class OpenPixel:
    """WSGI middleware: ``GET /track/o/{token}`` here, everything else to ``app``."""

    def __init__(self, app: WSGIApp, secret: bytes, handle: Callable[[Any], Any],
                 observe: Observe) -> None:
        self.wrapped, self._secret, self._handle, self._observe = app, secret, handle, observe

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        path: str = environ.get("PATH_INFO", "")
        if not path.startswith(PREFIX) or environ.get("REQUEST_METHOD") != "GET":
            return self.wrapped(environ, start_response)
        token = path[len(PREFIX):]
        if not token or "/" in token:  # not the route: Flask answers (404 JSON)
            return self.wrapped(environ, start_response)
        started = time.perf_counter()
        request_id = environ.get("HTTP_X_REQUEST_ID") or uuid.uuid4().hex
        try:
            status = self._record(token, environ)
        except Exception:
            log.exception("unhandled error (request %s)", request_id)
            start_response(_STATUS[500], [("Content-Type", "application/json"),
                                          ("Content-Length", str(len(_ERROR))),
                                          ("X-Request-Id", request_id)])
            self._observe("GET", RULE, 500, time.perf_counter() - started)
            return [_ERROR]
        start_response(_STATUS[status], [*_GIF_HEADERS, ("X-Request-Id", request_id)])
        self._observe("GET", RULE, status, time.perf_counter() - started)
        return [PIXEL]

    def _record(self, token: str, environ: dict[str, Any]) -> int:
        return record_open(self._secret, self._handle, token, environ.get("HTTP_USER_AGENT", ""),
                           environ.get("REMOTE_ADDR") or "")


def record_open(secret: bytes, handle: Callable[[Any], Any], token: str, user_agent: str, ip: str) -> int:
    """Record the open a pixel token stands for; the status to answer (404: bad token or message)."""
    found = tokens.verify(secret, "o", token)
    if found is None:
        return 404
    try:
        handle(RecordOpen(found.message_id, user_agent, ip))
    except NotFound:
        return 404
    return 200

"""The bare baselines of the HTTP benchmarks: a tiny Flask app, served by gunicorn like the API.

* ``POST /api/send`` parses the same JSON body with the same ``commands.http.schemas.SendSchema``
  and does nothing else (no key, no store): the floor of Flask + marshmallow under gunicorn.
* ``GET /track/o/<token>`` returns the same 1x1 GIF with the same headers, recording nothing.

Run by ``bench.http_api`` as ``python -m gunicorn ... bench.bare_app:app``.
"""

from __future__ import annotations

from typing import Any

from flask import Flask
from flask import Response
from flask import request
from marshmallow import ValidationError

from commands.http.schemas import SendSchema
from commands.http.sending import PIXEL

app = Flask("bench_bare")
_SCHEMA = SendSchema()


@app.post("/api/send")
def send() -> tuple[dict[str, Any], int]:
    """Parse and validate the body; answer a fixed 200 (400 if it does not validate)."""
    body: Any = request.get_json(silent=True)
    try:
        _SCHEMA.load(body)
    except ValidationError as exc:
        return {"error": "validation_error", "details": exc.normalized_messages()}, 400  # type: ignore[no-untyped-call]
    return {"status": "queued"}, 200


@app.get("/track/o/<token>")
def open_pixel(token: str) -> Response:
    """The same GIF and caching headers as the real pixel."""
    del token
    response = Response(PIXEL, status=200, mimetype="image/gif")
    response.headers["Cache-Control"] = "no-store, no-cache, must-revalidate, max-age=0"
    return response


@app.get("/healthz")
def healthz() -> dict[str, str]:
    """Readiness for the harness."""
    return {"status": "ok"}

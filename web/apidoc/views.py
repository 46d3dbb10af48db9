"""Serves the OpenAPI document and the reference page; both public and built once per app."""

from __future__ import annotations

from typing import Any

from flask import Blueprint
from flask import Response
from flask import current_app
from flask import request

from web.apidoc import document
from web.apidoc import page

bp = Blueprint("apidoc", __name__)


def spec() -> dict[str, Any]:
    """The app's OpenAPI document, built on first use (the url_map is complete by then)."""
    found: dict[str, Any] | None = current_app.extensions.get("openapi")
    if found is None:
        from web.app import AUTHENTICATED

        found = document.build(current_app, authenticated=AUTHENTICATED,
                               server=current_app.extensions["settings"].public_url)
        current_app.extensions["openapi"] = found
    return found


@bp.get("/openapi.json")
def openapi() -> dict[str, Any]:
    """The OpenAPI 3 document of every endpoint, generated from the marshmallow schemas."""
    return spec()


@bp.get("/docs")
def docs_page() -> Response:
    """The API reference as one self-contained HTML page (no external assets)."""
    html = page.render(spec(), base=request.url_root.rstrip("/"))
    return Response(html, mimetype="text/html")

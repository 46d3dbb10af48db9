"""The OpenAPI 3 document of an app, built with apispec from its url_map and the registry.

Every rule of the url_map but ``static`` becomes one operation per method: its summary and
description from the view's docstring, its schemas from :data:`web.apidoc.registry.DOCS`
(generated from the marshmallow schemas), its security from the authenticated blueprints.
"""

from __future__ import annotations

import inspect
import re
from datetime import UTC
from datetime import date
from datetime import datetime
from datetime import timedelta
from typing import TYPE_CHECKING
from typing import Any

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin

from web.apidoc import common
from web.apidoc import components
from web.apidoc.registry import DOCS
from web.apidoc.registry import Doc

if TYPE_CHECKING:
    from collections.abc import Collection

    from flask import Flask
    from werkzeug.routing import Rule

_ARGUMENT = re.compile(r"<(?:[^:<>]+:)?([^<>]+)>")
_IGNORED_METHODS = {"HEAD", "OPTIONS"}


def endpoint_key(endpoint: str) -> str:
    """The registry key of an endpoint: its ``/api/v1`` twin shares the ``/api`` entry."""
    blueprint, dot, view = endpoint.rpartition(".")
    return f"{blueprint.removesuffix('_v1')}{dot}{view}"


def openapi_path(rule: str) -> str:
    """``/a/<kind>/<path:email>`` -> ``/a/{kind}/{email}``."""
    return _ARGUMENT.sub(r"{\1}", rule)


def routes(app: Flask) -> list[tuple[str, str, Rule]]:
    """``(path, method, rule)`` of every documented route, sorted (``static`` excluded)."""
    found = [(openapi_path(rule.rule), method.lower(), rule) for rule in app.url_map.iter_rules()
             if rule.endpoint != "static" for method in rule.methods or ()
             if method not in _IGNORED_METHODS]
    return sorted(found, key=lambda item: (item[0], item[1]))


def build(app: Flask, *, authenticated: Collection[str], server: str) -> dict[str, Any]:
    """The whole document as a dict (valid OpenAPI 3.0)."""
    spec = APISpec(title="MailerLogic API", version="1.0.0", openapi_version="3.0.3",
                   plugins=[MarshmallowPlugin(schema_name_resolver=components.schema_name)],
                   info={"description": components.OVERVIEW}, servers=[{"url": server}])
    components.register(spec)
    paths: dict[str, dict[str, Any]] = {}
    limit = int(app.config.get("MAX_CONTENT_LENGTH") or 0)
    for path, method, rule in routes(app):
        blueprint = rule.endpoint.rpartition(".")[0]
        view = app.view_functions[rule.endpoint]
        operation = _operation(rule, method, view, blueprint in authenticated, limit)
        paths.setdefault(path, {})[method] = operation
    for path, operations in paths.items():
        spec.path(path=path, operations=operations)
    return _refined(spec.to_dict(), datetime.now(UTC).date())


def _refined(doc: dict[str, Any], today: date) -> dict[str, Any]:
    """Fill what marshmallow cannot say: relative date examples, the recursive ``details`` shape,
    and that an empty query parameter is the same as none."""

    def visit(node: Any) -> None:
        if isinstance(node, dict):
            if node.get("in") == "query":  # the parsers read `?tag=` as no tag at all
                node["allowEmptyValue"] = True
            if common.DAYS_AGO in node:
                day = today - timedelta(days=int(node[common.DAYS_AGO]))
                node["example"] = (f"{day.isoformat()}T14:30:00Z" if node.get("format") == "date-time"
                                   else day.isoformat())
            if node.pop(common.DETAILS_REF, False):
                node.clear()
                node["$ref"] = "#/components/schemas/ErrorDetails"
            for value in list(node.values()):
                visit(value)
        elif isinstance(node, list):
            for value in node:
                visit(value)

    visit(doc)
    return doc


def _docstring(view: Any) -> tuple[str, str]:
    text = inspect.getdoc(view) or view.__name__.replace("_", " ")
    summary, _, rest = text.partition("\n")
    return summary.strip(), rest.strip()


def _operation(rule: Rule, method: str, view: Any, authenticated: bool, limit: int) -> dict[str, Any]:
    key = endpoint_key(rule.endpoint)
    doc = DOCS.get(key)
    summary, description = _docstring(view)
    twin = len(rule.methods - _IGNORED_METHODS) > 1 if rule.methods else False
    operation: dict[str, Any] = {
        "operationId": rule.endpoint.replace(".", "_") + (f"_{method}" if twin else ""),
        "summary": summary, "tags": [doc.tag if doc else "Undocumented"],
    }
    if description:
        operation["description"] = description
    if doc is None:
        operation["x-undocumented"] = True
        doc = Doc("Undocumented")
    operation["security"] = (components.OPERATOR if doc.operator
                             else components.API_KEY if authenticated else [])
    operation["parameters"] = _parameters(rule, doc, method)
    if doc.body is not None and method in ("post", "put", "patch"):
        required = doc.body_required and "application/json" in doc.body_media  # a form may be empty
        operation["requestBody"] = {"required": required, "content": {
            media: {"schema": doc.body} for media in doc.body_media}}
        if doc.example is not None:
            operation["requestBody"]["content"]["application/json"]["example"] = dict(doc.example)
    operation["responses"] = _responses(doc, method, authenticated, doc.body_limit or limit)
    return operation


def _parameters(rule: Rule, doc: Doc, method: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = [
        {"in": "path", "name": name, "required": True,
         "schema": dict(doc.path.get(name, {"type": "string"}))}
        for name in _ARGUMENT.findall(rule.rule)]
    if doc.query is not None and method in ("get", "delete"):
        found.append({"in": "query", "schema": doc.query})
    found += [{"in": "header", "name": name, "required": True, "description": meaning,
               "schema": {"type": "string"}} for name, meaning in doc.headers.items()]
    return found


def _responses(doc: Doc, method: str, authenticated: bool, limit: int) -> dict[str, Any]:
    success: dict[str, Any] = {"description": components.SUCCESS.get(doc.status, "Success"),
                               "headers": components.headers(authenticated, doc.status)}
    if doc.media:
        success["content"] = {media: {"schema": doc.answer if doc.answer is not None
                                      else components.raw_schema(media)}
                              for media in (doc.media, *doc.more_media)}
    errors = set(doc.errors)
    if doc.body is not None and method in ("post", "put", "patch"):
        errors |= {413} | ({400, 415} if doc.body_required and "application/json" in doc.body_media
                           else set())
    writes = doc.writes if doc.writes is not None else method in ("post", "put", "patch", "delete")
    if writes:
        errors.add(409)
    if doc.operator:
        errors.add(403)
    elif authenticated:
        errors |= {401, 429}
    notes = dict(doc.notes)
    if 413 in errors:
        notes.setdefault(413, f"Too large: the request body may be at most {_size(limit)}")
    if writes:
        notes[409] = "; ".join(filter(None, (notes.get(409), components.CONFLICT)))
    answers: dict[str, Any] = {str(doc.status): success}
    for status in sorted(errors):
        answers[str(status)] = components.error_response(status, notes.get(status),
                                                         doc.error_media.get(status),
                                                         doc.error_schemas.get(status))
    return answers


def _size(limit: int) -> str:
    return f"{limit // (1024 * 1024)} MB" if limit % (1024 * 1024) == 0 else f"{limit} bytes"

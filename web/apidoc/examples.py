"""Readable facts about OpenAPI schemas for the reference page: field rows, examples, curl lines."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC
from datetime import datetime
from typing import Any

MAX_DEPTH = 4
_SAMPLES = {"email": "ada@example.org", "uuid": "3fa85f64-5717-4562-b3fc-2c963f66afa6",
            "uri": "https://example.org/hook", "url": "https://example.org/hook"}


def _sample(kind: str | None) -> str:
    """A sample of a string format; dates are today's (a fixed one would go stale)."""
    today = datetime.now(UTC).date()
    if kind == "date-time":
        return f"{today.isoformat()}T14:30:00Z"
    if kind == "date":
        return today.isoformat()
    return _SAMPLES.get(str(kind), "string")


def resolve(doc: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    """Follow ``$ref`` (bounded) to the schema object."""
    for _ in range(10):
        ref = schema.get("$ref")
        if not isinstance(ref, str):
            return schema
        node: Any = doc
        for part in ref.removeprefix("#/").split("/"):
            node = node[part]
        schema = node
    return schema


def _options(schema: dict[str, Any]) -> list[dict[str, Any]]:
    """The alternatives of a ``oneOf`` or ``anyOf`` (the first is the one shown)."""
    return list(schema.get("oneOf") or schema.get("anyOf") or ())


def type_text(doc: dict[str, Any], schema: dict[str, Any]) -> str:
    """``string (email)``, ``array of Domain``, ``one of: a, b``..."""
    if "$ref" in schema:
        return str(schema["$ref"]).rsplit("/", 1)[-1]
    if "oneOf" in schema or "anyOf" in schema:
        return " or ".join(type_text(doc, option) for option in _options(schema))
    kind = str(schema.get("type", "any"))
    if kind == "array":
        return f"array of {type_text(doc, schema.get('items', {}))}"
    return f"{kind} ({schema['format']})" if "format" in schema else kind


def constraints(schema: dict[str, Any]) -> str:
    """Limits, enum and default in a few words."""
    parts = [f"one of: {', '.join(map(str, schema['enum']))}"] if "enum" in schema else []
    names = {"minLength": "min length", "maxLength": "max length", "minimum": "min", "maximum": "max",
             "minItems": "min items", "maxItems": "max items", "default": "default"}
    parts += [f"{label} {json.dumps(schema[key])}" for key, label in names.items() if key in schema]
    if schema.get("nullable"):
        parts.append("may be null")
    return "; ".join(parts)


def rows(doc: dict[str, Any], schema: dict[str, Any], prefix: str = "",
         depth: int = 0) -> Iterator[tuple[str, str, bool, str, str]]:
    """``(name, type, required, constraints, description)`` of every field, nested ones dotted."""
    schema = resolve(doc, schema)
    if _options(schema) and depth < MAX_DEPTH:
        yield from rows(doc, _options(schema)[0], prefix, depth + 1)
        return
    required = set(schema.get("required", ()))
    for name, raw in schema.get("properties", {}).items():
        field = resolve(doc, raw)
        yield (prefix + name, type_text(doc, raw), name in required, constraints(field),
               str(field.get("description", "")))
        inner = resolve(doc, field.get("items", {})) if field.get("type") == "array" else field
        if "properties" in inner and depth < MAX_DEPTH:
            yield from rows(doc, inner, f"{prefix}{name}{'[]' if inner is not field else ''}.", depth + 1)


def example(doc: dict[str, Any], schema: dict[str, Any], depth: int = 0) -> Any:
    """A small valid-looking value: only the required fields of objects."""
    schema = resolve(doc, schema)
    if "example" in schema:
        return schema["example"]
    if "enum" in schema:
        return schema["enum"][0]
    if _options(schema):
        return example(doc, _options(schema)[0], depth + 1)
    kind = schema.get("type")
    if kind == "object" or "properties" in schema:
        if depth >= MAX_DEPTH:
            return {}
        props = schema.get("properties", {})
        return {name: example(doc, props[name], depth + 1) for name in schema.get("required", ())
                if name in props}
    if kind == "array":
        return [example(doc, schema.get("items", {}), depth + 1)]
    if kind in ("integer", "number"):
        return int(schema.get("minimum", 1))
    if kind == "boolean":
        return True
    return _sample(schema.get("format"))


def curl(doc: dict[str, Any], base: str, path: str, method: str, operation: dict[str, Any]) -> str:
    """An example ``curl`` command for one operation."""
    for parameter in operation.get("parameters", ()):
        if parameter["in"] == "path":
            value = example(doc, parameter.get("schema", {}))
            path = path.replace("{" + parameter["name"] + "}", str(value if value != "string" else "TOKEN"))
    lines = [f"curl -X {method.upper()} '{base}{path}'"]
    if operation.get("security"):
        lines.append('-H "X-API-Key: $MAILERLOGIC_API_KEY"')
    lines += [f"-H '{p['name']}: ...'" for p in operation.get("parameters", ()) if p["in"] == "header"]
    content = operation.get("requestBody", {}).get("content", {})
    if content:
        media, body = next(iter(content.items()))
        lines.append(f"-H 'Content-Type: {media}'")
        if media == "application/json":
            value = body.get("example") or example(doc, body.get("schema", {}))
            lines.append("-d '" + json.dumps(value).replace("'", "'\\''") + "'")
        elif media == "application/x-www-form-urlencoded":
            lines.append("-d 'List-Unsubscribe=One-Click'")
        else:
            lines.append("--data-binary @report.eml")
    return " \\\n  ".join(lines)

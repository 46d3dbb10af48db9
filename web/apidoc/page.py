"""The reference page: the OpenAPI document rendered server-side as one self-contained HTML page.

No script, no external stylesheet, font or image: it works offline and behind any firewall.
Every value from the document is HTML-escaped. ``/api/v1/...`` twins are shown with their
``/api/...`` operation ("also at").
"""

from __future__ import annotations

import re
from html import escape
from typing import Any

from web.apidoc import examples

STYLE = """
body{font:15px/1.5 system-ui,sans-serif;margin:0;color:#1d232a;display:flex}
nav{width:18em;flex:none;height:100vh;overflow:auto;position:sticky;top:0;background:#f4f6f8;
padding:1em;box-sizing:border-box;font-size:13px}nav a{display:block;color:#234;text-decoration:none}
nav h3{margin:1em 0 .2em}main{padding:1em 2em;max-width:62em}
code,pre{font:13px ui-monospace,monospace;background:#f0f2f4;border-radius:3px}
pre{padding:.6em;overflow:auto}code{padding:0 .2em}
section.op{border:1px solid #d8dde2;border-radius:6px;padding:.2em 1em 1em;margin:1em 0}
.m{display:inline-block;min-width:4.5em;text-align:center;color:#fff;border-radius:3px;
font-weight:600;font-size:12px;padding:.1em .3em;margin-right:.5em}
.get{background:#2f7d32}.post{background:#1f5fa8}.patch{background:#9a6700}.delete{background:#b42318}
.put{background:#6e40c9}table{border-collapse:collapse;width:100%;font-size:13px;margin:.4em 0}
td,th{border-bottom:1px solid #e3e7eb;text-align:left;padding:.25em .5em;vertical-align:top}
.req{color:#b42318;font-weight:600}.muted{color:#5b6670}
"""


def render(doc: dict[str, Any], *, base: str) -> str:
    """The whole page for ``doc``; curl examples address ``base``."""
    groups = _grouped(doc)
    nav = "".join(f"<h3>{escape(tag)}</h3>" + "".join(
        f'<a href="#{_anchor(op)}">{escape(method.upper())} {escape(path)}</a>'
        for path, method, op, _ in ops) for tag, ops in groups.items())
    body = "".join(_tag(doc, tag, ops, base) for tag, ops in groups.items())
    info = doc.get("info", {})
    return (f'<!doctype html><html lang="en"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width,initial-scale=1">'
            f"<title>{escape(info.get('title', 'API'))} reference</title><style>{STYLE}</style></head>"
            f"<body><nav><strong>{escape(info.get('title', ''))} {escape(info.get('version', ''))}</strong>"
            f'<a href="openapi.json">openapi.json</a>{nav}</nav><main>'
            f"<h1>{escape(info.get('title', ''))} reference</h1>{_markdown(info.get('description', ''))}"
            f"{body}</main></body></html>")


Op = tuple[str, str, dict[str, Any], list[str]]


def _grouped(doc: dict[str, Any]) -> dict[str, list[Op]]:
    """Operations by tag (in the document's tag order); ``/api/v1`` twins folded in."""
    twins: dict[tuple[str, str], list[str]] = {}
    for path, operations in doc.get("paths", {}).items():
        if path.startswith("/api/v1/"):
            for method in operations:
                twins.setdefault(("/api/" + path.removeprefix("/api/v1/"), method), []).append(path)
    every = {(path, method) for path, operations in doc.get("paths", {}).items() for method in operations}
    groups: dict[str, list[Op]] = {tag["name"]: [] for tag in doc.get("tags", [])}
    for path, operations in doc.get("paths", {}).items():
        for method, op in operations.items():
            if path.startswith("/api/v1/") and ("/api/" + path.removeprefix("/api/v1/"), method) in every:
                continue  # shown with its /api twin
            groups.setdefault(op["tags"][0], []).append((path, method, op, twins.get((path, method), [])))
    return {tag: ops for tag, ops in groups.items() if ops}


def _anchor(op: dict[str, Any]) -> str:
    return re.sub(r"[^A-Za-z0-9_-]", "-", str(op.get("operationId", "")))


def _tag(doc: dict[str, Any], tag: str, ops: list[Op], base: str) -> str:
    about = next((t.get("description", "") for t in doc.get("tags", []) if t["name"] == tag), "")
    return (f'<h2 id="tag-{escape(_anchor({"operationId": tag}))}">{escape(tag)}</h2>'
            f'<p class="muted">{escape(about)}</p>' + "".join(_operation(doc, o, base) for o in ops))


def _operation(doc: dict[str, Any], op: Op, base: str) -> str:
    path, method, operation, twins = op
    also = "".join(f" <code>{escape(t)}</code>" for t in twins)
    auth = "API key (X-API-Key or Bearer)" if operation.get("security") else "none (public)"
    out = [f'<section class="op" id="{_anchor(operation)}"><h3><span class="m {escape(method)}">'
           f"{escape(method.upper())}</span><code>{escape(path)}</code></h3>",
           f"<p><strong>{escape(operation.get('summary', ''))}</strong></p>",
           _markdown(operation.get("description", "")),
           f'<p class="muted">Auth: {auth}{"; also at" + also if also else ""}</p>']
    out.append(_parameters(doc, operation.get("parameters", [])))
    for media, body in operation.get("requestBody", {}).get("content", {}).items():
        out.append(f"<h4>Request body <code>{escape(media)}</code></h4>")
        out.append(_fields(doc, body.get("schema", {})))
    out.append("<h4>Responses</h4>" + "".join(
        _response(doc, status, answer) for status, answer in operation.get("responses", {}).items()))
    out.append(f"<h4>Example</h4><pre>{escape(examples.curl(doc, base, path, method, operation))}</pre>")
    return "".join(out) + "</section>"


def _parameters(doc: dict[str, Any], parameters: list[dict[str, Any]]) -> str:
    if not parameters:
        return ""
    rows = "".join(
        f"<tr><td><code>{escape(p['name'])}</code></td><td>{escape(p['in'])}</td>"
        f"<td>{escape(examples.type_text(doc, p.get('schema', {})))}</td>{_required(p.get('required'))}"
        f"<td>{escape(examples.constraints(p.get('schema', {})))}</td>"
        f"<td>{escape(str(p.get('description', '')))}</td></tr>" for p in parameters)
    return ("<h4>Parameters</h4><table><tr><th>name</th><th>in</th><th>type</th><th>required</th>"
            f"<th>limits</th><th>description</th></tr>{rows}</table>")


def _fields(doc: dict[str, Any], schema: dict[str, Any]) -> str:
    rows = "".join(
        f"<tr><td><code>{escape(name)}</code></td><td>{escape(kind)}</td>{_required(required)}"
        f"<td>{escape(limits)}</td><td>{escape(about)}</td></tr>"
        for name, kind, required, limits, about in examples.rows(doc, schema))
    if not rows:
        return f"<p><code>{escape(examples.type_text(doc, schema))}</code></p>"
    return ("<table><tr><th>field</th><th>type</th><th>required</th><th>limits</th>"
            f"<th>description</th></tr>{rows}</table>")


def _required(required: Any) -> str:
    return '<td class="req">required</td>' if required else "<td>optional</td>"


def _response(doc: dict[str, Any], status: str, answer: dict[str, Any]) -> str:
    answer = examples.resolve(doc, answer)
    out = f"<p><strong>{escape(status)}</strong> {_inline(answer.get('description', ''))}"
    headers = ", ".join(str(name) for name in answer.get("headers", {}))
    out += f' <span class="muted">headers: {escape(headers)}</span></p>' if headers else "</p>"
    for media, content in answer.get("content", {}).items():
        if status.startswith("2") or status.startswith("3"):
            out += f"<p><code>{escape(media)}</code></p>" + _fields(doc, content.get("schema", {}))
    return out


def _inline(text: str) -> str:
    """Escape, then `code` and **bold**."""
    text = escape(text)
    text = re.sub(r"`([^`]+)`", r"<code>\1</code>", text)
    return re.sub(r"\*\*([^*]+)\*\*", r"<strong>\1</strong>", text)


def _markdown(text: str) -> str:
    """Paragraphs and ``*`` bullet lists (continuation lines indented), nothing more."""
    out, items = [], []
    for block in re.split(r"\n\s*\n", text.strip()):
        items = re.split(r"\n(?=\* )", block)
        if block.startswith("* "):
            out.append("<ul>" + "".join(f"<li>{_inline(i[2:])}</li>" for i in items) + "</ul>")
        elif block:
            out.append(f"<p>{_inline(block)}</p>")
    return "".join(out)

"""The read side over HTTP end to end: Events API (pages, cursor, per email, streaming export),
unsubscribe list, health score and its history, the API reference and /metrics — on the real
services with separate processes, and on the embedded default."""

from __future__ import annotations

import json
import urllib.request
from datetime import UTC
from datetime import datetime
from typing import Any

import pytest

from tests.e2e.stack import Stack
from tests.e2e.stack import wait_for

pytestmark = pytest.mark.e2e
TYPES = "queued,opened,unsubscribed"  # run-all also delivers (sent): filter to what both stacks have


def _enterprise(stack: Stack) -> str:
    out = json.loads(stack.cli("customers", "create", "--name", "Big", "--email", "ops@big.test",
                               "--tier", "enterprise", "--domain", "big.test", "--json"))
    return str(out["api_key"])


def _get(stack: Stack, path: str, key: str | None = None) -> tuple[int, bytes, str]:
    req = urllib.request.Request(stack.base + path, headers={"X-API-Key": key} if key else {})
    with urllib.request.urlopen(req, timeout=30) as response:
        return response.status, response.read(), response.headers.get("Content-Type", "")


def _scenario(stack: Stack) -> None:
    key, starter = _enterprise(stack), stack.create_customer("Small", "small.test")
    assert stack.request("GET", "/api/customer/health-score", key=key, expect=404)[1]["error"] == "no_data"
    ids = [stack.send(key, f"{name}@example.org", tag="launch") for name in ("ada", "bob", "cy")]
    stack.open(ids[0])
    stack.request("POST", "/api/customer/unsubscribes", {"email": "cy@example.org", "reason": "asked"},
                  key=key, expect=201)

    def listed(**query: str) -> dict[str, Any]:
        path = "/api/events?" + "&".join(f"{k}={v}" for k, v in {"type": TYPES, **query}.items())
        return dict(stack.request("GET", path, key=key)[1])

    first = wait_for(lambda: (p := listed())["pagination"]["total"] == 5 and p, "5 events projected")
    kinds = sorted(e["event_type"] for e in first["events"])
    assert kinds == ["opened", "queued", "queued", "queued", "unsubscribed"]
    assert len({e["id"] for e in first["events"]}) == 5
    walked, cursor = [], None
    for _ in range(5):  # bounded: 5 events in pages of 2
        page = listed(limit="2", **({"cursor": cursor} if cursor else {}))
        walked += [e["id"] for e in page["events"]]
        cursor = page["pagination"]["next_cursor"]
        if cursor is None:
            break
    assert walked == [e["id"] for e in first["events"]]

    _, one = stack.request("GET", f"/api/emails/{ids[0]}/events", key=key)
    assert one["email_id"] == ids[0]
    assert [e["event_type"] for e in one["events"] if e["event_type"] != "delivered"] == ["queued", "opened"]
    assert stack.request("GET", f"/api/emails/{ids[0]}/events", key=starter, expect=403)[1]["error"] == (
        "event_api_disabled")
    status, body, kind = _get(stack, "/api/events/export?format=ndjson&type=queued", key)
    assert (status, kind.split(";")[0]) == (200, "application/x-ndjson")
    exported = [json.loads(line) for line in body.decode().splitlines()]
    assert sorted(e["email_id"] for e in exported) == sorted(ids)

    unsubscribes = wait_for(lambda: (u := stack.request("GET", "/api/customer/unsubscribes", key=key)[1])[
        "pagination"]["total"] == 1 and u, "the unsubscribe listed")
    entry = unsubscribes["unsubscribes"][0]
    assert (entry["email"], entry["source"], entry["reason"], entry["domain_id"]) == (
        "cy@example.org", "api", "asked", None)

    _, refreshed = stack.request("POST", "/api/customer/health-score/refresh", key=key)
    assert refreshed["message"] == "Health score refreshed successfully"
    score = refreshed["health_score"]["overall_score"]
    history = wait_for(lambda: (h := stack.request("GET", "/api/customer/health-score/history?days=7",
                                                   key=key)[1])["history"] and h, "health history")
    assert history["period_days"] == 7
    assert [(d["date"], d["overall_score"]) for d in history["history"]] == [
        (datetime.now(UTC).date().isoformat(), score)]

    _, spec = stack.request("GET", "/api/openapi.json")
    assert {"/api/events", "/api/exports", "/api/customer/health-score"} <= set(spec["paths"])
    status, page, kind = _get(stack, "/api/docs")
    assert (status, kind.split(";")[0]) == (200, "text/html") and b"/api/events/export" in page
    metrics = _get(stack, "/metrics")[1].decode()
    assert 'endpoint="/api/events",method="GET",status="200"' in metrics


@pytest.mark.kafka
@pytest.mark.postgres
@pytest.mark.clickhouse
def test_read_side_on_real_services(real_stack: Stack) -> None:
    _scenario(real_stack)


@pytest.mark.chdb
def test_read_side_on_the_embedded_default(embedded_stack: Stack) -> None:
    _scenario(embedded_stack)

"""``GET /readyz`` (spec §16): are the event store, ClickHouse and Kafka reachable, and how far
behind are the relay and the consumers."""

from __future__ import annotations

import socket
import time
from typing import Any

from flask import Blueprint
from flask import current_app

from event_store.feed import NotificationFeed

bp = Blueprint("readiness", __name__)
READERS = ("relay", "projector", "delivery", "webhooks")


def _timed(check: Any) -> dict[str, Any]:
    start = time.monotonic()
    try:
        detail = check()
    except Exception as exc:  # noqa: BLE001 - any failure makes the dependency "down"
        return {"ok": False, "error": f"{type(exc).__name__}: {exc}"[:300]}
    return {"ok": True, "ms": round((time.monotonic() - start) * 1000, 1), **(detail or {})}


def _event_store() -> dict[str, Any]:
    feed = NotificationFeed(current_app.extensions["events"])
    head = feed.head()
    return {"position": head, "lag": {name: head - feed.position(name) for name in READERS}}


def _clickhouse() -> None:
    current_app.extensions["clickhouse"]().execute("SELECT 1")


def _kafka() -> None:
    for server in (current_app.extensions["settings"].kafka_bootstrap_servers or "").split(","):
        host, _, port = server.strip().rpartition(":")
        with socket.create_connection((host.strip("[]"), int(port)), timeout=2):
            return
    raise ConnectionError("no bootstrap server answered")


@bp.get("/readyz")
def readyz() -> tuple[dict[str, Any], int]:
    """200 when every configured dependency answers, else 503; each with its latency."""
    checks = {"event_store": _timed(_event_store), "clickhouse": _timed(_clickhouse)}
    if current_app.extensions["settings"].kafka_bootstrap_servers:
        checks["kafka"] = _timed(_kafka)
    ready = all(check["ok"] for check in checks.values())
    return {"status": "ready" if ready else "not_ready", "checks": checks}, 200 if ready else 503

"""Correctness after a delivery run: do the statistics say what the sink saw?

:func:`check_outbound` waits (bounded) for the projector, then compares
``GET /api/stats/outbound`` of the customer (yesterday to tomorrow, so hour flooring never
cuts the run off) with the sink's counts, and the statistics' ``delivery_rate`` with the
delivery component of a fresh health score (``POST /api/customer/health-score/refresh``,
the same calculation ``GET /api/customer/health-score`` answers, but never a cached one).
Every disagreement is one ``MISMATCH`` line on stderr and one entry of
:attr:`Verdict.problems`; nothing raises for a mismatch, so a run always shows it.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from dataclasses import field
from datetime import UTC
from datetime import datetime
from datetime import timedelta
from typing import Any

from bench.delivery_api import Client

SETTLE_S = 5.0  # statistics unchanged this long (with every queued message counted): settled
PROGRESS_S = 5.0


@dataclass(frozen=True)
class Expected:
    """What the sink saw for one customer; ``None`` = not checked."""

    queued: int  # messages the API queued (the statistics' ``sent``)
    delivered: int  # distinct messages the sink accepted
    bounced: int | None = None
    failed: int | None = None


@dataclass
class Verdict:
    """The statistics, the health score's delivery component, and what disagreed."""

    stats: dict[str, Any]
    health_delivery: float | None
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when nothing disagreed."""
        return not self.problems


def outbound(client: Client) -> dict[str, Any]:
    """``GET /api/stats/outbound`` from yesterday to tomorrow (UTC)."""
    today = datetime.now(UTC).date()
    return client.request("GET", f"/api/stats/outbound?fromdate={today - timedelta(days=1)}"
                                 f"&todate={today + timedelta(days=1)}")


def _matches(stats: dict[str, Any], expected: Expected) -> bool:
    wanted = {"sent": expected.queued, "delivered": expected.delivered, "bounced": expected.bounced,
              "failed": expected.failed}
    return all(stats.get(key) == value for key, value in wanted.items() if value is not None)


def wait_settled(client: Client, expected: Expected, timeout_s: float, label: str,
                 settle_s: float = SETTLE_S) -> dict[str, Any]:
    """The statistics once they match ``expected``, or once settled, or at the deadline."""
    start = time.monotonic()
    deadline, last_print = start + timeout_s, start
    stats, seen, since = outbound(client), None, start
    while not _matches(stats, expected) and time.monotonic() < deadline:
        now = time.monotonic()
        key = tuple(stats.get(k) for k in ("sent", "delivered", "bounced", "failed"))
        if key != seen:
            seen, since = key, now
        elif stats.get("sent") == expected.queued and now - since >= settle_s:
            break
        if now - last_print >= PROGRESS_S:
            last_print = now
            print(f"  {label}: waiting for the statistics: sent/delivered/bounced/failed = "
                  f"{'/'.join(str(v) for v in key)} ({now - start:.0f}s)", file=sys.stderr)
        time.sleep(0.5)
        stats = outbound(client)
    return stats


def check_outbound(client: Client, expected: Expected, label: str, timeout_s: float = 120.0,
                   settle_s: float = SETTLE_S) -> Verdict:
    """Compare the customer's statistics and health score with ``expected``; print the verdict.

    Waits until the statistics match, or have not changed for ``settle_s`` with every queued
    message counted, or ``timeout_s`` passed."""
    try:
        stats = wait_settled(client, expected, timeout_s, label, settle_s)
    except (RuntimeError, OSError) as exc:
        verdict = Verdict({}, None, [f"the statistics could not be read: {exc}"])
        _print(verdict, expected, label)
        return verdict
    verdict = Verdict(stats, None)
    for key, value in (("sent", expected.queued), ("delivered", expected.delivered),
                       ("bounced", expected.bounced), ("failed", expected.failed)):
        if value is not None and stats.get(key) != value:
            verdict.problems.append(f"{key} {stats.get(key)} in the statistics, {value} expected")
    sent, delivered = int(stats.get("sent") or 0), int(stats.get("delivered") or 0)
    rate = round(100.0 * delivered / sent, 2) if sent else 0.0
    if abs(float(stats.get("delivery_rate") or 0.0) - rate) > 0.005:
        verdict.problems.append(f"delivery_rate {stats.get('delivery_rate')} is not "
                                f"delivered/sent = {rate}")
    if sent:
        _check_health(client, verdict, delivered)
    _print(verdict, expected, label)
    return verdict


def _check_health(client: Client, verdict: Verdict, delivered: int) -> None:
    """The fresh health score's delivery component equals the statistics' delivery_rate
    (while nothing is delivered the score uses its documented fallback: only its presence is checked)."""
    try:
        health = client.request("POST", "/api/customer/health-score/refresh")
    except RuntimeError as exc:
        verdict.problems.append(f"health score refresh failed: {exc}")
        return
    component = {c["name"]: c for c in health.get("components", [])}.get("delivery", {})
    verdict.health_delivery = component.get("value")
    rate = float(verdict.stats.get("delivery_rate") or 0.0)
    if verdict.health_delivery is None or (
            delivered and abs(float(verdict.health_delivery) - rate) > 0.005):
        verdict.problems.append(f"health score delivery component {verdict.health_delivery} != "
                                f"statistics delivery_rate {rate}")


def _print(verdict: Verdict, expected: Expected, label: str) -> None:
    stats = verdict.stats
    print(f"  {label}: statistics sent {stats.get('sent')}, delivered {stats.get('delivered')}, "
          f"bounced {stats.get('bounced')}, failed {stats.get('failed')}, delivery_rate "
          f"{stats.get('delivery_rate')}; health delivery component {verdict.health_delivery}; "
          f"sink: {expected.delivered} accepted of {expected.queued} queued"
          + (f", {expected.bounced} bounced" if expected.bounced is not None else "")
          + (f", {expected.failed} failed" if expected.failed is not None else ""), file=sys.stderr)
    for problem in verdict.problems:
        print(f"  MISMATCH ({label}): {problem}", file=sys.stderr)
    if verdict.ok:
        print(f"  {label}: statistics match the sink: OK", file=sys.stderr)

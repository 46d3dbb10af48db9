"""The monthly email limit, checked against usage from the statistics.

Usage (messages accepted this calendar month) comes from the analytics read model, which
lags the event store by the projection delay. A per-process cache refreshed every
``ttl_s`` seconds, plus the messages this process accepted since, keeps the check cheap;
several API processes may together overshoot the limit by what they accept within one
``ttl_s``. Sending never depends on analytics being up: when usage cannot be read, the last
known value is used (fail open) and a warning is logged.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from uuid import UUID

log = logging.getLogger(__name__)


class UsageCache:
    """Per-process view of each customer's monthly usage."""

    def __init__(self, usage: Callable[[UUID], int], ttl_s: float = 10.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._usage, self._ttl, self._clock = usage, ttl_s, clock
        self._known: dict[UUID, tuple[float, int]] = {}
        self._lock = threading.Lock()

    def used(self, customer_id: UUID) -> int:
        """Messages accepted this month, as far as this process knows."""
        now = self._clock()
        with self._lock:
            fetched_at, value = self._known.get(customer_id, (float("-inf"), 0))
        if now - fetched_at < self._ttl:
            return value
        try:
            value = max(value, self._usage(customer_id))
        except Exception as exc:  # noqa: BLE001 - analytics down: never block sending
            log.warning("monthly usage unavailable (%s); using %d", exc, value)
        with self._lock:
            self._known[customer_id] = (now, value)
        return value

    def add(self, customer_id: UUID, count: int) -> None:
        """Count messages this process just accepted."""
        with self._lock:
            fetched_at, value = self._known.get(customer_id, (float("-inf"), 0))
            self._known[customer_id] = (fetched_at, value + count)

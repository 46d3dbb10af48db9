"""The retry policy of deferred deliveries: exponential backoff within a total budget.

Pure (no clock, no randomness): the schedule depends only on the attempt number.
Defaults (:data:`DEFAULT_POLICY`): wait 1 min after the first failed attempt, then
2, 4, 8, 16, 32 min, then every 60 min, as long as the waits add up to at most 24 h
(28 retries, the last one 23 h 3 min after the first attempt). Past the budget,
:meth:`RetryPolicy.next_attempt` answers ``None``: the message is ``failed`` (soft bounce).
Tests build their own policy in seconds.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from datetime import datetime


@dataclass(frozen=True)
class RetryPolicy:
    """Waits ``first_delay * factor**(n-1)`` after the n-th failure, capped at ``max_delay``."""

    first_delay: timedelta = timedelta(minutes=1)
    factor: float = 2.0
    max_delay: timedelta = timedelta(hours=1)
    budget: timedelta = timedelta(hours=24)  # the most all waits may add up to
    max_retries: int = 100  # bounds the schedule whatever the other values

    def __post_init__(self) -> None:
        if self.first_delay <= timedelta(0) or self.factor < 1:
            raise ValueError("first_delay must be positive and factor at least 1")
        if self.max_delay < self.first_delay or self.budget < timedelta(0):
            raise ValueError("max_delay must be >= first_delay and budget >= 0")

    def delay(self, attempt: int) -> timedelta | None:
        """The wait after failed attempt number ``attempt`` (1-based), or None to give up."""
        if attempt < 1:
            raise ValueError(f"attempts are counted from 1, got {attempt}")
        waits = self.schedule()
        return waits[attempt - 1] if attempt <= len(waits) else None

    def next_attempt(self, attempt: int, now: datetime) -> datetime | None:
        """When to try again after failed attempt ``attempt`` at ``now``; None means failed."""
        wait = self.delay(attempt)
        return None if wait is None else now + wait

    def schedule(self) -> tuple[timedelta, ...]:
        """Every wait of the policy, in order; their sum never exceeds the budget."""
        waits: list[timedelta] = []
        wait, total = self.first_delay, timedelta(0)
        while total + wait <= self.budget and len(waits) < self.max_retries:
            waits.append(wait)
            total += wait
            wait = min(wait * self.factor, self.max_delay)
        return tuple(waits)


DEFAULT_POLICY = RetryPolicy()

"""When to retry a webhook delivery: exponential backoff within 24 h of the first attempt.

Pure (no clock, no randomness): the answer depends only on its arguments. Defaults
(:data:`DEFAULT_SCHEDULE`): after failed attempt n, wait ``30 s * 2**(n-1)`` capped at 1 h
(30 s, 1, 2, 4, 8, 16, 32 min, then hourly). The budget is wall-clock from the *first*
attempt, so slow attempts and consumer lag count against it: a retry that would fall later
than ``first_attempt_at + 24 h`` is not scheduled and :func:`next_attempt` answers ``None``
(the delivery has failed for good). With prompt attempts that is 29 retries, the last one
23 h 3 min 30 s after the first attempt. :data:`TEST_SCHEDULE` is the same shape in seconds.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from datetime import datetime

_MAX_EXPONENT = 64  # past this the wait is capped anyway; keeps the float arithmetic finite


@dataclass(frozen=True)
class WebhookSchedule:
    """Waits ``first_delay * factor**(n-1)`` after the n-th failure, capped, within a budget."""

    first_delay: timedelta = timedelta(seconds=30)
    factor: float = 2.0
    max_delay: timedelta = timedelta(hours=1)
    budget: timedelta = timedelta(hours=24)  # from the first attempt to the last retry

    def __post_init__(self) -> None:
        if self.first_delay <= timedelta(0) or self.factor < 1:
            raise ValueError("first_delay must be positive and factor at least 1")
        if self.max_delay < self.first_delay or self.budget < timedelta(0):
            raise ValueError("max_delay must be >= first_delay and budget >= 0")

    def delay(self, attempt_number: int) -> timedelta:
        """The wait after failed attempt ``attempt_number`` (1-based), before the budget check."""
        if attempt_number < 1:
            raise ValueError(f"attempts are counted from 1, got {attempt_number}")
        exponent = min(attempt_number - 1, _MAX_EXPONENT)
        seconds = self.first_delay.total_seconds() * self.factor**exponent
        return timedelta(seconds=min(seconds, self.max_delay.total_seconds()))

    def deadline(self, first_attempt_at: datetime) -> datetime:
        """The latest moment a retry may be scheduled for."""
        return first_attempt_at + self.budget

    def next_attempt(self, attempt_number: int, first_attempt_at: datetime,
                     now: datetime) -> datetime | None:
        """When to retry after failed attempt ``attempt_number`` at ``now``; None = give up."""
        when = now + self.delay(attempt_number)
        return when if when <= self.deadline(first_attempt_at) else None


DEFAULT_SCHEDULE = WebhookSchedule()
TEST_SCHEDULE = WebhookSchedule(first_delay=timedelta(seconds=0.5), max_delay=timedelta(seconds=2),
                                budget=timedelta(seconds=10))


def next_attempt(attempt_number: int, first_attempt_at: datetime, now: datetime,
                 schedule: WebhookSchedule = DEFAULT_SCHEDULE) -> datetime | None:
    """When to retry after failed attempt ``attempt_number`` at ``now``; None = give up."""
    return schedule.next_attempt(attempt_number, first_attempt_at, now)

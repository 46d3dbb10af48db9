"""The retry schedule of webhook deliveries."""

from __future__ import annotations

from datetime import UTC
from datetime import datetime
from datetime import timedelta

import pytest

from consumers.webhooks.schedule import DEFAULT_SCHEDULE
from consumers.webhooks.schedule import TEST_SCHEDULE
from consumers.webhooks.schedule import WebhookSchedule
from consumers.webhooks.schedule import next_attempt

FIRST = datetime(2026, 3, 15, 14, 30, tzinfo=UTC)
SECOND = timedelta(seconds=1)
MINUTE = timedelta(minutes=1)
HOUR = timedelta(hours=1)


def prompt_retries(schedule: WebhookSchedule) -> list[datetime]:
    """Every retry time when each attempt takes no time and happens when scheduled."""
    times: list[datetime] = []
    now: datetime | None = FIRST
    while now is not None:
        now = schedule.next_attempt(len(times) + 1, FIRST, now)
        if now is not None:
            times.append(now)
    return times


@pytest.mark.parametrize(("attempt", "wait"), [
    (1, 30 * SECOND), (2, MINUTE), (3, 2 * MINUTE), (4, 4 * MINUTE), (5, 8 * MINUTE),
    (6, 16 * MINUTE), (7, 32 * MINUTE), (8, HOUR), (9, HOUR), (29, HOUR), (10_000, HOUR),
])
def test_waits_double_from_thirty_seconds_up_to_an_hour(attempt: int, wait: timedelta) -> None:
    assert DEFAULT_SCHEDULE.delay(attempt) == wait


def test_prompt_attempts_retry_29_times_the_last_within_24_hours() -> None:
    retries = prompt_retries(DEFAULT_SCHEDULE)

    assert len(retries) == 29
    assert retries[:8] == [FIRST + s * SECOND for s in (30, 90, 210, 450, 930, 1890, 3810, 7410)]
    assert retries[-1] == FIRST + timedelta(hours=23, minutes=3, seconds=30)
    assert all(later - earlier == HOUR for earlier, later in zip(retries[7:], retries[8:], strict=False))


def test_next_attempt_counts_from_now() -> None:
    now = FIRST + 3 * HOUR

    assert next_attempt(1, FIRST, now) == now + 30 * SECOND
    assert next_attempt(12, FIRST, now) == now + HOUR


def test_the_budget_runs_from_the_first_attempt_so_lag_counts_against_it() -> None:
    assert next_attempt(3, FIRST, FIRST + 23 * HOUR + 58 * MINUTE) == FIRST + 24 * HOUR
    assert next_attempt(3, FIRST, FIRST + 23 * HOUR + 58 * MINUTE + SECOND) is None
    assert next_attempt(1, FIRST, FIRST + 30 * HOUR) is None


def test_the_test_variant_runs_in_seconds() -> None:
    assert [t - FIRST for t in prompt_retries(TEST_SCHEDULE)] == [
        timedelta(seconds=s) for s in (0.5, 1.5, 3.5, 5.5, 7.5, 9.5)]
    assert next_attempt(1, FIRST, FIRST, TEST_SCHEDULE) == FIRST + timedelta(seconds=0.5)


def test_attempts_are_counted_from_one() -> None:
    with pytest.raises(ValueError, match="counted from 1, got 0"):
        next_attempt(0, FIRST, FIRST)


@pytest.mark.parametrize("kwargs", [
    {"first_delay": timedelta(0)}, {"factor": 0.5}, {"max_delay": SECOND}, {"budget": -SECOND},
])
def test_nonsense_schedules_are_refused(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError, match="must be"):
        WebhookSchedule(**kwargs)  # type: ignore[arg-type]

"""The retry policy of deferred deliveries."""

from __future__ import annotations

from datetime import UTC
from datetime import datetime
from datetime import timedelta

import pytest

from consumers.delivery.retry import DEFAULT_POLICY
from consumers.delivery.retry import RetryPolicy

NOW = datetime(2026, 3, 15, 14, 30, tzinfo=UTC)
MINUTE = timedelta(minutes=1)


def test_default_schedule_doubles_from_one_minute_then_hourly_within_a_day() -> None:
    schedule = DEFAULT_POLICY.schedule()

    assert schedule == (1 * MINUTE, 2 * MINUTE, 4 * MINUTE, 8 * MINUTE, 16 * MINUTE, 32 * MINUTE,
                        *[60 * MINUTE] * 22)
    assert sum(schedule, timedelta()) == timedelta(hours=23, minutes=3)


@pytest.mark.parametrize(("attempt", "expected"), [
    (1, NOW + MINUTE), (2, NOW + 2 * MINUTE), (6, NOW + 32 * MINUTE), (7, NOW + 60 * MINUTE),
    (28, NOW + 60 * MINUTE), (29, None), (1000, None),
])
def test_next_attempt_after_a_failed_attempt(attempt: int, expected: datetime | None) -> None:
    assert DEFAULT_POLICY.next_attempt(attempt, NOW) == expected


def test_a_policy_in_seconds_for_tests() -> None:
    policy = RetryPolicy(first_delay=timedelta(seconds=1), factor=3, max_delay=timedelta(seconds=5),
                         budget=timedelta(seconds=15))

    assert policy.schedule() == tuple(timedelta(seconds=s) for s in (1, 3, 5, 5))
    assert policy.next_attempt(3, NOW) == NOW + timedelta(seconds=5)
    assert policy.next_attempt(5, NOW) is None


def test_a_zero_budget_gives_up_at_once() -> None:
    policy = RetryPolicy(budget=timedelta(0))

    assert policy.schedule() == ()
    assert policy.next_attempt(1, NOW) is None


def test_max_retries_bounds_a_constant_schedule() -> None:
    policy = RetryPolicy(first_delay=timedelta(seconds=1), factor=1, max_retries=3)

    assert policy.schedule() == (timedelta(seconds=1),) * 3


@pytest.mark.parametrize("changes", [
    {"first_delay": timedelta(0)}, {"factor": 0.5}, {"max_delay": timedelta(seconds=1)},
    {"budget": timedelta(seconds=-1)},
], ids=["no-delay", "shrinking", "cap-below-first", "negative-budget"])
def test_nonsense_policies_are_refused(changes: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        RetryPolicy(**changes)  # type: ignore[arg-type]


def test_attempts_are_counted_from_one() -> None:
    with pytest.raises(ValueError, match="counted from 1"):
        DEFAULT_POLICY.next_attempt(0, NOW)

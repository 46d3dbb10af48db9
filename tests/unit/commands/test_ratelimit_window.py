from __future__ import annotations

from web.ratelimit import Decision
from web.ratelimit import InMemoryRateLimiter
from web.ratelimit import headers
from web.ratelimit import retry_after

T0 = 1_700_000_040  # the start of a window: 28_333_334 * 60
RESET = T0 + 60


def test_the_limit_is_reached_exactly_at_the_n_plus_first_request() -> None:
    limiter = InMemoryRateLimiter()
    decisions = [limiter.hit("c-1", 5, T0 + 10.0) for _ in range(6)]
    assert decisions == [Decision(True, 5, remaining, RESET, 0) for remaining in (4, 3, 2, 1, 0)] + [
        Decision(False, 5, 0, RESET, 51)]


def test_refusals_use_no_quota_and_keys_are_independent() -> None:
    limiter = InMemoryRateLimiter()
    for _ in range(8):
        limiter.hit("c-1", 2, T0 + 1.0)
    assert limiter.hit("c-2", 2, T0 + 1.0) == Decision(True, 2, 1, RESET, 0)
    # the next window carries 2 * 59/60 -> 1 (not 8), so exactly one request fits
    assert limiter.hit("c-1", 2, T0 + 61.0) == Decision(True, 2, 0, RESET + 60, 0)


def test_the_previous_window_weighs_by_its_remaining_overlap() -> None:
    limiter = InMemoryRateLimiter()
    for _ in range(5):
        limiter.hit("c-1", 5, T0 + 10.0)
    # 30 s into the next window half of the previous one still counts: 5 // 2 -> 2 carried
    assert [limiter.hit("c-1", 5, T0 + 90.0).remaining for _ in range(3)] == [2, 1, 0]
    assert limiter.hit("c-1", 5, T0 + 90.0) == Decision(False, 5, 0, RESET + 60, 7)
    assert limiter.hit("c-1", 5, T0 + 96.0).allowed is False  # carry still floor(5 * 24/60) = 2
    assert limiter.hit("c-1", 5, T0 + 97.0) == Decision(True, 5, 0, RESET + 60, 0)


def test_a_window_two_minutes_back_no_longer_counts() -> None:
    limiter = InMemoryRateLimiter()
    for _ in range(5):
        limiter.hit("c-1", 5, T0 + 59.9)
    assert limiter.hit("c-1", 5, T0 + 120.0) == Decision(True, 5, 4, RESET + 120, 0)


def test_a_window_starts_with_the_whole_carry_of_a_full_previous_one() -> None:
    limiter = InMemoryRateLimiter()
    for _ in range(5):
        limiter.hit("c-1", 5, T0 + 10.0)
    assert limiter.hit("c-1", 5, T0 + 60.0) == Decision(False, 5, 0, RESET + 60, 1)
    assert limiter.hit("c-1", 5, T0 + 61.0) == Decision(True, 5, 0, RESET + 60, 0)


def test_retry_after_when_the_carry_alone_exceeds_the_limit() -> None:
    # floor(10 * (60 - e) / 60) + 1 <= 5 first holds for e > 30
    assert retry_after(previous=10, count=0, limit=5, elapsed=0.0) == 31
    assert retry_after(previous=0, count=5, limit=5, elapsed=59.5) == 1


def test_headers_carry_retry_after_only_on_a_refusal() -> None:
    assert headers(Decision(True, 600, 599, RESET, 0)) == {
        "X-RateLimit-Limit": "600", "X-RateLimit-Remaining": "599", "X-RateLimit-Reset": str(RESET)}
    assert headers(Decision(False, 600, 0, RESET, 12)) == {
        "X-RateLimit-Limit": "600", "X-RateLimit-Remaining": "0", "X-RateLimit-Reset": str(RESET),
        "Retry-After": "12"}

"""The whole event path over HTTP: send, open, click, and exact totals from the read API."""

from __future__ import annotations

from datetime import UTC
from datetime import datetime
from datetime import timedelta

import pytest

from tests.e2e.stack import Stack
from tests.e2e.stack import wait_for
from tests.helpers import start_of_a_fresh_minute

pytestmark = pytest.mark.e2e

# Human or scanner depends on timing once run-all delivers (an open within seconds of the
# delivery is a scanner's); the classification itself is tested in projections and views.
EXPECTED = {"sent": 30, "opens": 16, "unique_opens": 12, "clicks": 5, "unique_clicks": 5}


def _scenario(stack: Stack) -> None:
    key = stack.create_customer("Acme", "acme.test")
    other = stack.create_customer("Other", "other.test")
    ids = [stack.send(key, f"r{i}@example.org", tag="welcome" if i % 2 else "news") for i in range(30)]
    stack.send(other, "someone@example.org")
    for message_id in ids[:12] + ids[:4]:
        stack.open(message_id)
    for message_id in ids[:5]:
        stack.click(message_id, f"https://acme.test/p/{message_id}")

    def settled() -> dict[str, object] | None:
        stats = stack.stats(key)
        got = {name: stats[name] for name in EXPECTED}
        # the rates are over delivered mail (over sent while none is): not mid-delivery
        return stats if got == EXPECTED and stats["delivered"] in (0, 30) else None

    stats = wait_for(settled, f"totals {EXPECTED}", seconds=60)
    assert (stats["open_rate"], stats["click_rate"]) == (40.0, 16.67)
    other_stats = wait_for(lambda: (s := stack.stats(other))["sent"] == 1 and s, "other's send")
    assert (other_stats["opens"], other_stats["clicks"]) == (0, 0)
    _series(stack, key)


def _series(stack: Stack, key: str) -> None:
    today = datetime.now(UTC).date()
    query = f"fromdate={today - timedelta(days=6)}&todate={today}"
    _, sends = stack.request("GET", f"/api/stats/outbound/sends?{query}", key=key)
    assert [d["date"] for d in sends["days"]] == [str(today - timedelta(days=n)) for n in range(6, -1, -1)]
    assert [d["sent"] for d in sends["days"]] == [0, 0, 0, 0, 0, 0, 30]
    assert sends["total"]["sent"] == 30
    _, opens = stack.request("GET", f"/api/v1/stats/outbound/opens?{query}&interval=hour", key=key)
    assert (len(opens["days"]), opens["total"]["opens"], opens["total"]["unique_opens"]) == (7 * 24, 16, 12)
    status, error = stack.request("GET", "/api/stats/outbound/opens?timezone=Mars/Olympus", key=key,
                                  expect=None)
    assert (status, error["error"]) == (400, "invalid_parameter")
    assert stack.request("GET", "/api/stats/outbound/nope", key=key, expect=None)[0] == 404
    _, ready = stack.request("GET", "/readyz")
    assert ready["status"] == "ready" and ready["checks"]["clickhouse"]["ok"] is True


@pytest.mark.kafka
@pytest.mark.postgres
@pytest.mark.clickhouse
def test_real_services_with_separate_processes(real_stack: Stack) -> None:
    _scenario(real_stack)


@pytest.mark.chdb
def test_embedded_default_in_one_process(embedded_stack: Stack) -> None:
    _scenario(embedded_stack)


@pytest.mark.kafka
@pytest.mark.postgres
@pytest.mark.clickhouse
def test_rate_limit_holds_across_two_gunicorn_workers(real_stack: Stack) -> None:
    key = real_stack.create_customer("Busy", "busy.test")
    start_of_a_fresh_minute()
    statuses = [real_stack.request("GET", "/api/smtp-credentials", key=key, expect=None)[0]
                for _ in range(620)]
    assert (statuses.count(200), statuses.count(429)) == (600, 20)

"""Health score end to end: run-all's scheduler thread on the embedded default, and the
standalone ``mailerlogic scheduler`` process on a real ClickHouse server (SIGTERM, restarts)."""

from __future__ import annotations

import json
import signal
from datetime import UTC
from datetime import datetime
from pathlib import Path
from uuid import UUID
from uuid import uuid4

import pytest

from consumers.clickhouse_sink import ClickHouseSink
from event_store.aggregates import HealthScore
from event_store.application import open_application
from tests.e2e.stack import Stack
from tests.e2e.stack import wait_for
from tests.helpers import envelope
from warehouse import schema
from warehouse.clients import connect

pytestmark = pytest.mark.e2e

# One message accepted, nothing delivered, bounced, opened or clicked: delivery falls back to
# (sent - bounced - failed) / sent = 100 %, opens and clicks score 0 ->
# (100 x 35 + 100 x 35 + 100 x 15 + 0 x 10 + 0 x 5) / 100 = 85.0, B+, good.
ONE_SEND = {"overall_score": 85.0, "reputation_grade": "B+", "delivery_rate": 100.0, "open_rate": 0.0,
            "click_rate": 0.0, "bounce_rate": 0.0, "complaint_rate": 0.0}


def _logged(stack: Stack, name: str, text: str) -> bool:
    path = stack.logs / f"{name}.log"
    return path.exists() and text in path.read_text(errors="replace")


@pytest.mark.chdb
def test_run_all_scores_projects_history_and_its_scheduler_skips_a_scored_day(tmp_path: Path) -> None:
    stack = Stack({"MAILERLOGIC_DATA_DIR": str(tmp_path / "data")}, tmp_path)
    stack.env = {k: v for k, v in stack.env.items()
                 if k not in ("EVENT_STORE_URL", "CLICKHOUSE_URL", "KAFKA_BOOTSTRAP_SERVERS")}
    try:
        stack.start("all", "run-all")
        stack.wait_healthy()
        key = stack.create_customer("Acme", "acme.test")
        status, _ = stack.request("GET", "/api/customer/health-score", key=key, expect=None)
        assert status == 404
        stack.send(key, "ada@example.org")
        wait_for(lambda: stack.stats(key)["sent"] == 1, "the send in the statistics")
        _, body = stack.request("GET", "/api/customer/health-score", key=key)
        shown = {k: body["health_score"][k] for k in ONE_SEND}
        assert (shown, body["insights"]["status"]) == (ONE_SEND, "good")
        today = {"date": datetime.now(UTC).date().isoformat(), **ONE_SEND}

        def history() -> object:
            return stack.request("GET", "/api/customer/health-score/history", key=key)[1]["history"]

        assert wait_for(lambda: history() == [today] and history(), "the projected history") == [today]
        stack.stop_all()
        stack.start("again", "run-all")  # the scheduler runs at start: already scored today
        stack.wait_healthy()
        wait_for(lambda: _logged(stack, "again", "health scores: 0 recorded"), "the scheduler's run")
        assert not _logged(stack, "again", "health scores: 1 recorded")
        again = stack.request("GET", "/api/customer/health-score", key=key)[1]
        assert again["health_score"]["last_calculated"] == body["health_score"]["last_calculated"]
        assert history() == [today]
    finally:
        stack.stop_all()
        print(stack.log_tail())


@pytest.mark.clickhouse
def test_scheduler_process_scores_once_a_day_across_restarts_and_stops_on_sigterm(
        tmp_path: Path, clickhouse_url: str) -> None:
    data = tmp_path / "data"
    stack = Stack({"MAILERLOGIC_DATA_DIR": str(data), "CLICKHOUSE_URL": clickhouse_url}, tmp_path)
    stack.env = {k: v for k, v in stack.env.items()
                 if k not in ("EVENT_STORE_URL", "KAFKA_BOOTSTRAP_SERVERS")}
    customer = UUID(json.loads(stack.cli("customers", "create", "--name", "Acme", "--email", "ops@acme.test",
                                         "--json"))["customer"]["id"])
    client = connect(clickhouse_url, data)
    schema.apply(client)
    ClickHouseSink(client).write([envelope(kind, 1_000_000 + n, customer_id=customer, email_id=email,
                                           at=datetime.now(UTC))
                                  for n, (kind, email) in enumerate([("queued", uuid4())])])
    try:
        for run, recorded in enumerate((1, 0)):
            stack.start(f"scheduler{run}", "scheduler")
            wait_for(lambda run=run, recorded=recorded: _logged(
                stack, f"scheduler{run}", f"health scores: {recorded} recorded"), "the daily health job")
            proc = stack.procs.pop(f"scheduler{run}")
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=15) == 0
    finally:
        stack.stop_all()
        client.close()
        print(stack.log_tail())
    events = open_application(None, str(data / "events.sqlite"))
    stored = events.repository.get(HealthScore.create_id(customer))
    assert (stored.latest["overall_score"], stored.version) == (85.0, 2)  # Started + one Calculated

"""Retention on both backends: exactly the expired monthly ``events`` partitions go.

Events with old ``occurred_at`` are written through the real sink, so the views fill
``stats_hourly`` and ``suppressions`` as in production; those are kept whole.
"""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC
from datetime import datetime
from datetime import timedelta
from pathlib import Path
from typing import Any
from uuid import UUID
from uuid import uuid4

import pytest
from click.testing import CliRunner

from consumers.clickhouse_sink import ClickHouseSink
from event_store.envelope import Envelope
from mailerlogic.cli import main
from mailerlogic.config import Settings
from mailerlogic.retention_job import drop_expired
from mailerlogic.retention_job import report_lines
from tests.helpers import envelope
from warehouse import schema
from warehouse.clients import connect
from warehouse.port import ClickHouse

NOW = datetime(2026, 11, 26, 12, tzinfo=UTC)
# partition -> (year, month); 2 events per month, and an unsubscribe in the oldest one.
MONTHS = {"202410": (2024, 10), "202510": (2025, 10), "202511": (2025, 11), "202608": (2026, 8),
          "202609": (2026, 9), "202611": (2026, 11)}
REPO = Path(__file__).parents[2]


def story(customer: UUID, months: dict[str, tuple[int, int]], day: int = 3) -> list[Envelope]:
    found = []
    for n, (year, month) in enumerate(months.values()):
        at = datetime(year, month, day, 9, tzinfo=UTC)
        found.append(envelope("queued", 2 * n + 1, customer_id=customer, at=at))
        found.append(envelope("delivered", 2 * n + 2, customer_id=customer, at=at + timedelta(minutes=1)))
    year, month = next(iter(months.values()))
    found.append(envelope("unsubscribed", 100, customer_id=customer, at=datetime(year, month, 5, tzinfo=UTC),
                          recipient="old@x.org", source="link", suppression_id=str(uuid4())))
    return found


def settings(tmp_path: Path, **env: str) -> Settings:
    return Settings.from_env({"MAILERLOGIC_DATA_DIR": str(tmp_path), "MAILERLOGIC_SECRET_KEY": "k",
                              "MAILERLOGIC_WEBHOOK_SECRET": "w", **env})


def state(client: ClickHouse) -> dict[str, Any]:
    """Partitions of events with their row counts, stats_hourly per month, the suppressions."""
    return {
        "events": client.execute("SELECT toYYYYMM(occurred_at) AS m, count() FROM events "
                                 "GROUP BY m ORDER BY m"),
        "stats": client.execute("SELECT toYYYYMM(hour) AS m, uniqExactMerge(events) FROM stats_hourly "
                                "GROUP BY m ORDER BY m"),
        "suppressions": client.execute("SELECT email FROM suppressions"),
    }


@pytest.fixture
def stored(clickhouse: ClickHouse) -> ClickHouse:
    ClickHouseSink(clickhouse).write(story(uuid4(), MONTHS))
    return clickhouse


BEFORE = {
    "events": [(202410, 3), (202510, 2), (202511, 2), (202608, 2), (202609, 2), (202611, 2)],
    "stats": [(202410, 3), (202510, 2), (202511, 2), (202608, 2), (202609, 2), (202611, 2)],
    "suppressions": [("old@x.org",)],
}


def test_the_longest_retention_decides(stored: ClickHouse, tmp_path: Path) -> None:
    assert state(stored) == BEFORE
    run = drop_expired(stored, settings(tmp_path), NOW)  # 90 and 365 days: 365 wins
    cutoff = datetime(2025, 11, 26, 12, tzinfo=UTC)
    assert (run.retention_days, run.cutoff, run.dry_run) == (365, cutoff, False)
    assert [(p.id, p.rows) for p in run.dropped] == [("202410", 3), ("202510", 2)]
    assert [p.id for p in run.kept] == ["202511", "202608", "202609", "202611"]
    assert state(stored) == {**BEFORE, "events": BEFORE["events"][2:]}
    again = drop_expired(stored, settings(tmp_path), NOW)
    assert (again.dropped, len(again.kept)) == ([], 4)


def test_configured_days_drop_more(stored: ClickHouse, tmp_path: Path) -> None:
    short = settings(tmp_path, MAILERLOGIC_RETENTION_DAYS="30", MAILERLOGIC_ENTERPRISE_RETENTION_DAYS="60")
    run = drop_expired(stored, short, NOW)  # cutoff 2026-09-27 12:00: September is partly inside
    assert [p.id for p in run.dropped] == ["202410", "202510", "202511", "202608"]
    assert state(stored) == {**BEFORE, "events": [(202609, 2), (202611, 2)]}


def test_dry_run_drops_nothing(stored: ClickHouse, tmp_path: Path) -> None:
    run = drop_expired(stored, settings(tmp_path), NOW, dry_run=True)
    assert [p.id for p in run.dropped] == ["202410", "202510"]
    assert report_lines(run) == [
        "would drop events partition 202410 (3 rows)",
        "would drop events partition 202510 (2 rows)",
        "2 partitions to drop, 4 kept (cutoff 2025-11-26T12:00:00Z, 365 days); statistics and other "
        "aggregates are kept"]
    assert state(stored) == BEFORE


def test_the_scheduler_runs_it_daily(stored: ClickHouse, tmp_path: Path) -> None:
    from event_store.application import EmailEvents
    from mailerlogic.scheduler import Scheduler
    from mailerlogic.scheduler import daily_jobs

    configured = settings(tmp_path)
    jobs = daily_jobs(configured, EmailEvents(env={"PERSISTENCE_MODULE": "eventsourcing.popo"}),
                      lambda: stored)
    assert "retention" in jobs
    assert Scheduler(configured, {"retention": jobs["retention"]}).run_due(NOW) == ["retention"]
    assert state(stored) == {**BEFORE, "events": BEFORE["events"][2:]}


def _relative_months(now: datetime) -> dict[str, tuple[int, int]]:
    found = {}
    for days in (800, 400, 300, 0):
        when = now - timedelta(days=days)
        found[when.strftime("%Y%m")] = (when.year, when.month)
    return found


def test_cli_on_the_server(clickhouse_url: str, tmp_path: Path) -> None:
    now = datetime.now(UTC)
    months = _relative_months(now)
    client = connect(clickhouse_url, tmp_path)
    schema.apply(client)
    ClickHouseSink(client).write(story(uuid4(), months, day=1))
    old, older = list(months)[1], list(months)[0]
    env = {"CLICKHOUSE_URL": clickhouse_url, "MAILERLOGIC_DATA_DIR": str(tmp_path)}
    dry = CliRunner().invoke(main, ["retention", "--dry-run"], env=env)
    assert dry.exit_code == 0, dry.output
    assert dry.output.splitlines()[:2] == [f"would drop events partition {older} (3 rows)",
                                           f"would drop events partition {old} (2 rows)"]
    assert dry.output.splitlines()[2].startswith("2 partitions to drop, 2 kept (cutoff ")
    assert len(state(client)["events"]) == 4
    done = CliRunner().invoke(main, ["retention"], env=env)
    assert done.exit_code == 0, done.output
    assert done.output.splitlines()[:2] == [f"dropped events partition {older} (3 rows)",
                                            f"dropped events partition {old} (2 rows)"]
    assert [m for m, _ in state(client)["events"]] == [int(m) for m in list(months)[2:]]
    assert len(state(client)["stats"]) == 4
    client.close()


SEED = """
import sys
from datetime import UTC, datetime
from pathlib import Path
from uuid import uuid4
from warehouse.clients import connect
from warehouse import schema
from consumers.clickhouse_sink import ClickHouseSink
from tests.integration.test_retention_drops import _relative_months, state, story
client = connect(None, Path(sys.argv[1]))
if sys.argv[2] == "seed":
    schema.apply(client)
    ClickHouseSink(client).write(story(uuid4(), _relative_months(datetime.now(UTC)), day=1))
print(state(client))
"""


def test_cli_on_the_embedded_default(tmp_path: Path) -> None:
    """Separate processes, as an operator runs them (chdb opens one data path per process)."""
    env = {**os.environ, "MAILERLOGIC_DATA_DIR": str(tmp_path), "PYTHONPATH": str(REPO)}
    env.pop("CLICKHOUSE_URL", None)

    def run(*args: str) -> str:
        done = subprocess.run(args, env=env, cwd=REPO, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        return done.stdout

    months = list(_relative_months(datetime.now(UTC)))
    counts = [(int(months[0]), 3)] + [(int(m), 2) for m in months[1:]]
    before = {"events": counts, "stats": counts, "suppressions": [("old@x.org",)]}
    assert run(sys.executable, "-c", SEED, str(tmp_path), "seed").strip() == str(before)
    mailerlogic = str(Path(sys.executable).with_name("mailerlogic"))
    dry = run(mailerlogic, "retention", "--dry-run").splitlines()
    assert dry[:2] == [f"would drop events partition {months[0]} (3 rows)",
                       f"would drop events partition {months[1]} (2 rows)"]
    assert dry[2].startswith("2 partitions to drop, 2 kept (cutoff ")
    done = run(mailerlogic, "retention").splitlines()
    assert done[:2] == [f"dropped events partition {months[0]} (3 rows)",
                        f"dropped events partition {months[1]} (2 rows)"]
    assert done[2].startswith("2 partitions dropped, 2 kept (cutoff ")
    after = run(sys.executable, "-c", SEED, str(tmp_path), "read")
    assert after.strip() == str({**before, "events": counts[2:]})

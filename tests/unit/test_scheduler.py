"""The scheduler: each named daily job once per UTC day, failures retried, a bounded loop."""

from __future__ import annotations

import threading
from datetime import UTC
from datetime import datetime
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from mailerlogic import scheduler
from mailerlogic.cli import main
from mailerlogic.config import Settings
from mailerlogic.scheduler import Scheduler
from mailerlogic.scheduler import run_scheduler

DAY = datetime(2026, 3, 15, 0, 0, 5, tzinfo=UTC)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings.from_env({"MAILERLOGIC_DATA_DIR": str(tmp_path), "MAILERLOGIC_SECRET_KEY": "k"})


class Recorder:
    """A job that records each run and fails while ``failures`` is positive."""

    def __init__(self, failures: int = 0) -> None:
        self.runs: list[datetime] = []
        self.failures = failures

    def __call__(self, settings: Settings, now: datetime) -> None:
        self.runs.append(now)
        if self.failures > 0:
            self.failures -= 1
            raise RuntimeError("ClickHouse is down")


def test_each_job_runs_once_per_utc_day_in_registry_order(settings: Settings) -> None:
    order: list[str] = []
    jobs = {name: (lambda s, now, name=name: order.append(name)) for name in ("health", "retention")}
    runner = Scheduler(settings, jobs)
    assert runner.run_due(DAY) == ["health", "retention"]
    assert runner.run_due(DAY + timedelta(hours=23, minutes=59)) == []
    assert runner.run_due(DAY + timedelta(days=1)) == ["health", "retention"]
    assert order == ["health", "retention"] * 2


def test_a_failing_job_is_retried_and_does_not_stop_the_others(settings: Settings) -> None:
    failing, fine = Recorder(failures=1), Recorder()
    runner = Scheduler(settings, {"failing": failing, "fine": fine})
    assert runner.run_due(DAY) == ["fine"]
    assert runner.wait_s(DAY) == scheduler.RETRY_S
    assert runner.run_due(DAY + timedelta(minutes=1)) == ["failing"]
    assert (len(failing.runs), len(fine.runs)) == (2, 1)


def test_after_a_day_s_jobs_it_waits_until_just_after_midnight(settings: Settings) -> None:
    runner = Scheduler(settings, {"job": Recorder()})
    late = datetime(2026, 3, 15, 23, 59, 0, tzinfo=UTC)
    runner.run_due(late)
    assert runner.wait_s(late) == 61.0
    assert runner.wait_s(DAY) == scheduler.MAX_WAIT_S  # read the clock again within 5 minutes


def test_the_loop_runs_at_start_and_ends_when_stopped(settings: Settings) -> None:
    stop = threading.Event()
    runs: list[datetime] = []

    def job(_settings: Settings, now: datetime) -> None:
        runs.append(now)
        stop.set()  # as SIGTERM would

    worker = threading.Thread(target=run_scheduler, args=(settings, stop),
                              kwargs={"jobs": {"job": job}, "clock": lambda: DAY}, daemon=True)
    worker.start()
    worker.join(timeout=10)
    assert (worker.is_alive(), runs) == (False, [DAY])


def test_a_standalone_scheduler_on_embedded_chdb_exits_with_the_reason(tmp_path: Path,
                                                                       monkeypatch: Any) -> None:
    monkeypatch.setenv("MAILERLOGIC_DATA_DIR", str(tmp_path))
    result = CliRunner().invoke(main, ["scheduler"])
    assert result.exit_code == 1
    assert "the scheduler needs CLICKHOUSE_URL" in result.output
    assert "`mailerlogic run-all` runs the scheduler" in result.output

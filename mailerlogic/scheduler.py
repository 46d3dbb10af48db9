"""The scheduler (``mailerlogic scheduler``, and a thread of run-all): named daily jobs (spec §17).

A job is a function ``(settings, now) -> None``, registered by name in :func:`daily_jobs`.
Guarantees:

* each job runs at start, then once per UTC day (soon after midnight), in registry order;
* a job must be idempotent within a UTC day: a restart, or a second scheduler, runs it again
  that day (the health job skips customers already calculated that day, and two schedulers
  racing on one customer record once: see ``commands.health``);
* a failing job is logged and retried every :data:`RETRY_S` seconds until it succeeds that
  day; it never stops the other jobs or the loop;
* the loop ends within a moment of ``stop`` being set (SIGTERM or SIGINT for the command).

On the embedded default chdb can be opened by one process only, so there the scheduler runs
only inside ``mailerlogic run-all``; a standalone scheduler needs ``CLICKHOUSE_URL``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from collections.abc import Mapping
from datetime import UTC
from datetime import date
from datetime import datetime
from datetime import timedelta
from typing import TYPE_CHECKING

from commands.health import CalculateHealthScore
from commands.health_score import WINDOW
from event_store.errors import NotFound
from mailerlogic import retention_job as retention
from mailerlogic.exports import sweep_job
from mailerlogic.wiring import build_bus
from mailerlogic.wiring import build_events
from mailerlogic.wiring import clickhouse_factory
from read_api.health_history import senders

if TYPE_CHECKING:
    import threading

    from commands.bus import Bus
    from event_store.application import EmailEvents
    from mailerlogic.config import Settings
    from warehouse.port import ClickHouse

log = logging.getLogger("mailerlogic.scheduler")
Job = Callable[["Settings", datetime], None]
RETRY_S = 60.0  # a failed job is retried this often
MAX_WAIT_S = 300.0  # the clock is read at least this often (suspend, clock changes)


def daily_jobs(settings: Settings, events: EmailEvents,
               clickhouse: Callable[[], ClickHouse]) -> dict[str, Job]:
    """The registry: name -> job, run in this order. A new daily job is one more entry."""
    bus = build_bus(settings, events, clickhouse)

    def health_scores(_settings: Settings, now: datetime) -> None:
        recalculate_health_scores(bus, clickhouse, now)

    return {"health": health_scores, "retention": retention.daily_job(clickhouse), "exports": sweep_job}


def recalculate_health_scores(bus: Bus, clickhouse: Callable[[], ClickHouse], now: datetime) -> int:
    """Score every customer who sent in the 30 days before ``now``, unless already scored on
    ``now``'s UTC day; returns how many calculations were recorded."""
    day_start = now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    recorded = 0
    for customer_id in senders(clickhouse(), start=now - WINDOW, end=now):
        try:
            calculation = bus.handle(CalculateHealthScore(customer_id, now, reuse_since=day_start))
        except NotFound:
            continue  # nothing scored in the window after all (its first hour is floored)
        recorded += calculation.recorded
    log.info("health scores: %d recorded for %s", recorded, day_start.date())
    return recorded


class Scheduler:
    """Runs each job once per UTC day; remembers which jobs succeeded on which day."""

    def __init__(self, settings: Settings, jobs: Mapping[str, Job]) -> None:
        self.settings, self.jobs = settings, dict(jobs)
        self.done: dict[str, date] = {}

    def run_due(self, now: datetime) -> list[str]:
        """Run every job not yet successful on ``now``'s UTC day; the names that succeeded."""
        today = now.astimezone(UTC).date()
        succeeded = []
        for name, job in self.jobs.items():
            if self.done.get(name) == today:
                continue
            try:
                job(self.settings, now)
            except Exception:  # noqa: BLE001 - logged and retried; one job never stops the rest
                log.exception("daily job %s failed; retrying in %.0f s", name, RETRY_S)
                continue
            self.done[name] = today
            succeeded.append(name)
        return succeeded

    def wait_s(self, now: datetime) -> float:
        """Seconds until the next run: a retry, or just after the next UTC midnight."""
        today = now.astimezone(UTC).date()
        if any(self.done.get(name) != today for name in self.jobs):
            return RETRY_S
        midnight = datetime(today.year, today.month, today.day, tzinfo=UTC) + timedelta(days=1)
        return min(MAX_WAIT_S, max(1.0, (midnight - now).total_seconds() + 1.0))


def run_scheduler(settings: Settings, stop: threading.Event, events: EmailEvents | None = None,
                  clickhouse: Callable[[], ClickHouse] | None = None, *,
                  jobs: Mapping[str, Job] | None = None,
                  clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
    """Run the daily jobs until ``stop`` is set."""
    if jobs is None and clickhouse is None and settings.clickhouse_url is None:
        raise SystemExit("the scheduler needs CLICKHOUSE_URL: on the embedded default chdb can be "
                         "opened by one process only, and `mailerlogic run-all` runs the scheduler")
    if jobs is None:
        jobs = daily_jobs(settings, events or build_events(settings),
                          clickhouse or clickhouse_factory(settings))
    scheduler = Scheduler(settings, jobs)
    log.info("scheduler: daily jobs %s", ", ".join(scheduler.jobs))
    while not stop.is_set():
        now = clock()
        scheduler.run_due(now)
        stop.wait(scheduler.wait_s(now))

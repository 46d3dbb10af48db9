"""What the consumer processes share: which failures are transient (retried in the process,
never an exit), the status file that ``/readyz`` reads, a consumer loop with a retry loop beside
it, and the ``first=,factor=,max=,budget=`` backoff settings."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import TYPE_CHECKING
from typing import Any

from consumers import loop
from consumers.status import StatusFile
from mailerlogic.wiring import build_dead_letters
from mailerlogic.wiring import build_source

if TYPE_CHECKING:
    from event_store.application import EmailEvents
    from mailerlogic.config import Settings

log = logging.getLogger("mailerlogic")
_DELAYS = {"first": "first_delay", "max": "max_delay", "budget": "budget"}


def is_transient(exc: BaseException) -> bool:
    """An outage of Kafka, ClickHouse, SMTP or the event store: worth retrying in the process."""
    import sqlite3

    from clickhouse_driver import errors as clickhouse_errors
    from eventsourcing import persistence
    from kafka import errors as kafka_errors

    if isinstance(exc, kafka_errors.KafkaError | OSError | persistence.OperationalError
                  | persistence.InterfaceError | clickhouse_errors.NetworkError
                  | clickhouse_errors.SocketTimeoutError | sqlite3.OperationalError):
        return True
    if isinstance(exc, clickhouse_errors.ServerException):
        return exc.code in TRANSIENT_CLICKHOUSE_CODES
    name = type(exc).__name__
    return name in TRANSIENT_NAMES or (exc.__cause__ is not None and is_transient(exc.__cause__))


# ClickHouse server errors that pass: timeouts, too many parts/queries, memory, shutting down.
TRANSIENT_CLICKHOUSE_CODES = frozenset({159, 160, 202, 209, 210, 241, 252, 394})
# Errors of clients imported lazily elsewhere (psycopg, the ClickHouse HTTP adapter's own).
TRANSIENT_NAMES = frozenset({"OperationalError", "AnalyticsUnavailable", "SMTPServerDisconnected"})


def resilience(settings: Settings, name: str) -> loop.Resilience:
    """Transient failures of ``name``'s consumer loop retried with backoff, reported in its status."""
    return loop.Resilience(transient=is_transient, health=StatusFile(settings.data_dir / "status", name))


def backoff_fields(spec: str, variable: str, default_max: timedelta) -> dict[str, Any]:
    """``first=60,factor=2,max=3600,budget=86400`` (seconds) as backoff dataclass fields."""
    values: dict[str, Any] = {}
    for part in filter(None, (p.strip() for p in spec.split(","))):
        name, _, text = part.partition("=")
        if name == "factor":
            values["factor"] = float(text)
        elif name in _DELAYS:
            values[_DELAYS[name]] = timedelta(seconds=float(text))
        else:
            raise ValueError(f"{variable}: unknown part {part!r} (use first=, factor=, max=, budget=)")
    if "first_delay" in values and "max_delay" not in values:
        values["max_delay"] = max(values["first_delay"], default_max)
    return values


def run_with_retries(settings: Settings, stop: threading.Event, events: EmailEvents, *, name: str,
                     group: str, sink: Any, retries: Callable[[threading.Event], None],
                     limits: loop.Limits, close: Callable[[], None]) -> None:
    """Consume ``group`` into ``sink`` while ``retries`` runs beside it; either failing for a reason
    that is not transient stops both (a transient one is retried with backoff)."""
    guard = resilience(settings, name)
    try:
        source = loop.attempt(guard, stop, "join the consumer group",
                              lambda: build_source(settings, events, group))
        dead_letters = loop.attempt(guard, stop, "dead letters", lambda: build_dead_letters(settings))
    except loop.Stopped:
        sink.close()
        close()
        return
    try:
        with _retries_running(name, _resumed(retries, guard), stop) as failed:
            loop.run(source, sink, dead_letters, limits, stop, guard)
    finally:
        sink.close()
        source.close()
        close()
    if failed:
        raise RuntimeError(f"the {name} retry loop failed") from failed[0]


def _resumed(retries: Callable[[threading.Event], None], guard: loop.Resilience
             ) -> Callable[[threading.Event], None]:
    """``retries`` started again after a transient failure (backoff between), until halted."""

    def run(halt: threading.Event) -> None:
        failures = 0
        while not halt.is_set():
            try:
                retries(halt)
                return
            except Exception as exc:
                if not guard.transient(exc):
                    raise
                delay = guard.delay(failures)
                log.warning("retry loop failed (%s: %s); resuming in %.1fs", type(exc).__name__, exc, delay)
                guard.health.degraded(f"retry loop: {type(exc).__name__}: {exc}")
                failures += 1
                halt.wait(delay)

    return run


@contextmanager
def _retries_running(name: str, retries: Callable[[threading.Event], None],
                     stop: threading.Event) -> Iterator[list[BaseException]]:
    """The retry loop in a thread for the duration of the block; its failure sets ``stop``."""
    halt, failed = threading.Event(), list[BaseException]()

    def job() -> None:
        try:
            retries(halt)
        except BaseException as exc:
            log.exception("%s retries failed: stopping", name)
            failed.append(exc)
            stop.set()  # ends the consumer loop (and, in run-all, the whole process)

    thread = threading.Thread(target=job, name=f"{name}-retries")
    thread.start()
    try:
        yield failed
    finally:
        halt.set()
        thread.join(timeout=60)

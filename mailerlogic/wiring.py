"""Builds each process's clients from :class:`Settings` (nothing is built at import time)."""

from __future__ import annotations

import functools
import logging
import threading
from collections.abc import Callable
from datetime import UTC
from datetime import datetime
from datetime import timedelta
from typing import TYPE_CHECKING

from consumers.dead_letters import FileDeadLetters
from consumers.log_source import LogSource
from event_store.application import open_application
from event_store.feed import NotificationFeed
from mailerlogic.private_files import private_dir
from warehouse import schema

if TYPE_CHECKING:
    from collections.abc import Mapping
    from uuid import UUID

    from commands.bus import Bus
    from consumers.records import DeadLetters
    from consumers.records import Source
    from event_store.application import EmailEvents
    from mailerlogic.config import Settings
    from warehouse.port import ClickHouse


def build_events(settings: Settings) -> EmailEvents:
    """The event-store application (SQLite in the data dir, or PostgreSQL)."""
    private_dir(settings.data_dir)
    return open_application(settings.event_store_url, str(settings.data_dir / "events.sqlite"))


def build_bus(settings: Settings, events: EmailEvents,
              clickhouse: Callable[[], ClickHouse] | None = None) -> Bus:
    """The command bus with its adapters (DNS resolver built lazily, once)."""
    from commands.bus import Bus
    from commands.bus import Deps
    from commands.domain_dns import make_resolver
    from commands.quota import UsageCache
    from consumers.webhooks.targets import check_webhook_url

    resolver = functools.cache(lambda: make_resolver(settings.dns_nameservers))
    usage = UsageCache(lambda customer_id: month_usage(clickhouse(), customer_id)) if clickhouse else None
    return Bus(events, Deps(secret_key=settings.secret_key, spf_include=settings.spf_include,
                            resolver=resolver, usage=usage,
                            health_totals=health_totals(clickhouse) if clickhouse else None,
                            export_window=export_windows(settings),
                            webhook_url_check=functools.partial(
                                check_webhook_url, allow_private=settings.webhooks_allow_private)))


def export_windows(settings: Settings) -> Callable[[str, Mapping[str, str], datetime, str],
                                                    tuple[datetime, datetime]]:
    """An export job's window, checked by the read side's parsers (bad filters are a 400); events
    start no earlier than the tier's retention allows (``Settings.retention_days_for``)."""
    from event_store.errors import DomainError
    from read_api.export_jobs import window
    from read_api.params import BadParam

    def export_window(kind: str, filters: Mapping[str, str], now: datetime, tier: str
                      ) -> tuple[datetime, datetime]:
        try:
            return window(kind, filters, now, settings.retention_days_for(tier))
        except BadParam as exc:
            raise DomainError(str(exc), code="validation_error", status=400, details=exc.details) from None

    return export_window


def health_totals(clickhouse: Callable[[], ClickHouse]
                  ) -> Callable[[UUID, datetime, datetime], dict[str, int | float]]:
    """The health score's input: §7 outbound totals of a customer in [start, end)."""
    from read_api.views import outbound_totals

    def totals(customer_id: UUID, start: datetime, end: datetime) -> dict[str, int | float]:
        return outbound_totals(clickhouse(), customer_id=customer_id, start=start, end=end)

    return totals


def month_usage(client: ClickHouse, customer_id: UUID) -> int:
    """Messages accepted this calendar month (UTC), from the statistics."""
    from read_api.views import outbound_totals

    now = datetime.now(UTC)
    start = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    return int(outbound_totals(client, customer_id=customer_id, start=start,
                               end=now + timedelta(hours=1))["sent"])


def build_clickhouse(settings: Settings) -> ClickHouse:
    """A ClickHouse client (server or chdb) with the schema applied."""
    from warehouse.clients import connect

    client = connect(settings.clickhouse_url, settings.data_dir, settings.clickhouse_http_url)
    schema.apply(client)
    return client


def clickhouse_factory(settings: Settings) -> Callable[[], ClickHouse]:
    """A lazy getter: one client per thread for the server, one shared chdb session.

    A thread's server client whose connection dropped reconnects on its next statement, and one
    that could not be built (server down) is built on the next call: no restart is needed.
    """
    local = threading.local()
    lock = threading.Lock()
    shared: list[ClickHouse] = []

    def get() -> ClickHouse:
        if settings.clickhouse_url is None:
            with lock:
                if not shared:
                    shared.append(build_clickhouse(settings))
            return shared[0]
        if getattr(local, "client", None) is None:
            local.client = build_clickhouse(settings)
        return local.client  # type: ignore[no-any-return]

    return get


def build_source(settings: Settings, events: EmailEvents, group: str) -> Source:
    """Kafka consumer group when Kafka is configured, else the in-process log."""
    if settings.kafka_bootstrap_servers:
        from consumers.kafka_source import KafkaSource

        return KafkaSource(settings.kafka_bootstrap_servers, settings.kafka_topic,
                           settings.kafka_group(group))
    return LogSource(NotificationFeed(events), group)


def build_dead_letters(settings: Settings) -> DeadLetters:
    """The dead-letter topic, or a file in the data dir on the embedded default."""
    if settings.kafka_bootstrap_servers:
        from consumers.kafka_source import KafkaDeadLetters

        return KafkaDeadLetters(settings.kafka_bootstrap_servers, settings.dead_letter_topic)
    return FileDeadLetters(settings.data_dir / "dead-letters.ndjson")


def configure_logging(settings: Settings) -> None:
    """One log format for every process."""
    logging.basicConfig(level=settings.log_level,
                        format="%(asctime)s %(levelname)s %(process)d %(name)s: %(message)s")

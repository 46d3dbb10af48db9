"""The long-running processes: api, relay, projector, and all of them in one (run-all)."""

from __future__ import annotations

import gc
import logging
import signal
import threading
from typing import TYPE_CHECKING
from typing import Any

from mailerlogic.faults import CrashAfter
from mailerlogic.singleton import exclusive
from mailerlogic.wiring import build_clickhouse
from mailerlogic.wiring import build_dead_letters
from mailerlogic.wiring import build_events
from mailerlogic.wiring import build_source
from mailerlogic.wiring import clickhouse_factory

if TYPE_CHECKING:
    from collections.abc import Callable

    from flask import Flask

    from event_store.application import EmailEvents
    from mailerlogic.config import Settings

log = logging.getLogger("mailerlogic")
PROJECTOR_GROUP = "projector"


def stop_on_signals() -> threading.Event:
    """An event set by SIGTERM or SIGINT: stop polling, flush, commit, exit."""
    stop = threading.Event()

    def handler(signum: int, _frame: Any) -> None:
        log.info("signal %d: stopping", signum)
        stop.set()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)
    return stop


def tune_gc() -> None:
    """Fewer, larger collections: a consumer allocates many short-lived objects per batch.

    Objects alive after start-up (modules, clients) are frozen out of the collector.
    """
    gc.freeze()
    gc.set_threshold(50_000, 20, 20)


def run_relay(settings: Settings, stop: threading.Event, events: EmailEvents | None = None) -> None:
    """Publish the notification log to Kafka until stopped."""
    from event_store import relay
    from event_store.feed import NotificationFeed
    from event_store.kafka_publisher import KafkaPublisher

    if not settings.kafka_bootstrap_servers:
        raise SystemExit("the relay needs KAFKA_BOOTSTRAP_SERVERS (embedded mode reads the log)")
    ensure_topics(settings, stop)
    feed = NotificationFeed(events or build_events(settings))
    publisher: Any = KafkaPublisher(settings.kafka_bootstrap_servers, settings.kafka_topic)
    if "crash-after-publish" in settings.fault_injection:
        publisher = CrashAfter(publisher, "publish", settings.fault_injection["crash-after-publish"])
    with exclusive(settings, "relay", stop) as held:
        if not held:
            return
        log.info("relay: publishing to %s from position %d", settings.kafka_topic,
                 feed.position(relay.READER))
        relay.run(feed, publisher, stop)


def ensure_topics(settings: Settings, stop: threading.Event) -> None:
    """Create the event and dead-letter topics, waiting for the broker if it is not up yet.

    Both the relay and the consumers do it: a consumer subscribing to a topic that does not
    exist yet would sit without partitions until its next metadata refresh.
    """
    from event_store.kafka_publisher import ensure_topics as create

    bootstrap = settings.kafka_bootstrap_servers or ""
    _retry_until(stop, lambda: create(bootstrap, [settings.kafka_topic, settings.dead_letter_topic],
                                      settings.kafka_partitions))


def _retry_until(stop: threading.Event, action: Callable[[], None]) -> None:
    delay = 0.5
    while not stop.is_set():
        try:
            action()
            return
        except Exception as exc:  # noqa: BLE001 - any failure to reach the broker: wait
            log.warning("kafka not ready (%s); retrying in %.1fs", exc, delay)
            stop.wait(delay)
            delay = min(delay * 2, 5.0)


def run_projector(settings: Settings, stop: threading.Event,
                  events: EmailEvents | None = None, clickhouse: Any = None) -> None:
    """Project the event stream into ClickHouse until stopped."""
    from consumers import loop
    from consumers.clickhouse_sink import ClickHouseSink
    from consumers.clickhouse_sink import sweep_duplicates
    from mailerlogic.consumer_runtime import resilience

    if settings.kafka_bootstrap_servers:
        ensure_topics(settings, stop)
    guard = resilience(settings, "projector")
    try:  # the dependencies may be down when the projector starts: wait for them, do not exit
        client = clickhouse or loop.attempt(guard, stop, "clickhouse connect",
                                            lambda: build_clickhouse(settings))
        repeated = loop.attempt(guard, stop, "duplicate sweep", lambda: sweep_duplicates(client))
        source = loop.attempt(guard, stop, "join the consumer group", lambda: build_source(
            settings, events or build_events(settings), PROJECTOR_GROUP))
        dead_letters = loop.attempt(guard, stop, "dead letters", lambda: build_dead_letters(settings))
    except loop.Stopped:
        return
    log.info("projector: %d positions stored more than once are listed in stats_duplicates", repeated)
    sink: Any = ClickHouseSink(client)
    if "crash-after-write" in settings.fault_injection:
        sink = CrashAfter(sink, "write", settings.fault_injection["crash-after-write"])
    log.info("projector: consuming %s", "kafka" if settings.kafka_bootstrap_servers else "log")
    tune_gc()
    try:
        loop.run(source, sink, dead_letters, loop.Limits(), stop, guard)
    finally:
        source.close()


def make_app(settings: Settings, events: EmailEvents | None = None, clickhouse: Any = None) -> Flask:
    """The API app for this process."""
    from web.app import create_app

    app = create_app(settings, events=events or build_events(settings),
                     clickhouse=clickhouse or clickhouse_factory(settings))
    _claim_verified_names(app)
    if settings.clickhouse_url is None:  # chdb opens in this process only: the CLI asks it
        from mailerlogic.rebuild_cli import run_here
        from web import operator_api

        application = app.extensions["events"]
        operator_api.install(app, lambda tables, progress: run_here(
            settings, tables, progress, events=application), settings.secret_key)
    return app


def _claim_verified_names(app: Flask) -> None:
    """Claims for names verified before claims existed (once per install; then only what is new)."""
    from mailerlogic.claims_backfill import claim_verified
    from mailerlogic.claims_backfill import counts

    outcomes = counts(claim_verified(app.extensions["events"], app.extensions["bus"]))
    if outcomes["claimed"] or outcomes["taken"]:
        log.warning("domain claims: %d verified name(s) claimed now; %d held by another customer "
                    "(run `mailerlogic domains claim-verified` for the list)",
                    outcomes["claimed"], outcomes["taken"])


def run_api(settings: Settings, workers: int | None = None) -> None:
    """Serve the API with gunicorn (each worker builds its own clients after the fork)."""
    from gunicorn.app.base import BaseApplication

    if settings.clickhouse_url is None and (workers or settings.api_workers) > 1:
        raise SystemExit("chdb can be opened by one process only: set CLICKHOUSE_URL, "
                         "or use `mailerlogic run-all` for the embedded default")

    import os

    from web.metrics import use_directory

    use_directory(settings.data_dir / "metrics" / f"api-{settings.port}", os.environ)  # workers share it

    class Server(BaseApplication):  # type: ignore[misc]
        def load_config(self) -> None:
            self.cfg.set("bind", f"127.0.0.1:{settings.port}")
            self.cfg.set("workers", workers or settings.api_workers)
            if settings.api_threads > 1:  # threads: concurrent saves share a group commit
                self.cfg.set("worker_class", "gthread")
                self.cfg.set("threads", settings.api_threads)
            self.cfg.set("accesslog", None)
            self.cfg.set("graceful_timeout", 10)
            # A sync worker streaming a large export cannot heartbeat: allow 10 minutes (about
            # 600 M rows at the measured export rate) before gunicorn recycles it.
            self.cfg.set("timeout", 600)

        def load(self) -> Flask:
            return make_app(settings)

    Server().run()


def run_all(settings: Settings, stop: threading.Event, ready: Callable[[], None] | None = None) -> None:
    """API, relay (with Kafka), projector, delivery, webhooks, exports and the scheduler in one process.

    This is the embedded default (and the only place the scheduler runs on chdb).

    A background worker that fails stops the whole process with exit status 1, so a
    supervisor restarts it (nothing is committed past the failure).
    """
    from werkzeug.serving import make_server

    from mailerlogic.config import child_environment
    from mailerlogic.delivery import run_delivery
    from mailerlogic.delivery_processes import run_delivery_processes
    from mailerlogic.exports import run_exports
    from mailerlogic.scheduler import run_scheduler
    from mailerlogic.webhooks import run_webhooks

    events = build_events(settings)
    clickhouse = clickhouse_factory(settings)
    failed: list[BaseException] = []
    jobs: list[tuple[str, Callable[[], None]]] = [
        ("projector", lambda: run_projector(settings, stop, events, clickhouse()))]
    if settings.kafka_bootstrap_servers:
        jobs.append(("relay", lambda: run_relay(settings, stop, events)))
    if settings.delivery_processes > 1 and settings.embedded:
        jobs.append(("delivery", lambda: run_delivery_processes(
            settings.delivery_processes, child_environment(settings), stop)))
    else:
        jobs.append(("delivery", lambda: run_delivery(settings, stop, events)))
    jobs.append(("webhooks", lambda: run_webhooks(settings, stop, events)))
    jobs.append(("exports", lambda: run_exports(settings, stop, events, clickhouse)))
    jobs.append(("scheduler", lambda: run_scheduler(settings, stop, events, clickhouse)))
    workers = [threading.Thread(target=_supervised, args=(job, stop, failed), name=name)
               for name, job in jobs]
    server = make_server("127.0.0.1", settings.port, make_app(settings, events, clickhouse),
                         threaded=True)
    for worker in workers:
        worker.start()

    def shutdown_on_stop() -> None:
        stop.wait()
        server.shutdown()

    threading.Thread(target=shutdown_on_stop, daemon=True).start()
    if ready:
        ready()
    server.serve_forever()
    for worker in workers:
        worker.join(timeout=30)
    if failed:
        raise SystemExit(1)


def _supervised(job: Callable[[], None], stop: threading.Event, failed: list[BaseException]) -> None:
    try:
        job()
    except BaseException as exc:
        log.exception("%s failed: stopping the process", threading.current_thread().name)
        failed.append(exc)
        stop.set()

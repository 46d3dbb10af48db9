"""``GET /metrics`` (spec §16): Prometheus text format, for operators to scrape.

Counted per API process, summed over gunicorn workers: requests by method, endpoint (the URL
rule, never the raw path, so cardinality stays bounded; ``unmatched`` for 404/405) and status;
request latency (to the response object: a streamed body's transfer is not included); events
appended through this process's event store by type (``Message.Queued``...). At scrape time,
as ``/readyz`` reports them (:mod:`web.lag`): the event store's head position and each
reader's lag, committed position and end position: with Kafka, the consumer group's committed
offsets and the topic's end offsets summed over partitions (read at most every 1.5 s), else the
position the reader recorded in the log and the log's head. A figure that cannot be read (Kafka
down) is left out of that scrape.

Under gunicorn, :func:`use_directory` (called by the master before it forks) switches
prometheus_client to multi-process mode in a directory it empties first, so every worker's
counts survive in its files and any worker's scrape sums them all. ``run-all`` and tests are
single-process: one registry per app. /metrics needs no key: never expose it publicly.
"""

from __future__ import annotations

import logging
import shutil
import time
from collections import Counter as Tally
from typing import TYPE_CHECKING
from typing import Any

from flask import Blueprint
from flask import Response
from flask import current_app
from flask import g
from flask import request
from prometheus_client import CollectorRegistry
from prometheus_client import Counter
from prometheus_client import Histogram
from prometheus_client import ProcessCollector
from prometheus_client import disable_created_metrics
from prometheus_client import generate_latest
from prometheus_client import values
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector

if TYPE_CHECKING:
    from collections.abc import Iterator
    from collections.abc import MutableMapping
    from pathlib import Path

    from flask import Flask
    from prometheus_client import Metric

    from event_store.application import EmailEvents
    from web.lag import ReaderLag
    from web.lag import Snapshot

log = logging.getLogger(__name__)
bp = Blueprint("metrics", __name__)
_MULTIPROCESS: dict[str, str] = {}  # "dir" once use_directory ran (inherited by forked workers)
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"  # the classic format every scraper reads
BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


def use_directory(path: Path, environ: MutableMapping[str, str]) -> None:
    """Multi-process mode in ``path`` (emptied): call once in the gunicorn master, before forking."""
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    environ["PROMETHEUS_MULTIPROC_DIR"] = str(path)  # read by prometheus_client in every worker
    # prometheus_client picks its value class when imported: switch it in case that happened already
    values.ValueClass = values.MultiProcessValue()  # type: ignore[no-untyped-call]
    _MULTIPROCESS["dir"] = str(path)


class Lag:
    """Scrape-time gauges: the event store's head and each reader's position and lag behind it."""

    def __init__(self, reader_lag: ReaderLag) -> None:
        self.reader_lag = reader_lag

    def collect(self) -> Iterator[Metric]:
        """The gauges, or none when the event store does not answer (``/readyz`` says why)."""
        try:
            snapshot = self.reader_lag.snapshot()
        except Exception:  # noqa: BLE001 - a scrape must not fail because a dependency is down
            log.warning("metrics: event store position unavailable", exc_info=True)
            return
        yield GaugeMetricFamily("mailerlogic_event_store_position", "Last notification id",
                                value=snapshot.head)
        yield from _reader_gauges(snapshot)


def _reader_gauges(snapshot: Snapshot) -> Iterator[Metric]:
    lag = GaugeMetricFamily("mailerlogic_reader_lag_events", "Events not yet processed by a reader",
                            labels=["reader"])
    committed = GaugeMetricFamily(
        "mailerlogic_reader_committed_position", "Where a reader is: its group's committed offsets "
        "summed over the topic's partitions (source kafka), or its recorded log position (log)",
        labels=["reader", "source"])
    end = GaugeMetricFamily(
        "mailerlogic_reader_end_position", "The end a reader's lag is measured to: the topic's end "
        "offsets summed over partitions (source kafka), or the log's head (log)",
        labels=["reader", "source"])
    for name, position in snapshot.readers.items():
        if position.lag is None or position.committed is None or position.end is None:
            continue  # unknown right now (Kafka down): no sample rather than a wrong one
        source = "log" if position.group is None else "kafka"
        lag.add_metric([name], position.lag)
        committed.add_metric([name, source], position.committed)
        end.add_metric([name, source], position.end)
    yield from (lag, committed, end)


class Metrics:
    """One app's metrics: requests, latency and events appended."""

    def __init__(self, reader_lag: ReaderLag) -> None:
        self.registry = CollectorRegistry()
        self.lag = Lag(reader_lag)
        labels = ("method", "endpoint", "status")
        self.requests = Counter("mailerlogic_http_requests", "HTTP requests answered", labels,
                                registry=self.registry)
        self.latency = Histogram("mailerlogic_http_request_duration_seconds", "Time to answer a request",
                                 labels, registry=self.registry, buckets=BUCKETS)
        self.events = Counter("mailerlogic_events_appended", "Events appended to the event store",
                              ("type",), registry=self.registry)
        if "dir" not in _MULTIPROCESS:
            self.registry.register(self.lag)
            ProcessCollector(registry=self.registry)

    def observe(self, method: str, rule: str, status: int, seconds: float) -> None:
        """Count and time one answered request."""
        labels = (method, rule, str(status))
        self.requests.labels(*labels).inc()
        self.latency.labels(*labels).observe(seconds)

    def count_events(self, recordings: list[Any]) -> None:
        """Count what one save appended, by event class (``Aggregate.Event``)."""
        for name, count in Tally(type(r.domain_event).__qualname__ for r in recordings).items():
            self.events.labels(name).inc(count)

    def render(self) -> bytes:
        """The text exposition: this registry, or every worker's files in multi-process mode."""
        if "dir" not in _MULTIPROCESS:
            return generate_latest(self.registry)
        registry = CollectorRegistry()
        MultiProcessCollector(registry, path=_MULTIPROCESS["dir"])  # type: ignore[no-untyped-call]
        registry.register(self.lag)
        return generate_latest(registry)


def install(app: Flask, events: EmailEvents, reader_lag: ReaderLag) -> None:
    """Time and count every request of ``app``; count what ``events`` appends; serve /metrics.

    Call before other ``before_request`` hooks so that refused requests (401, 429) are timed too.
    """
    disable_created_metrics()  # type: ignore[no-untyped-call]  # no *_created series
    metrics = Metrics(reader_lag)
    app.extensions["metrics"] = metrics
    events.observers.append(metrics.count_events)
    app.before_request(_start)
    app.after_request(_observe)
    app.register_blueprint(bp)


def _start() -> None:
    g.metrics_started = time.perf_counter()


def _observe(response: Response) -> Response:
    elapsed = time.perf_counter() - g.get("metrics_started", time.perf_counter())
    rule = request.url_rule.rule if request.url_rule is not None else "unmatched"
    metrics: Metrics = current_app.extensions["metrics"]
    metrics.observe(request.method, rule, response.status_code, elapsed)
    return response


@bp.get("/metrics")
def metrics() -> Response:
    """Prometheus metrics: requests, latency, events appended, reader lag (keep it off the public net)."""
    return Response(current_app.extensions["metrics"].render(), content_type=CONTENT_TYPE)

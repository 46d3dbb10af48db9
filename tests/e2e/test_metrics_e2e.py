"""``/metrics`` of real processes: gunicorn with two workers sums both; run-all counts its threads."""

from __future__ import annotations

import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.parser import text_string_to_metric_families

from tests.e2e.stack import Stack
from tests.e2e.stack import wait_for

pytestmark = pytest.mark.e2e
Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def scrape(stack: Stack) -> Samples:
    """Every sample of ``GET /metrics`` (no key), keyed by name and sorted labels."""
    with urllib.request.urlopen(stack.base + "/metrics", timeout=30) as response:
        assert response.headers["Content-Type"].startswith("text/plain; version=0.0.4")
        text = response.read().decode()
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def value(samples: Samples, name: str, **labels: str) -> float:
    """One sample's value; 0 when the series does not exist (yet)."""
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def requests(samples: Samples, method: str, endpoint: str, status: str) -> float:
    """``mailerlogic_http_requests_total`` of one method, rule and status."""
    return value(samples, "mailerlogic_http_requests_total", method=method, endpoint=endpoint, status=status)


@pytest.fixture
def gunicorn(tmp_path: Path, postgres_url: str, clickhouse_url: str) -> Iterator[Stack]:
    """``mailerlogic api --workers 2`` on PostgreSQL and the ClickHouse server."""
    stack = Stack({"MAILERLOGIC_DATA_DIR": str(tmp_path / "data"), "EVENT_STORE_URL": postgres_url,
                   "CLICKHOUSE_URL": clickhouse_url}, tmp_path)
    try:
        yield stack
    finally:
        stack.stop_all()
        print(stack.log_tail())  # shown by pytest only when the test failed


@pytest.mark.postgres
@pytest.mark.clickhouse
def test_two_workers_sum_to_exactly_the_requests_sent(gunicorn: Stack, tmp_path: Path) -> None:
    metrics_dir = tmp_path / "data" / "metrics" / f"api-{gunicorn.port}"
    metrics_dir.mkdir(parents=True)
    (metrics_dir / "counter_999999.db").write_bytes(b"left by a previous run")
    gunicorn.start("api", "api", "--workers", "2")
    gunicorn.wait_healthy()
    assert not (metrics_dir / "counter_999999.db").exists()  # cleared at start
    key = gunicorn.create_customer("Acme", "acme.test")  # a CLI process: not the API's count

    def credentials(_: int) -> int:
        return gunicorn.request("GET", "/api/smtp-credentials", key=key)[0]

    def send(n: int) -> int:
        return gunicorn.request("POST", "/api/send", {"to": f"r{n}@example.org", "subject": "Hi",
                                                      "text": "x"}, key=key)[0]

    def refused(_: int) -> int:
        return gunicorn.request("POST", "/api/v1/send", {"to": "a@example.org"}, expect=401)[0]

    with ThreadPoolExecutor(8) as pool:
        statuses = [*pool.map(credentials, range(60)), *pool.map(send, range(12)),
                    *pool.map(refused, range(5))]
    assert statuses == [200] * 72 + [401] * 5
    samples = scrape(gunicorn)
    assert requests(samples, "GET", "/api/smtp-credentials", "200") == 60
    assert requests(samples, "POST", "/api/send", "200") == 12
    assert requests(samples, "POST", "/api/v1/send", "401") == 5
    assert value(samples, "mailerlogic_http_request_duration_seconds_count", method="GET",
                 endpoint="/api/smtp-credentials", status="200") == 60
    assert value(samples, "mailerlogic_events_appended_total", type="Message.Queued") == 12
    per_worker = [_credentials_in(path) for path in sorted(metrics_dir.glob("counter_*.db"))]
    assert len(per_worker) == 2 and all(per_worker) and sum(per_worker) == 60, per_worker

    gunicorn.stop_all()  # a new API process starts from zero
    gunicorn.start("api", "api", "--workers", "2")
    gunicorn.wait_healthy()
    assert requests(scrape(gunicorn), "GET", "/api/smtp-credentials", "200") == 0


def _credentials_in(path: Path) -> float:
    """The credential requests one worker's file holds."""
    for metric in MultiProcessCollector.merge([str(path)]):  # type: ignore[no-untyped-call]
        for sample in metric.samples:
            if (sample.name, sample.labels.get("endpoint")) == ("mailerlogic_http_requests_total",
                                                                "/api/smtp-credentials"):
                return float(sample.value)
    return 0.0


def test_run_all_counts_the_delivery_thread_too(embedded_stack: Stack) -> None:
    key = embedded_stack.create_customer("Acme", "acme.test")
    for n in range(3):
        embedded_stack.send(key, f"r{n}@example.org")

    def delivered() -> Samples | None:
        samples = scrape(embedded_stack)
        count = value(samples, "mailerlogic_events_appended_total", type="Message.Delivered")
        return samples if count == 3 else None

    samples = wait_for(delivered, "3 delivered events")
    assert requests(samples, "POST", "/api/send", "200") == 3
    assert value(samples, "mailerlogic_events_appended_total", type="Message.Queued") == 3
    assert value(samples, "mailerlogic_reader_lag_events", reader="projector") >= 0
    assert value(samples, "process_resident_memory_bytes") > 0  # single process: its own figures

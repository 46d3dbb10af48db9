"""The two configurations the delivery benchmark runs, as child processes on loopback.

* ``embedded``: ``mailerlogic run-all`` on a fresh data dir (SQLite, in-process log, chdb);
* ``services``: a fresh PostgreSQL database, ClickHouse database and Kafka topic, with
  ``mailerlogic api --workers 2``, ``relay``, ``consume projector`` and ``consume delivery`` x P.

``MAILERLOGIC_DELIVERY_SESSIONS`` (and, for run-all, ``MAILERLOGIC_DELIVERY_PROCESSES``) are
passed through only when the bench's own environment sets them. Every child runs in its own
process group and is killed when the configuration's context ends, even on error.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from collections.abc import Iterator
from contextlib import contextmanager
from contextlib import suppress
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path

from bench import topic
from bench import warehouse
from bench.common import LOOPBACK
from bench.common import REPO_DIR
from bench.common import Services
from bench.common import fresh_hex
from bench.http_api import _free_port
from bench.http_api import _mailerlogic
from bench.http_api import _pg_admin
from bench.http_api import _wait_healthy
from bench.http_api import _with_path

DEFAULT_SESSIONS = 8
STALL_S = 90.0  # nothing reached the sink for this long: stop waiting
PROGRESS_S = 5.0


def sessions_per_process() -> int:
    """``MAILERLOGIC_DELIVERY_SESSIONS`` as the worker reads it (default 8)."""
    return int(os.environ.get("MAILERLOGIC_DELIVERY_SESSIONS") or DEFAULT_SESSIONS)


@dataclass
class Stack:
    """A running configuration: its API port, environment and children."""

    name: str
    dir: Path
    port: int
    env: dict[str, str]
    delivery_processes: int
    children: list[tuple[str, subprocess.Popen[bytes]]] = field(default_factory=list)

    @property
    def sessions(self) -> int:
        """Concurrent SMTP sessions of all delivery processes (the baseline's ``-s``)."""
        return sessions_per_process() * self.delivery_processes

    def start(self, name: str, *args: str, wait_http: bool = False) -> None:
        """Start ``mailerlogic ARGS`` (logging to ``<dir>/<name>.log``); wait for /healthz if asked."""
        log_path = self.dir / f"{name}.log"
        with log_path.open("ab") as log:
            process = subprocess.Popen([_mailerlogic(), *args], env=self.env, cwd=REPO_DIR,
                                       stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        self.children.append((name, process))
        if wait_http:
            _wait_healthy(self.port, process, log_path)

    def check_alive(self) -> None:
        """Raise if a child has exited (with the tail of its log)."""
        for name, process in self.children:
            if process.poll() is not None:
                tail = (self.dir / f"{name}.log").read_text(errors="replace")[-3000:]
                raise RuntimeError(f"{self.name}: {name} exited {process.returncode}:\n{tail}")

    def wait_count(self, count: Callable[[], int], target: int, label: str, timeout_s: float) -> bool:
        """Until ``count() >= target`` (progress on stderr); False (printed) at the deadline or
        when nothing moved for ``STALL_S``; raises if a child died."""
        start = time.monotonic()
        last, changed, printed = count(), start, start
        while (now_count := count()) < target:
            now = time.monotonic()
            if now_count != last:
                last, changed = now_count, now
            if now - start > timeout_s or now - changed > STALL_S:
                print(f"  {label}: INCOMPLETE: {now_count:,} of {target:,} in the sink after "
                      f"{now - start:.0f}s", file=sys.stderr)
                return False
            if now - printed >= PROGRESS_S:
                printed = now
                print(f"  {label}: {now_count:,} of {target:,} in the sink ({now - start:.0f}s)",
                      file=sys.stderr)
            self.check_alive()
            time.sleep(0.05)
        return True

    def customer(self, name: str) -> str:
        """An enterprise customer (6,000 requests/min, 1 M messages/month) on bench.test: its key."""
        out = subprocess.run([_mailerlogic(), "customers", "create", "--name", name, "--email",
                              f"{name.lower().replace(' ', '-')}@bench.test", "--tier", "enterprise",
                              "--domain", "bench.test", "--json"], env=self.env, cwd=REPO_DIR,
                             capture_output=True, check=True, timeout=120)
        return str(json.loads(out.stdout)["api_key"])

    def stop(self) -> None:
        """SIGTERM every child's group, then SIGKILL what is left after 20 s."""
        for _, process in self.children:
            if process.poll() is None:
                with suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGTERM)
        for _, process in self.children:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                with suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)
        for _, process in self.children:  # a group may outlive its leader (gunicorn workers)
            with suppress(ProcessLookupError, PermissionError):
                os.killpg(process.pid, signal.SIGKILL)


def _base_env(directory: Path, port: int, relay_url: str, extra: dict[str, str]) -> dict[str, str]:
    return {**os.environ, "PORT": str(port), "MAILERLOGIC_DATA_DIR": str(directory / "var"),
            "SMTP_RELAY_URL": relay_url, "MAILERLOGIC_SECRET_KEY": os.urandom(16).hex(),
            "MAILERLOGIC_LOG_LEVEL": "WARNING", **extra}


@contextmanager
def embedded(directory: Path, relay_url: str, extra: dict[str, str] | None = None,
             customers: tuple[str, ...] = ("Bench",)) -> Iterator[tuple[Stack, list[str]]]:
    """``mailerlogic run-all`` on a fresh data dir; the customers are created before it starts."""
    directory.mkdir(parents=True, exist_ok=True)
    port = _free_port()
    env = _base_env(directory, port, relay_url, {
        "EVENT_STORE_URL": "", "KAFKA_BOOTSTRAP_SERVERS": "", "CLICKHOUSE_URL": "",
        "MAILERLOGIC_CLICKHOUSE_HTTP_URL": "", **(extra or {})})
    processes = int(os.environ.get("MAILERLOGIC_DELIVERY_PROCESSES") or 1)
    stack = Stack("embedded", directory, port, env, processes)
    try:
        keys = [stack.customer(name) for name in customers]  # before run-all opens chdb
        stack.start("run-all", "run-all", wait_http=True)
        yield stack, keys
    finally:
        stack.stop()


@contextmanager
def services(directory: Path, relay_url: str, found: Services, processes: int,
             keep: bool = False) -> Iterator[tuple[Stack, list[str]]]:
    """Fresh PostgreSQL/ClickHouse databases and Kafka topic; api, relay, projector, delivery x P."""
    postgres = os.environ.get("EVENT_STORE_URL", "")
    if not postgres.startswith("postgresql://"):
        raise SystemExit("the services configuration needs EVENT_STORE_URL=postgresql://...")
    _check_loopback(postgres)
    hex_ = fresh_hex()
    database, event_topic = f"bench_delivery_{hex_}", f"bench.delivery.{hex_}"
    directory.mkdir(parents=True, exist_ok=True)
    port = _free_port()
    env = _base_env(directory, port, relay_url, {
        "EVENT_STORE_URL": _with_path(postgres, database), "KAFKA_BOOTSTRAP_SERVERS": found.bootstrap,
        "CLICKHOUSE_URL": found.clickhouse_url(database), "MAILERLOGIC_KAFKA_TOPIC": event_topic,
        "MAILERLOGIC_KAFKA_PARTITIONS": str(max(4, processes)), "MAILERLOGIC_API_WORKERS": "2"})
    env.pop("MAILERLOGIC_DELIVERY_PROCESSES", None)  # run-all's setting: one worker per process here
    stack = Stack("services", directory, port, env, processes)
    ch = warehouse.admin(found)
    try:
        _pg_admin(postgres, f'CREATE DATABASE "{database}"')
        ch.execute(f"CREATE DATABASE {database}")
        subprocess.run([_mailerlogic(), "init-clickhouse"], env=env, cwd=REPO_DIR, check=True,
                       capture_output=True, timeout=120)
        keys = [stack.customer("Bench")]
        stack.start("api", "api", "--workers", "2", wait_http=True)
        stack.start("relay", "relay")
        stack.start("projector", "consume", "projector")
        for n in range(processes):
            stack.start(f"delivery-{n}", "consume", "delivery")
        yield stack, keys
    finally:
        stack.stop()
        if not keep:
            topic.delete(found.bootstrap, [event_topic, f"{event_topic}.dlq"], [])
            warehouse.drop(ch, [database])
            _pg_admin(postgres, f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        ch.disconnect()


def _check_loopback(url: str) -> None:
    from urllib.parse import urlsplit

    if urlsplit(url).hostname not in LOOPBACK:
        raise SystemExit(f"bench only talks to loopback services, got {url!r}")

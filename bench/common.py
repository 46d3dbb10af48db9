"""What every benchmark shares: results, the registry, the services and bounded waits."""

from __future__ import annotations

import os
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote
from urllib.parse import urlsplit

BENCH_DIR = Path(__file__).resolve().parent
REPO_DIR = BENCH_DIR.parent
DATA_DIR = BENCH_DIR / "data"
RESULTS_PATH = BENCH_DIR / "results.json"
LOOPBACK = ("127.0.0.1", "localhost", "::1")


@dataclass(frozen=True)
class Result:
    """One figure: ours against a baseline measured in the same run (higher is better)."""

    name: str
    unit: str
    ours: float
    baseline: float
    baseline_name: str
    target: float

    @property
    def ratio(self) -> float:
        """ours / baseline."""
        return self.ours / self.baseline if self.baseline else 0.0

    @property
    def passed(self) -> bool:
        """Whether the ratio reaches the target."""
        return self.ratio >= self.target

    def to_json(self) -> dict[str, object]:
        """The ``bench/results.json`` entry."""
        return {"name": self.name, "unit": self.unit, "ours": round(self.ours, 1),
                "baseline": round(self.baseline, 1), "baseline_name": self.baseline_name,
                "ratio": round(self.ratio, 3), "target": self.target}


@dataclass(frozen=True)
class Services:
    """The loopback Kafka and ClickHouse server of ``.services/env``."""

    bootstrap: str
    ch_host: str
    ch_port: int
    ch_user: str
    ch_password: str

    @classmethod
    def from_env(cls) -> Services:
        """Read ``KAFKA_BOOTSTRAP_SERVERS`` and ``CLICKHOUSE_URL``; refuse anything off-host."""
        bootstrap = os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "")
        url = os.environ.get("CLICKHOUSE_URL", "")
        if not bootstrap or not url.startswith("clickhouse://"):
            raise SystemExit("bench needs KAFKA_BOOTSTRAP_SERVERS and CLICKHOUSE_URL=clickhouse://...:"
                             " run `make bench`, or `set -a; . .services/env; set +a` first")
        parts = urlsplit(url)
        hosts = [parts.hostname or ""] + [b.rsplit(":", 1)[0] for b in bootstrap.split(",")]
        if any(host not in LOOPBACK for host in hosts):
            raise SystemExit(f"bench only talks to loopback services, got {hosts}")
        return cls(bootstrap=bootstrap, ch_host=parts.hostname or "127.0.0.1",
                   ch_port=parts.port or 9000, ch_user=unquote(parts.username or "default"),
                   ch_password=unquote(parts.password or ""))

    def clickhouse_url(self, database: str) -> str:
        """``CLICKHOUSE_URL`` of ``database``."""
        return (f"clickhouse://{self.ch_user}:{self.ch_password}@{self.ch_host}:{self.ch_port}"
                f"/{database}")


@dataclass(frozen=True)
class Options:
    """What the command line asks of every benchmark."""

    events: int
    seed: int
    services: Services
    keep: bool = False


Benchmark = Callable[[Options], list[Result]]
REGISTRY: dict[str, Benchmark] = {}


def register(name: str) -> Callable[[Benchmark], Benchmark]:
    """Decorator: add a benchmark to :data:`REGISTRY` under ``name``."""

    def add(function: Benchmark) -> Benchmark:
        REGISTRY[name] = function
        return function

    return add


def fresh_hex() -> str:
    """A short random suffix for topics, groups and databases of one run."""
    return secrets.token_hex(4)


def wait_until(check: Callable[[], bool], timeout_s: float, what: str, interval_s: float = 0.2) -> float:
    """Poll ``check`` until true; return the seconds waited, raise ``TimeoutError`` at the deadline."""
    start = time.monotonic()
    deadline = start + timeout_s
    while not check():
        if time.monotonic() >= deadline:
            raise TimeoutError(f"{what}: not done after {timeout_s:.0f}s")
        time.sleep(interval_s)
    return time.monotonic() - start

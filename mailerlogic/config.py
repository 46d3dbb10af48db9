"""Configuration: the one place that reads the environment (spec §17)."""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from mailerlogic import faults

# Event-data retention defaults: the tiers' retention_days (event_store/aggregates/customer.py).
RETENTION_DAYS, ENTERPRISE_RETENTION_DAYS = 90, 365

VARIABLES = {
    "MAILERLOGIC_DATA_DIR": "where embedded data lives (default ./var)",
    "EVENT_STORE_URL": "postgresql://user:password@host:port/db (default: SQLite in the data dir)",
    "KAFKA_BOOTSTRAP_SERVERS": "host:port[,host:port] (default: in-process log, no Kafka)",
    "CLICKHOUSE_URL": "clickhouse://user:password@host:9000/db (default: chdb in the data dir)",
    "MAILERLOGIC_CLICKHOUSE_HTTP_URL": "http(s)://[user:password@]host:port of the server's HTTP "
                                       "interface, for streamed exports (default: port 8123 on "
                                       "the CLICKHOUSE_URL host, its credentials)",
    "SMTP_RELAY_URL": "smtp://[user:pass@]host:port (default: Maildir in the data dir)",
    "DNS_NAMESERVERS": "ip[:port][,ip[:port]] (default: the system resolver)",
    "MAILERLOGIC_SECRET_KEY": "signs tracking tokens, encrypts DKIM keys (default: generated)",
    "MAILERLOGIC_WEBHOOK_SECRET": "HMAC key of the inbound webhooks (default: generated)",
    "MAILERLOGIC_PUBLIC_URL": "base URL used in tracking links (default http://127.0.0.1:8080)",
    "PORT": "HTTP port of the API (default 8080)",
    "MAILERLOGIC_KAFKA_TOPIC": "the event topic (default mailerlogic.events)",
    "MAILERLOGIC_KAFKA_PARTITIONS": "partitions when the relay creates the topic (default 4)",
    "MAILERLOGIC_API_WORKERS": "gunicorn worker processes of `mailerlogic api` (default 2)",
    "MAILERLOGIC_API_THREADS": "request threads per API worker process (default 1: sync workers; "
                               "above 1, concurrent requests' saves share one commit)",
    "MAILERLOGIC_LOG_LEVEL": "DEBUG, INFO, WARNING... (default INFO)",
    "MAILERLOGIC_SPF_INCLUDE": "the SPF include customers publish (default spf.mailerlogic.invalid)",
    "MAILERLOGIC_SMTP_HOST": "host name shown in SMTP credentials (default: the public URL's host)",
    "MAILERLOGIC_WEBHOOKS_ALLOW_PRIVATE": "1 lets webhooks target http:// and private or loopback "
                                          "addresses (tests, private networks); default 0",
    "MAILERLOGIC_RETRY_SCHEDULE": "delivery retries, seconds: first=60,factor=2,max=3600,budget=86400",
    "MAILERLOGIC_WEBHOOK_RETRY_SCHEDULE": "webhook retries, seconds: first=30,factor=2,max=3600,budget=86400",
    "MAILERLOGIC_DELIVERY_SESSIONS": "concurrent SMTP sessions (and sending threads) per delivery "
                                     "process (default 8)",
    "MAILERLOGIC_DELIVERY_MESSAGES_PER_SESSION": "messages one SMTP session carries before QUIT "
                                                 "(default 100)",
    "MAILERLOGIC_DELIVERY_PROCESSES": "delivery processes `run-all` starts on the embedded default "
                                      "(default 1: a thread of run-all)",
    "MAILERLOGIC_RETRY_LEASE": "seconds a claimed delivery retry stays invisible to other "
                               "workers; a killed worker's claims come back after it (default 300)",
    "MAILERLOGIC_FAULT_INJECTION": "tests only: crash-after-write=N / crash-after-publish=N",
    "MAILERLOGIC_RETENTION_DAYS": "days of event data kept for starter/professional (default 90)",
    "MAILERLOGIC_ENTERPRISE_RETENTION_DAYS": "days of event data kept for enterprise (default 365)",
    "MAILERLOGIC_EXPORT_TTL_HOURS": "hours an export job's file can be downloaded (default 24)",
    "MAILERLOGIC_API_URL": "the API that `mailerlogic export` talks to (default http://127.0.0.1:$PORT)",
    "MAILERLOGIC_API_KEY": "the customer API key `mailerlogic export` uses (or --api-key)",
    "MAILERLOGIC_READY_MAX_LAG": "events the read model may be behind the event store (relay + "
                                 "projector lag) before /readyz answers 503 (default 100000)",
}
EXPORT_TTL_HOURS = 24
READY_MAX_LAG = 100_000
DEFAULT_TOPIC = "mailerlogic.events"


def _secret(env: Mapping[str, str], name: str, data_dir: Path, filename: str) -> bytes:
    """The secret from the environment, else the one generated once in the data dir."""
    if env.get(name):
        return env[name].encode()
    path = data_dir / filename
    if not path.exists():
        data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)  # never readable by others
        with os.fdopen(fd, "w") as out:
            out.write(secrets.token_hex(32))
        try:
            os.link(tmp, path)  # atomic: the first process to create it wins
        except FileExistsError:
            pass
        tmp.unlink()
    return path.read_text().strip().encode()


def _days(env: Mapping[str, str], name: str, default: int) -> int:
    """A whole number of days from 1 to 36500, or ``default`` when unset."""
    return _count(env, name, default, 36500, " of days")


def _hours(env: Mapping[str, str], name: str, default: int) -> int:
    """A whole number of hours from 1 to 8784 (a year), or ``default`` when unset."""
    return _count(env, name, default, 8784, " of hours")


def api_client(env: Mapping[str, str] | None = None) -> tuple[str, str | None]:
    """``(MAILERLOGIC_API_URL, MAILERLOGIC_API_KEY)`` for CLI commands that call the API over HTTP."""
    env = os.environ if env is None else env
    url = env.get("MAILERLOGIC_API_URL") or f"http://127.0.0.1:{int(env.get('PORT') or 8080)}"
    return url.rstrip("/"), env.get("MAILERLOGIC_API_KEY") or None


def _count(env: Mapping[str, str], name: str, default: int, most: int, unit: str = "") -> int:
    """A whole number (``unit``: " of days"...) from 1 to ``most``, or ``default`` when unset."""
    text = (env.get(name) or "").strip()
    if not text:
        return default
    if not text.isascii() or not text.isdigit() or not 1 <= int(text) <= most:
        raise ValueError(f"{name} must be a whole number{unit} from 1 to {most}, not {text!r}")
    return int(text)


def child_environment(settings: Settings) -> dict[str, str]:
    """The environment of a child process: this one's, with the data dir made absolute."""
    return {**os.environ, "MAILERLOGIC_DATA_DIR": str(settings.data_dir)}


def _flag(value: str | None) -> bool:
    return (value or "").strip().lower() in ("1", "true", "yes", "on")


@dataclass(frozen=True)
class Settings:
    """Everything a process needs to build its clients."""

    data_dir: Path
    event_store_url: str | None
    kafka_bootstrap_servers: str | None
    clickhouse_url: str | None
    smtp_relay_url: str | None
    dns_nameservers: str | None
    secret_key: bytes
    webhook_secret: bytes
    public_url: str
    port: int
    kafka_topic: str
    kafka_partitions: int
    api_workers: int
    api_threads: int
    log_level: str
    fault_injection: dict[str, int]
    spf_include: str
    smtp_host: str
    webhooks_allow_private: bool
    retry_schedule: str | None
    webhook_retry_schedule: str | None = None
    retention_days: int = RETENTION_DAYS
    enterprise_retention_days: int = ENTERPRISE_RETENTION_DAYS
    clickhouse_http_url: str | None = None
    export_ttl_hours: int = EXPORT_TTL_HOURS
    delivery_sessions: int = 8
    delivery_messages_per_session: int = 100
    delivery_processes: int = 1
    retry_lease_s: int = 300
    ready_max_lag: int = READY_MAX_LAG

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Build from a mapping (default: ``os.environ``)."""
        env = os.environ if env is None else env
        data_dir = Path(env.get("MAILERLOGIC_DATA_DIR") or "./var").resolve()
        port = int(env.get("PORT") or 8080)
        public_url = (env.get("MAILERLOGIC_PUBLIC_URL") or f"http://127.0.0.1:{port}").rstrip("/")
        return cls(
            data_dir=data_dir,
            event_store_url=env.get("EVENT_STORE_URL") or None,
            kafka_bootstrap_servers=env.get("KAFKA_BOOTSTRAP_SERVERS") or None,
            clickhouse_url=env.get("CLICKHOUSE_URL") or None,
            clickhouse_http_url=env.get("MAILERLOGIC_CLICKHOUSE_HTTP_URL") or None,
            smtp_relay_url=env.get("SMTP_RELAY_URL") or None,
            dns_nameservers=env.get("DNS_NAMESERVERS") or None,
            secret_key=_secret(env, "MAILERLOGIC_SECRET_KEY", data_dir, "secret_key"),
            webhook_secret=_secret(env, "MAILERLOGIC_WEBHOOK_SECRET", data_dir, "webhook_secret"),
            public_url=public_url,
            port=port,
            kafka_topic=env.get("MAILERLOGIC_KAFKA_TOPIC") or DEFAULT_TOPIC,
            kafka_partitions=int(env.get("MAILERLOGIC_KAFKA_PARTITIONS") or 4),
            api_workers=int(env.get("MAILERLOGIC_API_WORKERS") or 2),
            api_threads=int(env.get("MAILERLOGIC_API_THREADS") or 1),
            log_level=(env.get("MAILERLOGIC_LOG_LEVEL") or "INFO").upper(),
            fault_injection=faults.parse(env.get("MAILERLOGIC_FAULT_INJECTION")),
            spf_include=env.get("MAILERLOGIC_SPF_INCLUDE") or "spf.mailerlogic.invalid",
            smtp_host=env.get("MAILERLOGIC_SMTP_HOST") or urlsplit(public_url).hostname or "127.0.0.1",
            webhooks_allow_private=_flag(env.get("MAILERLOGIC_WEBHOOKS_ALLOW_PRIVATE")),
            retry_schedule=env.get("MAILERLOGIC_RETRY_SCHEDULE") or None,
            webhook_retry_schedule=env.get("MAILERLOGIC_WEBHOOK_RETRY_SCHEDULE") or None,
            retention_days=_days(env, "MAILERLOGIC_RETENTION_DAYS", RETENTION_DAYS),
            enterprise_retention_days=_days(env, "MAILERLOGIC_ENTERPRISE_RETENTION_DAYS",
                                            ENTERPRISE_RETENTION_DAYS),
            export_ttl_hours=_hours(env, "MAILERLOGIC_EXPORT_TTL_HOURS", EXPORT_TTL_HOURS),
            delivery_sessions=_count(env, "MAILERLOGIC_DELIVERY_SESSIONS", 8, 256),
            delivery_messages_per_session=_count(env, "MAILERLOGIC_DELIVERY_MESSAGES_PER_SESSION",
                                                 100, 100_000),
            delivery_processes=_count(env, "MAILERLOGIC_DELIVERY_PROCESSES", 1, 64),
            retry_lease_s=_count(env, "MAILERLOGIC_RETRY_LEASE", 300, 86_400),
            ready_max_lag=_count(env, "MAILERLOGIC_READY_MAX_LAG", READY_MAX_LAG, 10**12, " of events"),
        )

    def retention_days_for(self, tier: str) -> int:
        """How many days of event data a customer of ``tier`` keeps (and the Events API shows)."""
        return self.enterprise_retention_days if tier == "enterprise" else self.retention_days

    @property
    def embedded(self) -> bool:
        """True when no Kafka is configured (consumers read the log in-process)."""
        return self.kafka_bootstrap_servers is None

    def kafka_group(self, name: str) -> str:
        """The consumer group of ``name``: itself on the default topic, else ``name.topic``.

        Members of one group rebalance together whatever topic they read, so stacks sharing a
        broker (tests, benchmarks, a second installation) each get groups of their own.
        """
        return name if self.kafka_topic == DEFAULT_TOPIC else f"{name}.{self.kafka_topic}"

    @property
    def dead_letter_topic(self) -> str:
        """The dead-letter topic next to the event topic."""
        return f"{self.kafka_topic}.dlq"

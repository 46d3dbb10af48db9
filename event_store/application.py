"""The eventsourcing application: persistence, get-or-raise helpers and ``save``."""

from __future__ import annotations

from typing import TYPE_CHECKING
from typing import Any
from typing import TypeVar
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError
from eventsourcing.application import Application
from eventsourcing.utils import Environment

from event_store.aggregates import ApiKey
from event_store.aggregates import Customer
from event_store.aggregates import DomainClaim
from event_store.aggregates import Message
from event_store.aggregates import Suppression
from event_store.errors import NotFound
from event_store.errors import Unauthorized
from event_store.group_commit import GroupCommit
from event_store.sqlite_append import SharedFlushRecorder

if TYPE_CHECKING:
    from collections.abc import Callable
    from collections.abc import Mapping

    from eventsourcing.persistence import ApplicationRecorder
    from eventsourcing.persistence import Recording
    from eventsourcing.persistence import TrackingRecorder

T = TypeVar("T")


# Aggregates are cached per process and fast-forwarded on every get (the events after the
# cached version are read), so other processes' writes are always seen; gets return copies.
CACHE = {"AGGREGATE_CACHE_MAXSIZE": "10000", "AGGREGATE_CACHE_FASTFORWARD": "y"}


def persistence_env(event_store_url: str | None, sqlite_path: str) -> dict[str, str]:
    """Translate ``EVENT_STORE_URL`` into the eventsourcing library's own settings."""
    if not event_store_url:
        shared_flush = {"APPLICATION_RECORDER_TOPIC": "event_store.sqlite_append:SharedFlushRecorder"} \
            if ":memory:" not in sqlite_path and not sqlite_path.startswith("file:") else {}
        return {"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": sqlite_path,
                "SQLITE_LOCK_TIMEOUT": "30", **shared_flush, **CACHE}
    from urllib.parse import unquote
    from urllib.parse import urlsplit

    url = urlsplit(event_store_url)
    if url.scheme not in ("postgresql", "postgres"):
        raise ValueError(f"EVENT_STORE_URL must be postgresql://..., got {url.scheme!r}")
    return {
        "PERSISTENCE_MODULE": "eventsourcing.postgres",
        "POSTGRES_DBNAME": url.path.lstrip("/") or "mailerlogic",
        "POSTGRES_HOST": url.hostname or "127.0.0.1",
        "POSTGRES_PORT": str(url.port or 5432),
        "POSTGRES_USER": unquote(url.username or "postgres"),
        "POSTGRES_PASSWORD": unquote(url.password or ""),
        "POSTGRES_POOL_SIZE": "10",
        "POSTGRES_MAX_OVERFLOW": "20",
        "POSTGRES_CONNECT_TIMEOUT": "10",
        "POSTGRES_LOCK_TIMEOUT": "10",
        # Saves of several MB hang in psycopg's pipeline: see event_store/postgres_append.py.
        "APPLICATION_RECORDER_TOPIC": "event_store.postgres_append:LargeSaveRecorder",
        **CACHE,
    }


SCHEMA_LOCK = 0x4D4C5343  # PostgreSQL advisory lock id taken while tables are created


def open_application(event_store_url: str | None, sqlite_path: str) -> EmailEvents:
    """The application on its database, creating tables once even when processes race.

    Several processes (API workers, relay, consumers) may start at once on a fresh
    PostgreSQL database; concurrent ``CREATE TABLE IF NOT EXISTS`` can then fail, so
    table creation is serialised with an advisory lock. SQLite serialises it itself.
    """
    env = persistence_env(event_store_url, sqlite_path)
    if not event_store_url:
        return EmailEvents(env=env)
    import psycopg

    with psycopg.connect(event_store_url, autocommit=True, connect_timeout=10) as conn:
        conn.execute("SELECT pg_advisory_lock(%s)", (SCHEMA_LOCK,))
        return EmailEvents(env=env)  # the lock ends with the connection


class EmailEvents(Application[UUID]):
    """All MailerLogic aggregates in one application, so one notification log orders them."""

    name = "mailerlogic"

    def __init__(self, env: Mapping[str, Any] | None = None) -> None:
        super().__init__(env)
        self._tracking = self.factory.tracking_recorder()  # created here, under the lock
        self.observers: list[Callable[[list[Recording[UUID]]], None]] = []  # see _notify
        # SQLite file: SharedFlushRecorder (writers queue on flock, one WAL flush for all processes)
        self._group = GroupCommit(self.events.put)

    def save(self, *objs: Any, **kwargs: Any) -> list[Recording[UUID]]:
        """Save through :class:`GroupCommit`: concurrent saves share one transaction.

        Same contract as ``Application.save``: returns when the events are durable, raises
        what the store raised for these events (another thread's conflict never fails them).
        """
        if kwargs:  # tracking and other options: the library's own path
            return super().save(*objs, **kwargs)
        events: list[Any] = []
        for obj in objs:  # ProcessingEvent.collect_events, minus its runtime Protocol checks
            if obj is None:
                continue
            collect = getattr(obj, "collect_events", None)
            if collect is None:
                events.append(obj)  # a domain event
            else:
                events.extend(collect())
        recordings: list[Recording[UUID]] = self._group.save(events)
        self._notify(recordings)
        return recordings

    def close(self) -> None:
        """Close the shared-flush recorder's own connections too."""
        if isinstance(self.recorder, SharedFlushRecorder):
            self.recorder.close()
        super().close()

    def construct_env(self, name: str, env: Mapping[str, Any] | None = None) -> Environment:
        """Use only the mapping we are given: the composition root owns configuration."""
        return Environment(name, dict(env or {}))

    def _notify(self, recordings: list[Recording[UUID]]) -> None:
        """Every save ends here once its events are durable: tell the observers (metrics)."""
        for observe in self.observers:
            observe(recordings)

    @property
    def recorder_(self) -> ApplicationRecorder:
        """The application recorder (the notification log's storage)."""
        return self.recorder

    def tracking_recorder(self) -> TrackingRecorder:
        """The tracking recorder in the same database, for relay and consumer positions."""
        return self._tracking

    def get(self, aggregate_id: UUID, kind: type[T], what: str, *, copy: bool = True) -> T:
        """Get an aggregate of ``kind`` or raise :class:`NotFound`.

        ``copy=False`` returns the cached instance itself (no deep copy): only for callers
        that read it and never trigger events on it.
        """
        try:
            aggregate: Any = self.repository.get(aggregate_id, deepcopy_from_cache=copy)
        except AggregateNotFoundError:
            raise NotFound(f"{what} not found") from None
        if not isinstance(aggregate, kind):
            raise NotFound(f"{what} not found")
        return aggregate

    def customer_for_key_hash(self, key_hash: str) -> Customer:
        """The active customer owning a key hash, or :class:`Unauthorized`."""
        try:
            index = self.get(ApiKey.create_id(key_hash), ApiKey, "key", copy=False)
        except NotFound:
            raise Unauthorized("invalid API key") from None
        if index.revoked:
            raise Unauthorized("invalid API key")
        return self.get(index.customer_id, Customer, "customer", copy=False)

    def suppression(self, customer_id: UUID, email: str, *, copy: bool = True) -> Suppression | None:
        """The suppression record of an address, or None if it was never suppressed."""
        try:
            found: Any = self.repository.get(Suppression.create_id(customer_id, email),
                                             deepcopy_from_cache=copy)
        except AggregateNotFoundError:
            return None
        return found if isinstance(found, Suppression) else None

    def domain_claim(self, domain: str) -> DomainClaim | None:
        """The index entry of a domain name, or None if no customer ever verified it."""
        try:
            found: Any = self.repository.get(DomainClaim.create_id(domain))
        except AggregateNotFoundError:
            return None
        return found if isinstance(found, DomainClaim) else None

    def get_message(self, message_id: UUID, customer_id: UUID | None = None, *,
                    copy: bool = True) -> Message:
        """A customer's message, or :class:`NotFound` (also for another customer's)."""
        message = self.get(message_id, Message, "message", copy=copy)
        if customer_id is not None and message.customer_id != customer_id:
            raise NotFound("message not found")
        return message

"""The signatures of inbound reports already received, shared by every API process (anti-replay).

One table, ``seen_signatures(digest TEXT PRIMARY KEY, expires_at BIGINT)``: in the PostgreSQL
database of ``EVENT_STORE_URL`` (every process on every machine), else in the SQLite file
``seen_signatures.sqlite`` of the data dir (every process of the machine, as the embedded event
store itself). Guarantees:

* a claim is one ``INSERT ... ON CONFLICT DO NOTHING``: of any number of concurrent requests
  carrying the same signature, in any processes, exactly one gets ``True``;
* the claim is committed (a logged table; SQLite's default full sync) before the report is
  parsed or recorded, so a replay is refused after a crash or restart too. A crash between the
  claim and the recording leaves the claim: the sender's retry of that very request is refused
  (``409``) and must be signed afresh (a new timestamp);
* the caller gives a claim back (:meth:`SqlSeenSignatures.release`) when the request is refused
  or fails after the claim, so the same signed request may be retried;
* a row is kept until its signature is stale plus one more window (processes' clocks may
  differ by that much: run NTP); each process prunes expired rows at most once a minute.

The connection is opened on first use, again after a fork or a lost PostgreSQL connection.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from typing import TYPE_CHECKING
from typing import Any
from typing import Protocol

if TYPE_CHECKING:
    from pathlib import Path

TABLE_LOCK = 0x4D4C5353  # pg_advisory_xact_lock key ("MLSS") serialising concurrent CREATEs
DDL = ("CREATE TABLE IF NOT EXISTS seen_signatures (digest TEXT PRIMARY KEY, expires_at BIGINT NOT NULL)",
       "CREATE INDEX IF NOT EXISTS seen_signatures_expiry ON seen_signatures (expires_at)")
CLAIM = "INSERT INTO seen_signatures (digest, expires_at) VALUES (?, ?) ON CONFLICT (digest) DO NOTHING"
RELEASE = "DELETE FROM seen_signatures WHERE digest = ?"
PRUNE = "DELETE FROM seen_signatures WHERE expires_at < ?"
KEEP_S = 300  # kept this long past its expiry: another process's clock may be behind ours
PRUNE_EVERY_S = 60


class SeenSignatures(Protocol):
    """Claims each verified signature once, across processes."""

    def claim(self, digest: str, expires_at: int, now: float) -> bool:
        """True for the first claim of ``digest``; False when it was already claimed."""
        ...

    def release(self, digest: str) -> None:
        """Forget a claim, so the same signed request may be tried again."""
        ...


class SqlSeenSignatures:
    """The table over one lazily opened DB-API connection, shared by threads with a lock."""

    def __init__(self, event_store_url: str | None, sqlite_path: Path) -> None:
        self._url, self._path = event_store_url, sqlite_path
        self._lock = threading.Lock()
        self._conn: Any = None
        self._pid = 0
        self._pruned = 0.0

    def claim(self, digest: str, expires_at: int, now: float) -> bool:
        """True for the first claim of ``digest``; False when it was already claimed."""
        if now - self._pruned >= PRUNE_EVERY_S:
            self._count(PRUNE, (int(now) - KEEP_S,))
            self._pruned = now
        return self._count(CLAIM, (digest, expires_at)) == 1

    def release(self, digest: str) -> None:
        """Forget a claim, so the same signed request may be tried again."""
        self._count(RELEASE, (digest,))

    def close(self) -> None:
        """Close this process's connection."""
        with self._lock:
            if self._conn is not None and self._pid == os.getpid():
                self._conn.close()
            self._conn = None

    def _count(self, sql: str, params: tuple[Any, ...]) -> int:
        with self._lock:
            connection = self._connection()
            return int(connection.execute(sql.replace("?", "%s") if self._url else sql, params).rowcount)

    def _connection(self) -> Any:
        if self._conn is not None and self._pid == os.getpid() and not getattr(self._conn, "closed", False):
            return self._conn
        self._conn, self._pid = self._open(), os.getpid()  # first use, a fork or a lost connection
        return self._conn

    def _open(self) -> Any:
        if self._url:
            import psycopg

            connection: Any = psycopg.connect(self._url, autocommit=True, connect_timeout=10)
            with connection.transaction():
                connection.execute("SELECT pg_advisory_xact_lock(%s)", (TABLE_LOCK,))
                for statement in DDL:
                    connection.execute(statement)
            return connection
        self._path.parent.mkdir(parents=True, exist_ok=True)
        connection = sqlite3.connect(self._path, timeout=30, isolation_level=None, check_same_thread=False)
        for statement in DDL:
            connection.execute(statement)
        return connection


def open_seen_signatures(event_store_url: str | None, data_dir: Path) -> SqlSeenSignatures:
    """PostgreSQL beside the event store when configured, else ``seen_signatures.sqlite`` in the data dir."""
    return SqlSeenSignatures(event_store_url, data_dir / "seen_signatures.sqlite")

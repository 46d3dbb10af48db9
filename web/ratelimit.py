"""Per-customer request rate limits that hold across API worker processes (spec §1).

Algorithm: a sliding-window approximation over fixed 60-second windows. A request at
``now`` falls in window ``now // 60``; recent use is estimated as
``floor(previous * (60 - elapsed) / 60) + current``: the previous window's count weighted
by the part of it still inside the last minute. So a burst at the end of one minute cannot
be followed by a second full burst at the start of the next. ``X-RateLimit-Reset`` is the
end of the current window. Only allowed requests are counted: refusals use no quota.

Guarantees: a window's count only grows by one atomic conditional UPSERT
(``DO UPDATE SET count = count + 1 WHERE count < cap ... RETURNING``), so concurrent
processes never allow more than ``limit`` in a window. Each process reads the previous
window's count once per key (it is final once that window has passed) and prunes older
windows when its clock enters a new one. Counters are not precious: a crash may lose the
last increments (SQLite ``synchronous=NORMAL``; an UNLOGGED PostgreSQL table), which only
forgives a few requests. Windows come from the callers' clocks: run NTP.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from typing import Any
from typing import Protocol

from event_store.file_lock import FileLock

if TYPE_CHECKING:
    import psycopg

WINDOW = 60
SCHEMA_LOCK = 0x6D6C726C  # pg_advisory_xact_lock key ("mlrl") serialising concurrent CREATEs
COLUMNS = 'key TEXT NOT NULL, "window" BIGINT NOT NULL, count INTEGER NOT NULL, PRIMARY KEY (key, "window")'
HIT = ('INSERT INTO ratelimit_counters AS c (key, "window", count) VALUES (%s, %s, 1) ON CONFLICT'
       ' (key, "window") DO UPDATE SET count = c.count + 1 WHERE c.count < %s RETURNING count')
COUNT = 'SELECT count FROM ratelimit_counters WHERE key = %s AND "window" = %s'
PRUNE = 'DELETE FROM ratelimit_counters WHERE "window" < %s'


@dataclass(frozen=True)
class Decision:
    """The answer to one request: allowed or not, and what the headers say."""

    allowed: bool
    limit: int
    remaining: int
    reset: int
    retry_after: int


class RateLimiter(Protocol):
    """Counts one request of ``key`` against ``limit`` per minute."""

    def hit(self, key: str, limit: int, now: float) -> Decision:
        """Record one request at ``now`` (Unix seconds) if the limit allows it."""
        ...


def headers(decision: Decision) -> dict[str, str]:
    """The ``X-RateLimit-*`` headers, plus ``Retry-After`` on a refusal."""
    out = {"X-RateLimit-Limit": str(decision.limit),
           "X-RateLimit-Remaining": str(decision.remaining),
           "X-RateLimit-Reset": str(decision.reset)}
    if not decision.allowed:
        out["Retry-After"] = str(decision.retry_after)
    return out


def retry_after(previous: int, count: int, limit: int, elapsed: float) -> int:
    """Whole seconds until the estimate leaves room for one more request (at least 1)."""
    if count < limit:  # the carry from the previous window decays within this one
        wait = WINDOW * (1 - (limit - count) / previous) - elapsed
    else:  # full on its own: the next window starts with a carry of `count`
        wait = WINDOW - elapsed + (WINDOW * (1 - limit / count) if count else 0.0)
    return max(1, int(wait) + 1)


class _Windowed:
    """The algorithm; subclasses store the counts. One lock per process serialises hits."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._window = -1
        self._previous: dict[tuple[str, int], int] = {}

    def hit(self, key: str, limit: int, now: float) -> Decision:
        """Record one request at ``now`` (Unix seconds) if the limit allows it."""
        window = int(now // WINDOW)
        elapsed = now - window * WINDOW
        with self._lock:
            previous = self._previous_count(key, window)
            cap = limit - int(previous * (WINDOW - elapsed) / WINDOW)  # the limit minus the carry
            count = self._increment(key, window, cap) if cap > 0 else None
        reset = (window + 1) * WINDOW
        if count is not None:
            return Decision(True, limit, max(0, cap - count), reset, 0)
        return Decision(False, limit, 0, reset, retry_after(previous, max(cap, 0), limit, elapsed))

    def _previous_count(self, key: str, window: int) -> int:
        if window > self._window:  # this process entered a new window: forget and prune
            self._window, self._previous = window, {}
            self._prune(window - 1)
        previous = self._previous.get((key, window))
        if previous is None:
            previous = self._previous[(key, window)] = self._count(key, window - 1)
        return previous

    def _count(self, key: str, window: int) -> int:
        rows = self._execute(COUNT, (key, window), write=False)
        return int(rows[0][0]) if rows else 0

    def _increment(self, key: str, window: int, cap: int) -> int | None:
        """The new count, or None when the count has already reached ``cap``."""
        rows = self._execute(HIT, (key, window, cap), write=True)
        return int(rows[0][0]) if rows else None

    def _prune(self, oldest: int) -> None:
        self._execute(PRUNE, (oldest,), write=True)

    def _execute(self, sql: str, params: tuple[Any, ...], write: bool) -> list[Any]:
        raise NotImplementedError


class InMemoryRateLimiter(_Windowed):
    """Counts in this process only: unit tests and the single-process embedded server."""

    def __init__(self) -> None:
        super().__init__()
        self._counts: dict[tuple[str, int], int] = {}

    def _count(self, key: str, window: int) -> int:
        return self._counts.get((key, window), 0)

    def _increment(self, key: str, window: int, cap: int) -> int | None:
        count = self._counts.get((key, window), 0)
        if count >= cap:
            return None
        self._counts[(key, window)] = count + 1
        return count + 1

    def _prune(self, oldest: int) -> None:
        self._counts = {k: n for k, n in self._counts.items() if k[1] >= oldest}


class SqliteRateLimiter(_Windowed):
    """Counts in a small SQLite file (WAL) shared by the processes of one machine.

    Writers queue on ``flock`` of ``<path>.lock``: the kernel wakes the next one as soon as
    the lock is free, where SQLite's busy handler sleeps 1, 2, 5... ms (it starved one of two
    busy processes for 0.6 s). ``busy_timeout`` remains the backstop.
    """

    def __init__(self, path: str | Path, busy_timeout: float = 5.0) -> None:
        super().__init__()
        self._path, self._timeout = str(path), busy_timeout
        self._pid = 0
        self._writers = FileLock(f"{self._path}.lock")
        self._db: sqlite3.Connection | None = None
        if not Path(path).exists():
            self._create()

    def _create(self) -> None:
        # Switching to WAL ignores the busy timeout when processes start together, so the file
        # is built aside and linked into place: the first process wins, the others use it.
        tmp = f"{self._path}.{os.getpid()}.{threading.get_ident()}.tmp"
        with closing(sqlite3.connect(tmp, isolation_level=None)) as db:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute(f"CREATE TABLE IF NOT EXISTS ratelimit_counters ({COLUMNS}) WITHOUT ROWID")
        try:
            os.link(tmp, self._path)
        except FileExistsError:
            pass
        os.unlink(tmp)

    def _conn(self) -> sqlite3.Connection:
        if self._db is None or self._pid != os.getpid():  # never use a connection across fork
            self._db = sqlite3.connect(self._path, timeout=self._timeout, isolation_level=None,
                                       check_same_thread=False)
            self._db.execute("PRAGMA synchronous=NORMAL")  # counters may lose their last increments
            self._pid = os.getpid()
        return self._db

    def _execute(self, sql: str, params: tuple[Any, ...], write: bool) -> list[Any]:
        # One autocommit statement is atomic; fetchall runs it to completion, which commits.
        db, sql = self._conn(), sql.replace("%s", "?")
        if not write:
            return db.execute(sql, params).fetchall()
        with self._writers:
            return db.execute(sql, params).fetchall()

    def close(self) -> None:
        """Close this process's connection."""
        with self._lock:
            if self._db is not None and self._pid == os.getpid():
                self._db.close()
                self._writers.close()
            self._db = None


class PostgresRateLimiter(_Windowed):
    """Counts in PostgreSQL, shared by every process on every machine (one connection each)."""

    def __init__(self, url: str) -> None:
        super().__init__()
        self._url = url
        self._cursor: psycopg.Cursor[Any] | None = self._connect()
        with self._cursor.connection.transaction():  # the lock serialises concurrent starters
            self._cursor.execute("SELECT pg_advisory_xact_lock(%s)", (SCHEMA_LOCK,))
            self._cursor.execute(f"CREATE UNLOGGED TABLE IF NOT EXISTS ratelimit_counters ({COLUMNS})")

    def _connect(self) -> psycopg.Cursor[Any]:
        import psycopg

        self._pid = os.getpid()
        return psycopg.connect(self._url, autocommit=True).cursor()

    def _execute(self, sql: str, params: tuple[Any, ...], write: bool) -> list[Any]:
        if self._cursor is None or self._cursor.connection.closed or self._pid != os.getpid():
            self._cursor = self._connect()  # after a close, a lost connection or a fork
        cursor = self._cursor.execute(sql, params)
        return cursor.fetchall() if cursor.description else []

    def close(self) -> None:
        """Close this process's connection."""
        with self._lock:
            if self._cursor is not None and self._pid == os.getpid():
                self._cursor.connection.close()
            self._cursor = None


def open_rate_limiter(event_store_url: str | None, data_dir: Path) -> RateLimiter:
    """PostgreSQL beside the event store when configured, else ``ratelimit.sqlite`` in the data dir."""
    if event_store_url:
        return PostgresRateLimiter(event_store_url)
    data_dir.mkdir(parents=True, exist_ok=True)
    return SqliteRateLimiter(data_dir / "ratelimit.sqlite")

"""Appending to the SQLite event store with one fsync shared by every process of the machine.

eventsourcing's SQLite recorder commits each transaction with ``synchronous=FULL``: the commit
calls ``fsync`` on the write-ahead log *while holding SQLite's write lock*, so writers of all
processes queue behind one another's disk flushes (about 130-180 µs each here) and the event
store tops out near one event per flush.

:class:`SharedFlushRecorder` (the library's recorder, chosen with its ``APPLICATION_RECORDER_TOPIC``)
writes the same rows to the same table but splits the commit in two, the way PostgreSQL's group commit does:

1. **Write**, under the writers' lock (:class:`~event_store.file_lock.FileLock`): ``BEGIN
   IMMEDIATE``, the inserts, ``COMMIT`` with ``synchronous=NORMAL``, which hands the WAL frames
   to the kernel without flushing them; then the machine-wide *written* counter is bumped. This
   takes some 15 µs, so the next writer gets the lock at once.
2. **Flush**, outside that lock (:class:`GroupSync`): the save returns only once the
   machine-wide *synced* counter has reached its own number. The first waiter takes the flush
   lock, reads *written*, ``fdatasync``\\ s the WAL (which makes every frame written so far
   durable, whoever wrote it) and publishes *synced*. Waiters queued behind it find their
   number already covered and return without a system call, so one flush serves every save
   that committed while the previous flush ran, across processes.

A save therefore returns only when its events are on disk, exactly as with ``FULL``. If a
checkpoint moves the frames into the database file before our flush, SQLite itself syncs the
WAL before copying and the database file after (``synchronous=NORMAL`` does that for
checkpoints), so the events are durable either way. The WAL file stays the same file while a
connection is open (SQLite deletes it only when the last connection closes), and this
recorder keeps its connection open for the life of the process.

The counters live in a 16-byte shared file beside the database (``<db>.sync``), mapped into
every process; they only ever grow, so a stale file left by a crash is harmless.
"""

from __future__ import annotations

import mmap
import os
import sqlite3
import struct
import threading
from collections.abc import Sequence
from typing import Any
from uuid import UUID

from eventsourcing.persistence import IntegrityError
from eventsourcing.persistence import StoredEvent
from eventsourcing.sqlite import SQLiteApplicationRecorder
from eventsourcing.sqlite import SQLiteDatastore

from event_store.file_lock import FileLock

_COUNTERS = struct.Struct("<QQ")  # written, synced


class GroupSync:
    """Machine-wide group flush of one SQLite database's write-ahead log."""

    def __init__(self, db_path: str) -> None:
        self._db_path = db_path
        self._lock = FileLock(f"{db_path}.synclock")
        self._pid = 0
        self._map: mmap.mmap | None = None
        self._wal = -1
        self._thread_lock = threading.Lock()
        self.flushes = 0  # fdatasync calls made by this process (tests, metrics)

    def _counters(self) -> mmap.mmap:
        if self._pid != os.getpid() or self._map is None:
            with self._thread_lock:
                if self._pid != os.getpid() or self._map is None:
                    fd = os.open(f"{self._db_path}.sync", os.O_RDWR | os.O_CREAT, 0o600)
                    try:
                        if os.fstat(fd).st_size < _COUNTERS.size:
                            os.posix_fallocate(fd, 0, _COUNTERS.size)  # zero-filled, atomic enough
                        self._map = mmap.mmap(fd, _COUNTERS.size)
                    finally:
                        os.close(fd)
                    self._wal, self._pid = -1, os.getpid()
        return self._map

    def read(self) -> tuple[int, int]:
        """(written, synced)."""
        written, synced = _COUNTERS.unpack_from(self._counters(), 0)
        return int(written), int(synced)

    def written(self) -> int:
        """Count one more committed write; call under the writers' lock, after ``COMMIT``."""
        counters = self._counters()
        number = int(struct.unpack_from("<Q", counters, 0)[0]) + 1
        struct.pack_into("<Q", counters, 0, number)
        return number

    def wait_durable(self, number: int) -> None:
        """Return once write ``number`` (and every earlier one) is flushed to disk."""
        counters = self._counters()
        if struct.unpack_from("<Q", counters, 8)[0] >= number:
            return
        with self._lock:
            if struct.unpack_from("<Q", counters, 8)[0] >= number:
                return  # the flush we queued behind covered us
            target = int(struct.unpack_from("<Q", counters, 0)[0])
            os.fdatasync(self._wal_fd())
            self.flushes += 1
            if target > struct.unpack_from("<Q", counters, 8)[0]:
                struct.pack_into("<Q", counters, 8, target)

    def _wal_fd(self) -> int:
        if self._wal < 0:
            self._wal = os.open(f"{self._db_path}-wal", os.O_RDONLY)
        return self._wal


class SharedFlushRecorder(SQLiteApplicationRecorder):
    """eventsourcing's SQLite application recorder with the shared flush and one-statement reads.

    Chosen through the library's ``APPLICATION_RECORDER_TOPIC`` for a file database; the
    library's ``EventStore.put`` still maps events and builds the recordings.
    """

    def __init__(self, datastore: SQLiteDatastore, events_table_name: str = "stored_events") -> None:
        super().__init__(datastore, events_table_name)
        self._db_path = datastore.pool.db_name
        self._timeout = float(datastore.pool.lock_timeout or 30)
        self._lock = FileLock(f"{self._db_path}.writelock")
        self.sync = GroupSync(self._db_path)
        self._conn: sqlite3.Connection | None = None
        self._pid = 0
        self._readers = threading.local()

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None or self._pid != os.getpid():
            conn = self._connect()
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")  # the flush is GroupSync's
            self._conn, self._pid = conn, os.getpid()
        return self._conn

    def _connect(self) -> sqlite3.Connection:
        return sqlite3.connect(self._db_path, isolation_level=None, check_same_thread=False,
                               timeout=self._timeout)

    def insert_events(self, stored_events: Sequence[StoredEvent], **kwargs: Any) -> Sequence[int] | None:
        """Write the events in one transaction; return their notification ids once durable."""
        if kwargs:  # tracking records and other options: the library's own transaction
            return super().insert_events(stored_events, **kwargs)
        rows = [(s.originator_id.hex if isinstance(s.originator_id, UUID) else s.originator_id,
                 s.originator_version, s.topic, s.state) for s in stored_events]
        with self._lock:  # GroupCommit serialises a process's threads; this, the processes
            conn = self._connection()
            conn.execute("BEGIN IMMEDIATE")
            ids: list[int] = []
            try:
                for row in rows:
                    ids.append(conn.execute(self.insert_events_statement, row).lastrowid or 0)
                conn.execute("COMMIT")
            except BaseException as exc:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                if isinstance(exc, sqlite3.IntegrityError):  # a version already taken
                    raise IntegrityError(exc) from exc
                raise
            number = self.sync.written()
        self.sync.wait_durable(number)
        return ids

    def select_events(self, originator_id: UUID | str, *, gt: int | None = None,
                      lte: int | None = None, desc: bool = False,
                      limit: int | None = None) -> list[StoredEvent]:
        """The library's ``select_events`` in one statement on a per-thread connection.

        The library's version opens a pooled transaction around each read (four statements);
        a repository get that fast-forwards a cached aggregate reads here on every request.
        """
        sql = "SELECT originator_version, topic, state FROM stored_events WHERE originator_id=?"
        params: list[Any] = [originator_id.hex if isinstance(originator_id, UUID) else originator_id]
        if gt is not None:
            sql += " AND originator_version>?"
            params.append(gt)
        if lte is not None:
            sql += " AND originator_version<=?"
            params.append(lte)
        sql += " ORDER BY originator_version DESC" if desc else " ORDER BY originator_version"
        if limit is not None:
            sql += " LIMIT ?"
            params.append(limit)
        oid = originator_id if isinstance(originator_id, UUID) else UUID(originator_id)
        return [StoredEvent(originator_id=oid, originator_version=version, topic=topic, state=state)
                for version, topic, state in self._reader().execute(sql, params)]

    def _reader(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._readers, "conn", None)
        if conn is None or getattr(self._readers, "pid", 0) != os.getpid():
            conn = self._connect()
            self._readers.conn, self._readers.pid = conn, os.getpid()
        return conn

    def close(self) -> None:
        """Close this process's writer connection (and this thread's reader)."""
        if self._conn is not None and self._pid == os.getpid():
            self._conn.close()
        self._conn = None
        reader = getattr(self._readers, "conn", None)
        if reader is not None and getattr(self._readers, "pid", 0) == os.getpid():
            reader.close()
        self._readers.conn = None

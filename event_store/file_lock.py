"""A lock shared by the threads of a process and by the processes of one machine.

SQLite lets one writer in at a time; a writer that finds the database locked sleeps in
SQLite's busy handler (1, 2, 5 ... 100 ms) and retries, so under load some requests wait far
longer than the write they queue behind. Writers that queue on ``flock`` instead are woken by
the kernel the moment the lock is released. The busy timeout remains the backstop for writers
that do not take this lock.
"""

from __future__ import annotations

import fcntl
import os
import threading
from types import TracebackType


class FileLock:
    """``with lock:`` holds ``path`` exclusively (``flock``) and a thread lock.

    ``flock`` excludes other open file descriptions, not other threads sharing one, hence the
    thread lock. The descriptor is reopened after a fork.
    """

    def __init__(self, path: str) -> None:
        self._path = path
        self._thread_lock = threading.Lock()
        self._fd, self._pid = -1, 0

    def __enter__(self) -> FileLock:
        self._thread_lock.acquire()
        try:
            if self._pid != os.getpid():
                self._fd = os.open(self._path, os.O_RDWR | os.O_CREAT, 0o600)
                self._pid = os.getpid()
            fcntl.flock(self._fd, fcntl.LOCK_EX)
        except BaseException:
            self._thread_lock.release()
            raise
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        try:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
        finally:
            self._thread_lock.release()

    def close(self) -> None:
        """Close this process's descriptor (the next ``with`` reopens it)."""
        with self._thread_lock:
            if self._pid == os.getpid():
                os.close(self._fd)
            self._fd, self._pid = -1, 0

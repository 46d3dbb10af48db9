"""Process-wide exclusive roles: exactly one relay per event store.

The relay's at-least-once contract assumes one publisher per notification log. A second
relay started by mistake (or as a hot standby) waits here until the holder dies: a
PostgreSQL advisory lock (released with the holder's connection, so also on kill -9) or,
on the embedded default, an ``flock`` on a file in the data dir (released by the kernel).
"""

from __future__ import annotations

import fcntl
import logging
import zlib
from collections.abc import Callable
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import threading

    from mailerlogic.config import Settings

log = logging.getLogger(__name__)


@contextmanager
def exclusive(settings: Settings, role: str, stop: threading.Event,
              poll_s: float = 1.0) -> Iterator[bool]:
    """Hold ``role`` for this event store; yields False if ``stop`` was set while waiting."""
    if settings.event_store_url:
        with _postgres(settings.event_store_url, role, stop, poll_s) as held:
            yield held
    else:
        with _file(settings, role, stop, poll_s) as held:
            yield held


@contextmanager
def _postgres(url: str, role: str, stop: threading.Event, poll_s: float) -> Iterator[bool]:
    import psycopg

    key = zlib.crc32(f"mailerlogic/{role}".encode())
    with psycopg.connect(url, autocommit=True, connect_timeout=10) as conn:

        def take() -> bool:
            row = conn.execute("SELECT pg_try_advisory_lock(%s)", (key,)).fetchone()
            return bool(row and row[0])

        yield _wait(take, role, stop, poll_s)


@contextmanager
def _file(settings: Settings, role: str, stop: threading.Event, poll_s: float) -> Iterator[bool]:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    with (settings.data_dir / f"{role}.lock").open("w") as handle:

        def take() -> bool:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return False
            return True

        yield _wait(take, role, stop, poll_s)


def _wait(take: Callable[[], bool], role: str, stop: threading.Event, poll_s: float) -> bool:
    waited = False
    while not stop.is_set():
        if take():
            if waited:
                log.info("%s: the previous holder is gone; taking over", role)
            return True
        if not waited:
            log.warning("%s: another process holds this role; standing by", role)
            waited = True
        stop.wait(poll_s)
    return False

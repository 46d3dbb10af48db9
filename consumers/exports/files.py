"""Export files: written whole or not at all, and deleted once expired.

A file is written to ``<name>.<random>.part`` (a name of its own per run, so two runs of one
job never write into each other), flushed and fsynced, given its expiry time as modification
time, then renamed to ``<name>`` (atomic) and the folder fsynced: a reader sees the old file or
the whole new one, never a part. :func:`sweep` deletes finished files whose modification time
(their expiry) has passed, and parts left by a crash once they are :data:`STALE_PART` old.
"""

from __future__ import annotations

import os
import secrets
from datetime import timedelta
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterator
    from datetime import datetime
    from pathlib import Path
    from typing import BinaryIO

STALE_PART = timedelta(hours=6)  # longer than any run (the Kafka source allows one hour per batch)
PART = ".part"


def part_path(folder: Path, name: str) -> Path:
    """A fresh temporary path for ``name`` in ``folder`` (created if missing)."""
    folder.mkdir(parents=True, exist_ok=True)
    return folder / f"{name}.{secrets.token_hex(4)}{PART}"


def open_part(path: Path) -> BinaryIO:
    """The part file, opened for writing."""
    return path.open("wb")


def publish(part: Path, out: BinaryIO, name: str, expires_at: datetime) -> Path:
    """Make the written ``part`` durable and visible as ``name``, expiring at ``expires_at``."""
    out.flush()
    os.fsync(out.fileno())
    out.close()
    stamp = expires_at.timestamp()
    os.utime(part, (stamp, stamp))
    final = part.parent / name
    os.replace(part, final)
    descriptor = os.open(part.parent, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
    return final


def discard(part: Path) -> None:
    """Remove a part that will not be published."""
    part.unlink(missing_ok=True)


def sweep(folder: Path, now: datetime) -> list[str]:
    """Delete expired files and stale parts; the names deleted."""
    if not folder.is_dir():
        return []
    deleted = []
    for path in _files(folder):
        try:
            modified = path.stat().st_mtime
        except FileNotFoundError:
            continue
        limit = (now - STALE_PART).timestamp() if path.name.endswith(PART) else now.timestamp()
        if modified <= limit:
            path.unlink(missing_ok=True)
            deleted.append(path.name)
    return deleted


def _files(folder: Path) -> Iterator[Path]:
    with os.scandir(folder) as entries:
        for entry in entries:
            if entry.is_file(follow_symlinks=False):
                yield folder / entry.name

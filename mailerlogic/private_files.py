"""Files at rest are the owner's only: the event store, its WAL, secrets, exports, mail.

Every MailerLogic process runs with umask ``077`` (set by the CLI before anything opens a
file), so whatever it creates — the SQLite event store and its ``-wal``/``-shm`` files (SQLite
gives them the database file's mode), the generated secret files, export files, the Maildir,
chdb's parts, status files — is ``0600`` and every folder ``0700``. The data dir itself is made
(or tightened, for one made by an earlier version or by hand) ``0700``, which alone keeps other
users out of everything under it, and the files directly in it are tightened to ``0600``.
"""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

UMASK = 0o077
DIR_MODE = 0o700
FILE_MODE = 0o600

log = logging.getLogger(__name__)


def restrict_process() -> None:
    """New files and folders of this process (and its children) are the owner's only."""
    os.umask(UMASK)


def private_dir(path: Path) -> Path:
    """``path`` made or tightened to ``0700``, with the files directly in it ``0600``."""
    path.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
    _tighten(path, DIR_MODE)
    for entry in path.iterdir():
        if entry.is_file() and not entry.is_symlink():
            _tighten(entry, FILE_MODE)
    return path


def _tighten(path: Path, mode: int) -> None:
    try:
        info = path.stat()
        if info.st_uid == os.getuid() and stat.S_IMODE(info.st_mode) & ~mode:
            path.chmod(stat.S_IMODE(info.st_mode) & mode)
    except FileNotFoundError:  # another process removed it meanwhile (a finished temp file)
        return
    except PermissionError as exc:
        log.warning("cannot make %s owner-only: %s", path, exc)

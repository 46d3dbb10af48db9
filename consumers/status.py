"""Where each consumer process says how it is: ``<data dir>/status/<name>.<pid>.json``.

A consumer retrying a transient failure (``consumers.loop.Resilience``) writes ``degraded`` with
the reason; the first success after that writes ``ok``. ``/readyz`` reads every file whose
process is alive and reports ``degraded`` while any consumer is. Files of dead processes are
ignored (and removed when read), so a kill -9 never leaves a stale ``degraded`` behind.
"""

from __future__ import annotations

import json
import os
import threading
from datetime import UTC
from datetime import datetime
from pathlib import Path
from typing import Any

# A degraded status is rewritten at most this often (the reason of a long outage stays fresh).
REWRITE_S = 5.0


class StatusFile:
    """A ``consumers.loop.Health`` that writes the process's state to its status file."""

    def __init__(self, directory: Path, name: str) -> None:
        self.name = name
        self.path = directory / f"{name}.{os.getpid()}.json"
        self._lock = threading.Lock()
        self._state = ""
        self._written = 0.0
        directory.mkdir(parents=True, exist_ok=True)
        self.recovered()

    def degraded(self, reason: str) -> None:
        """A dependency is failing and being retried."""
        self._write("degraded", reason)

    def recovered(self) -> None:
        """The dependency answers again."""
        self._write("ok", "")

    def remove(self) -> None:
        """The process is stopping."""
        self.path.unlink(missing_ok=True)

    def _write(self, state: str, reason: str) -> None:
        now = datetime.now(UTC)
        with self._lock:
            if state == self._state and now.timestamp() - self._written < REWRITE_S:
                return
            body = {"name": self.name, "pid": os.getpid(), "state": state, "reason": reason[:500],
                    "at": now.isoformat(timespec="seconds")}
            temporary = self.path.with_suffix(".tmp")
            temporary.write_text(json.dumps(body), encoding="utf-8")
            temporary.replace(self.path)
            self._state, self._written = state, now.timestamp()


def read_all(directory: Path) -> list[dict[str, Any]]:
    """The statuses of the live consumer processes, by name then pid."""
    found: list[dict[str, Any]] = []
    for path in sorted(directory.glob("*.json")) if directory.is_dir() else []:
        try:
            body = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue  # being replaced right now, or torn by a crash: the next write fixes it
        if not _alive(int(body.get("pid", 0))):
            path.unlink(missing_ok=True)
            continue
        found.append(body)
    return found


def _alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True

"""Dead letters on the embedded default: an append-only NDJSON file in the data dir."""

from __future__ import annotations

import base64
import json
import os
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pathlib import Path

    from consumers.records import Record


class FileDeadLetters:
    """One JSON line per dead letter: origin, reason and the original bytes (base64)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._pending: list[str] = []

    def send(self, record: Record, reason: str) -> None:
        """Queue one dead letter."""
        self._pending.append(json.dumps({
            "topic": record.topic, "partition": record.partition, "offset": record.offset,
            "reason": reason, "value_b64": base64.b64encode(record.value).decode(),
        }))

    def flush(self) -> None:
        """Append and fsync the queued lines."""
        if not self._pending:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a", encoding="utf-8") as out:
            out.write("\n".join(self._pending) + "\n")
            out.flush()
            os.fsync(out.fileno())
        self._pending.clear()

"""Counting the rows of a file as its bytes go by, and throttling progress records (pure).

Rows are records: NDJSON lines, or CSV records after the header line. A CSV field may hold a
line break inside its double quotes (a tag, an address), so a CSV line break ends a record
only when the double quotes seen so far are balanced (``""`` inside a field counts twice).
"""

from __future__ import annotations

from dataclasses import dataclass

PROGRESS_EVERY_S = 2.0  # a progress record at most this often...
PROGRESS_STEP = 5  # ...unless the percentage moved this many points


class RowCounter:
    """Complete rows seen so far in a stream of ``csv`` (with a header) or ``ndjson`` bytes."""

    def __init__(self, fmt: str) -> None:
        self.csv = fmt == "csv"
        self.records = 0
        self._quoted = False  # inside a quoted CSV field at the end of the bytes seen

    def feed(self, chunk: bytes) -> int:
        """Take the next bytes; the number of complete rows so far."""
        if not self.csv:
            self.records += chunk.count(b"\n")
            return self.records
        if b'"' not in chunk:
            if not self._quoted:
                self.records += chunk.count(b"\n")
            return self.rows
        lines = chunk.split(b"\n")
        for line in lines[:-1]:
            self._quoted ^= line.count(b'"') % 2 == 1
            if not self._quoted:
                self.records += 1
        self._quoted ^= lines[-1].count(b'"') % 2 == 1
        return self.rows

    @property
    def rows(self) -> int:
        """Complete rows (the CSV header line is not a row)."""
        return max(0, self.records - 1) if self.csv else self.records


@dataclass
class ProgressThrottle:
    """Says when to record progress: the percentage rose, and ``PROGRESS_EVERY_S`` passed since
    the last record or it rose by ``PROGRESS_STEP`` points. Percentages stay below 100 (the
    finished file says 100), so a job records at most 99 progress events."""

    total: int
    started: float
    last_percent: int = 0
    last_at: float = 0.0

    def __post_init__(self) -> None:
        self.last_at = self.started

    def due(self, rows: int, now: float) -> int | None:
        """The percentage to record now, or None."""
        if self.total <= 0:
            return None
        percent = min(99, rows * 100 // self.total)
        if percent <= self.last_percent:
            return None
        if now - self.last_at < PROGRESS_EVERY_S and percent - self.last_percent < PROGRESS_STEP:
            return None
        self.last_percent, self.last_at = percent, now
        return percent

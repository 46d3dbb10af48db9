"""The results table and ``bench/results.json``."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from bench.common import Result

HEADER = ("name", "unit", "ours", "baseline", "baseline_name", "ratio", "target", "pass/fail")


def table(results: Sequence[Result]) -> str:
    """A plain-text table, one row per result."""
    rows = [HEADER] + [
        (r.name, r.unit, _number(r.ours), _number(r.baseline), r.baseline_name, f"{r.ratio:.2f}",
         f"{r.target:.2f}", "pass" if r.passed else "FAIL")
        for r in results
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(len(HEADER))]
    numeric = {2, 3, 5, 6}
    lines = ["  ".join(cell.rjust(w) if i in numeric else cell.ljust(w)
                       for i, (cell, w) in enumerate(zip(row, widths, strict=True))).rstrip()
             for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _number(value: float) -> str:
    """Thousands separators; one decimal for small figures (latencies in ms)."""
    return f"{value:,.1f}" if abs(value) < 100 else f"{value:,.0f}"


def write(results: Sequence[Result], path: Path) -> None:
    """Write the results as a JSON list."""
    path.write_text(json.dumps([r.to_json() for r in results], indent=2) + "\n", encoding="utf-8")

"""Rows counted as the bytes go by, whatever the chunk boundaries; progress throttled."""

from __future__ import annotations

import pytest

from consumers.exports.counting import ProgressThrottle
from consumers.exports.counting import RowCounter

CSV = (b'"id","tag","event_data"\n'
       b'"1","plain","{}"\n'
       b'"2","line\nbreak","{\\"a\\":1}"\n'
       b'"3","say ""hi"",\nok\n","{}"\n'
       b'"4","","{}"\n')
NDJSON = b'{"id":"1","tag":"a\\nb"}\n{"id":"2","tag":"say \\"hi\\""}\n'


def count(data: bytes, fmt: str, cuts: list[int]) -> list[int]:
    counter, seen, start = RowCounter(fmt), [], 0
    for cut in [*cuts, len(data)]:
        seen.append(counter.feed(data[start:cut]))
        start = cut
    return seen


@pytest.mark.parametrize("cut", range(len(CSV) + 1))
def test_csv_rows_with_quoted_line_breaks_at_every_chunk_boundary(cut: int) -> None:
    assert count(CSV, "csv", [cut])[-1] == 4


def test_csv_rows_byte_by_byte_and_only_complete_rows() -> None:
    counter = RowCounter("csv")
    seen = [counter.feed(CSV[n:n + 1]) for n in range(len(CSV))]
    assert seen[-1] == 4 and seen == sorted(seen)
    assert RowCounter("csv").feed(CSV[:CSV.index(b'"3"')]) == 2  # header + two rows
    assert RowCounter("csv").feed(b'"id"\n') == 0 and RowCounter("csv").feed(b"") == 0


def test_ndjson_rows_are_lines() -> None:
    assert count(NDJSON, "ndjson", [5, 30]) == [0, 1, 2]


def test_progress_is_recorded_every_five_points_or_after_two_seconds() -> None:
    throttle = ProgressThrottle(total=1000, started=100.0)
    assert throttle.due(10, 100.1) is None  # 1 %: too little, too soon
    assert throttle.due(50, 100.2) == 5
    assert throttle.due(70, 100.3) is None
    assert throttle.due(70, 102.3) == 7  # two seconds later: any rise
    assert throttle.due(70, 110.0) is None  # no rise, no record
    assert throttle.due(2000, 110.1) == 99  # more rows than counted: never 100 before the end
    assert throttle.due(3000, 120.0) is None


def test_no_progress_without_a_total() -> None:
    assert ProgressThrottle(total=0, started=0.0).due(10, 10.0) is None

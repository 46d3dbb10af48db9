"""Export files appear whole under their name, expire at their modification time; parts go when stale."""

from __future__ import annotations

import os
from datetime import UTC
from datetime import datetime
from datetime import timedelta
from pathlib import Path

from consumers.exports import files

NOW = datetime(2026, 3, 15, 14, 30, tzinfo=UTC)


def test_publish_renames_a_whole_part_and_stamps_its_expiry(tmp_path: Path) -> None:
    folder = tmp_path / "exports"
    part = files.part_path(folder, "job.csv")
    assert part.parent == folder and part.name.startswith("job.csv.") and part.name.endswith(".part")
    out = files.open_part(part)
    out.write(b"a,b\n")
    final = files.publish(part, out, "job.csv", NOW + timedelta(hours=24))
    assert (final, final.read_bytes(), part.exists()) == (folder / "job.csv", b"a,b\n", False)
    assert final.stat().st_mtime == (NOW + timedelta(hours=24)).timestamp()
    assert sorted(p.name for p in folder.iterdir()) == ["job.csv"]


def test_sweep_deletes_expired_files_and_stale_parts_only(tmp_path: Path) -> None:
    def make(name: str, modified: datetime) -> None:
        path = tmp_path / name
        path.write_bytes(b"x")
        os.utime(path, (modified.timestamp(), modified.timestamp()))

    make("expired.csv", NOW - timedelta(seconds=1))
    make("due-now.ndjson", NOW)
    make("fresh.csv", NOW + timedelta(hours=1))
    make("old.csv.1a2b3c4d.part", NOW - files.STALE_PART - timedelta(minutes=1))
    make("running.csv.5e6f7a8b.part", NOW - timedelta(minutes=5))
    assert sorted(files.sweep(tmp_path, NOW)) == ["due-now.ndjson", "expired.csv", "old.csv.1a2b3c4d.part"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fresh.csv", "running.csv.5e6f7a8b.part"]
    assert files.sweep(tmp_path / "missing", NOW) == []

"""Files at rest are the owner's only: everything ``run-all`` writes under its data dir."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from mailerlogic.private_files import private_dir
from tests.e2e.stack import Stack
from tests.e2e.stack import wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.chdb]


def _open_to_others(root: Path) -> list[str]:
    """Every path under ``root`` (itself included) that group or others may read, write or enter."""
    paths = [root, *root.rglob("*")]
    return sorted(f"{p.relative_to(root)} {oct(stat.S_IMODE(p.lstat().st_mode))}" for p in paths
                  if not p.is_symlink() and stat.S_IMODE(p.lstat().st_mode) & 0o077)


def test_run_all_writes_every_file_owner_only(embedded_stack: Stack, tmp_path: Path) -> None:
    stack, data = embedded_stack, tmp_path / "data"
    out = json.loads(stack.cli("customers", "create", "--name", "Acme", "--email", "ops@acme.test",
                               "--tier", "enterprise", "--domain", "acme.test", "--json"))
    key = out["api_key"]
    stack.send(key, "ada@example.org")
    _, job = stack.request("POST", "/api/exports", {"kind": "events"}, key=key, expect=202)
    wait_for(lambda: stack.request("GET", f"/api/exports/{job['export_id']}", key=key)[1]["status"]
             == "completed", "the export file")
    written = {p.name for p in data.rglob("*")}
    assert {"events.sqlite", "events.sqlite-wal", "exports"} <= written  # the store, its WAL, exports
    assert any(p.suffix == ".ndjson" or p.suffix == ".csv" for p in (data / "exports").rglob("*"))
    assert _open_to_others(data) == []


def test_a_data_dir_made_open_is_tightened(tmp_path: Path) -> None:
    data = tmp_path / "old"
    data.mkdir(mode=0o755)
    data.chmod(0o755)
    (data / "events.sqlite").write_bytes(b"")
    (data / "events.sqlite").chmod(0o644)
    (data / "exports").mkdir()
    (data / "exports").chmod(0o755)
    private_dir(data)
    modes = {p.name: oct(stat.S_IMODE(p.stat().st_mode)) for p in (data, *data.iterdir())}
    assert modes == {"old": "0o700", "events.sqlite": "0o600", "exports": "0o755"}  # inside a 0700 dir

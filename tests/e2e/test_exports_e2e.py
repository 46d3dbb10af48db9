"""``mailerlogic export`` against ``mailerlogic run-all`` on the embedded default: the job is made by
run-all's exports thread, the CLI polls it with a progress bar and saves the file."""

from __future__ import annotations

import csv
import json
import subprocess
from datetime import UTC
from datetime import datetime
from pathlib import Path

import pytest

from tests.e2e.stack import BIN
from tests.e2e.stack import Stack
from tests.e2e.stack import wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.chdb]


def export(stack: Stack, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run ``mailerlogic export ARGS`` to completion."""
    return subprocess.run([str(BIN / "mailerlogic"), "export", *args], env={**stack.env, **(env or {})},
                          capture_output=True, text=True, timeout=180, check=False, stdin=subprocess.DEVNULL)


def test_the_cli_exports_events_and_stats_from_run_all(embedded_stack: Stack, tmp_path: Path) -> None:
    stack = embedded_stack
    out = json.loads(stack.cli("customers", "create", "--name", "Acme", "--email", "ops@acme.test",
                               "--tier", "enterprise", "--domain", "acme.test", "--json"))
    key = out["api_key"]
    for to in ("ada@example.org", "bob@example.org"):
        stack.send(key, to, tag="launch")

    def events() -> list[dict[str, object]]:
        return list(stack.request("GET", "/api/events?limit=1000", key=key)[1]["events"])

    both = ["delivered", "delivered", "queued", "queued"]
    wait_for(lambda: sorted(e["event_type"] for e in events()) == both, "two messages queued and delivered")
    shown = {e["id"]: e for e in events()}

    target = tmp_path / "events.ndjson"
    done = export(stack, "--kind", "events", "--format", "ndjson", "--filter", "tag=launch",
                  "--output", str(target), "--api-url", stack.base, "--api-key", key)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("export ") and " 4 rows, " in done.stdout
    assert "100%" in done.stderr  # the job's bar, then the download's
    lines = [json.loads(line) for line in target.read_text().splitlines()]
    assert {e["id"]: e for e in lines} == shown and len(lines) == 4

    target = tmp_path / "stats.csv"  # the key from the environment, the URL from PORT
    done = export(stack, "--kind", "stats", "--filter", "interval=day", "--output", str(target), "--quiet",
                  env={"MAILERLOGIC_API_KEY": key})
    assert done.returncode == 0, done.stderr
    table = list(csv.DictReader(target.open(newline="")))
    assert len(table) == 31
    assert done.stdout.endswith(f"31 rows, {target.stat().st_size} bytes written to {target}\n")
    today = table[-1]
    assert (today["date"], today["sent"], today["delivery_rate"]) == (
        datetime.now(UTC).date().isoformat(), "2", "100.0")
    assert sum(int(row["sent"]) for row in table) == 2

    starter = stack.create_customer("Small", "small.test")
    refused = tmp_path / "refused.csv"
    done = export(stack, "--kind", "events", "--output", str(refused), "--api-key", starter, "--quiet")
    assert done.returncode == 1
    assert "Error: event_api_disabled: " in done.stderr and not refused.exists()
    done = export(stack, "--kind", "stats", "--filter", "interval=week", "--output", str(refused),
                  "--api-key", starter, "--quiet")
    assert done.returncode == 1 and "validation_error" in done.stderr and "interval" in done.stderr


@pytest.mark.kafka
@pytest.mark.clickhouse
@pytest.mark.postgres
def test_consume_exports_makes_the_file_over_kafka_for_another_api_process(real_env: dict[str, str],
                                                                           tmp_path: Path) -> None:
    stack = Stack(real_env, tmp_path)
    for name, args in {"api": ("api", "--workers", "2"), "relay": ("relay",),
                       "projector": ("consume", "projector"), "exports": ("consume", "exports")}.items():
        stack.start(name, *args)
    try:
        stack.wait_healthy()
        out = json.loads(stack.cli("customers", "create", "--name", "Acme", "--email", "ops@acme.test",
                                   "--tier", "enterprise", "--domain", "acme.test", "--json"))
        key = out["api_key"]
        stack.send(key, "ada@example.org")
        wait_for(lambda: stack.stats(key)["sent"] == 1, "the send in the statistics")
        target = tmp_path / "events.csv"
        done = export(stack, "--kind", "events", "--output", str(target), "--api-key", key, "--quiet",
                      "--timeout", "120")
        assert done.returncode == 0, done.stderr
        [row] = list(csv.DictReader(target.open(newline="")))
        assert (row["event_type"], row["recipient"], row["customer_id"]) == (
            "queued", "ada@example.org", out["customer"]["id"])
    finally:
        stack.stop_all()
        print(stack.log_tail())

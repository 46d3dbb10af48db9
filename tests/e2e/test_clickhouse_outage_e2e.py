"""The shared ClickHouse server stopped and started again under the real API (gunicorn, two
workers): reads answer ``503`` with ``Retry-After`` while it is down, and ``200`` with the same
figures once it is back, without restarting the API.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
import urllib.error
import urllib.request
from typing import Any

import pytest

from tests.e2e.stack import Stack
from tests.e2e.stack import wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.kafka, pytest.mark.postgres, pytest.mark.clickhouse]

SCRIPT = os.environ.get("MAILERLOGIC_SERVICES_SCRIPT", "scripts/services.sh")
READS = 6  # several requests, so both workers answer some


def _services(command: str) -> None:
    subprocess.run(["bash", SCRIPT, command], check=True, timeout=180, stdin=subprocess.DEVNULL,
                   capture_output=True)


def _read(stack: Stack, key: str) -> tuple[int, Any, str | None]:
    request = urllib.request.Request(stack.base + "/api/stats/outbound", headers={"X-API-Key": key})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read()), response.headers.get("Retry-After")
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read()), exc.headers.get("Retry-After")


def test_reads_answer_503_while_clickhouse_is_down_and_recover_without_a_restart(real_stack: Stack) -> None:
    key = real_stack.create_customer("Outage", "ch-outage.test")
    real_stack.send(key, "a@example.org")
    wait_for(lambda: real_stack.stats(key)["sent"] == 1, "the send in the statistics")
    before = real_stack.stats(key)
    api = real_stack.procs["api"]

    _services("clickhouse-stop")
    try:
        for _ in range(READS):
            status, body, retry_after = _read(real_stack, key)
            assert (status, body["error"], retry_after) == (503, "analytics_unavailable", "5")
    finally:
        _services("clickhouse-start")  # returns once the server answers SELECT 1
    answered = time.monotonic()

    wait_for(lambda: _read(real_stack, key)[0] == 200, "a read answered again", seconds=20, every=0.05)
    recovered_s = time.monotonic() - answered
    print(f"reads answered again {recovered_s:.2f} s after ClickHouse did")
    assert [_read(real_stack, key)[:2] for _ in range(READS)] == [(200, before)] * READS
    assert api.poll() is None and real_stack.procs["api"] is api  # never restarted
    assert recovered_s < 2.0

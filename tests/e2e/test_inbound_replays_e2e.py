"""One signed inbound report, posted many times at once to a two-worker API: accepted exactly once.

The two gunicorn workers are separate processes; they share only PostgreSQL (the events and the
``seen_signatures`` table), so this is the replay rule across processes (issue 11 item 4).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from uuid import UUID

import pytest

from event_store.application import open_application
from tests.e2e.stack import Stack

pytestmark = pytest.mark.e2e
HOOK = "e2e-inbound-secret"
COPIES = 12


@pytest.fixture
def api(real_env: dict[str, str], tmp_path: Path) -> Iterator[Stack]:
    stack = Stack({**real_env, "MAILERLOGIC_WEBHOOK_SECRET": HOOK}, tmp_path)
    stack.start("api", "api", "--workers", "2")
    try:
        stack.wait_healthy()
        yield stack
    finally:
        stack.stop_all()
        print(stack.log_tail())  # shown by pytest only when the test failed


def _post(stack: Stack, path: str, body: bytes, headers: dict[str, str]) -> int:
    request = urllib.request.Request(stack.base + path, data=body, method="POST",
                                     headers={"Content-Type": "application/json", **headers})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return int(response.status)
    except urllib.error.HTTPError as refused:
        assert json.loads(refused.read())["error"] == "replayed_signature"
        return int(refused.code)


def test_copies_of_one_signed_report_race_over_two_workers_and_one_wins(api: Stack, tmp_path: Path) -> None:
    key = api.create_customer("Acme", "acme.test")
    message_id = api.send(key, "jane@example.org", **{"from": "hi@acme.test"})
    body = json.dumps({"message_id": message_id, "recipient": "jane@example.org", "type": "soft",
                       "code": 421}).encode()
    stamp = str(int(time.time()))
    digest = hmac.new(HOOK.encode(), f"{stamp}./api/webhooks/bounce.".encode() + body, hashlib.sha256)
    headers = {"X-MailerLogic-Timestamp": stamp, "X-MailerLogic-Signature": f"v1={digest.hexdigest()}"}
    paths = ["/api/webhooks/bounce", "/api/v1/webhooks/bounce"] * (COPIES // 2)

    with ThreadPoolExecutor(COPIES) as pool:
        statuses = list(pool.map(lambda path: _post(api, path, body, headers), paths))

    assert sorted(statuses) == [200] + [409] * (COPIES - 1)
    events = open_application(api.env["EVENT_STORE_URL"], str(tmp_path / "unused.sqlite"))
    assert events.get_message(UUID(message_id)).status == "bounced"

"""``mailerlogic projections rebuild`` on the embedded default: inside ``run-all`` over loopback
HTTP while it serves (chdb opens in one process only), then in the CLI itself once it stopped."""

from __future__ import annotations

import subprocess
import threading
from typing import Any

import pytest

from tests.e2e.stack import BIN
from tests.e2e.stack import SECRET
from tests.e2e.stack import Stack
from tests.e2e.stack import wait_for
from web.operator_api import operator_token

pytestmark = [pytest.mark.e2e, pytest.mark.chdb]
SHOWN = ("sent", "delivered", "opens", "unique_opens", "clicks", "bounced", "delivery_rate")


def cli(stack: Stack, *args: str) -> subprocess.CompletedProcess[str]:
    """``mailerlogic ARGS`` to completion, with the stack's environment."""
    return subprocess.run([str(BIN / "mailerlogic"), *args], env=stack.env, capture_output=True,
                          text=True, timeout=120, check=False, stdin=subprocess.DEVNULL)


def shown(stats: dict[str, Any]) -> dict[str, Any]:
    """The numbers this test compares."""
    return {name: stats[name] for name in SHOWN}


def test_rebuild_runs_inside_run_all_while_it_serves(embedded_stack: Stack) -> None:
    stack = embedded_stack
    key = stack.create_customer("Acme", "acme.test")
    ids = [stack.send(key, f"r{n}@example.org") for n in range(6)]
    for message_id in ids[:4]:
        stack.open(message_id)
    stack.click(ids[0])
    expected = {"sent": 6, "delivered": 6, "opens": 4, "unique_opens": 4, "clicks": 1, "bounced": 0,
                "delivery_rate": 100.0}
    wait_for(lambda: shown(stack.stats(key)) == expected, "the projected statistics")

    answers: list[int] = []
    stop = threading.Event()

    def read_all_along() -> None:  # the API keeps answering during the rebuild
        while not stop.is_set():
            answers.append(stack.request("GET", "/api/stats/outbound", key=key, expect=None)[0])

    reader = threading.Thread(target=read_all_along)
    reader.start()
    try:
        done = cli(stack, "projections", "rebuild")
    finally:
        stop.set()
        reader.join()
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("rebuilt events, event_positions, stats_hourly"), done.stdout
    assert "replay: 100%" in done.stderr and "catch-up:" in done.stderr  # the progress bars
    assert answers and set(answers) == {200}
    assert shown(stack.stats(key)) == expected

    done = cli(stack, "projections", "rebuild", "--table", "stats_hourly", "--quiet")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("rebuilt stats_hourly, stats_duplicates: "), done.stdout
    assert shown(stack.stats(key)) == expected

    refused = cli(stack, "projections", "reset-offsets", "--group", "projector")
    assert refused.returncode == 1 and "stop it, then reset" in refused.stderr

    stack.stop_all()  # nothing holds chdb now: the CLI opens it itself
    done = cli(stack, "projections", "rebuild", "--quiet")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("rebuilt events"), done.stdout
    stack.start("all", "run-all")
    stack.wait_healthy()
    assert shown(stack.stats(key)) == expected


def test_the_operator_endpoints_refuse_anything_but_the_operator_token(embedded_stack: Stack) -> None:
    stack = embedded_stack
    key = stack.create_customer("Acme", "acme.test")
    path = "/operator/projections/rebuild"
    for headers in ({"X-API-Key": key}, {"Authorization": f"Bearer {key}"}, {}):
        status, body = stack.request("POST", path, {"tables": []}, expect=None, headers=headers)
        assert (status, body["error"]) == (403, "forbidden")
    bearer = {"Authorization": f"Bearer {operator_token(SECRET.encode())}"}
    status, body = stack.request("GET", path, expect=None, headers=bearer)
    assert (status, body["job"]["state"]) == (200, "idle")
    status, body = stack.request("POST", path, {"tables": ["events"]}, expect=None, headers=bearer)
    assert (status, body["error"]) == (400, "validation_error")

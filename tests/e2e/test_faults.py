"""Faults on the real services: kill -9 of the projector or the relay, and a Kafka outage.

Whatever happens, the totals end equal to exactly what was accepted: nothing lost,
nothing counted twice.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time

import pytest

from tests.e2e.stack import Stack
from tests.e2e.stack import wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.kafka, pytest.mark.postgres, pytest.mark.clickhouse]

MESSAGES = 240


def _traffic(stack: Stack, key: str, count: int, done: threading.Event) -> threading.Thread:
    """Send ``count`` messages, opening each once, in a background thread."""

    def run() -> None:
        try:
            for i in range(count):
                stack.open(stack.send(key, f"c{i}@example.org"))
        finally:
            done.set()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def _settle(stack: Stack, key: str, count: int) -> None:
    want = {"sent": count, "opens": count, "unique_opens": count}
    wait_for(lambda: {k: stack.stats(key)[k] for k in want} == want, f"totals {want}", seconds=90,
             every=0.5)
    time.sleep(1.5)  # a late duplicate would show up now
    assert {k: stack.stats(key)[k] for k in want} == want


ARGS = {"projector": ("consume", "projector"), "relay": ("relay",)}
CRASH_POINT = {"projector": "crash-after-write=1", "relay": "crash-after-publish=1"}


@pytest.mark.parametrize("victim", ["projector", "relay"])
def test_crash_at_the_worst_moment_loses_and_doubles_nothing(real_stack: Stack, victim: str) -> None:
    """The victim dies right after writing (publishing) a batch, before committing it, 3 times."""
    key = real_stack.create_customer("Crashy", "crash.test")
    real_stack.kill(victim)
    for i in range(60):
        real_stack.open(real_stack.send(key, f"w{i}@example.org"))
    for _ in range(3):
        real_stack.start(victim, *ARGS[victim], env={"MAILERLOGIC_FAULT_INJECTION": CRASH_POINT[victim]})
        assert real_stack.wait_exit(victim) == -signal.SIGKILL
    real_stack.start(victim, *ARGS[victim])
    _settle(real_stack, key, 60)


@pytest.mark.parametrize("victim", ["projector", "relay"])
def test_kill_9_mid_stream_loses_and_doubles_nothing(real_stack: Stack, victim: str) -> None:
    key = real_stack.create_customer("Killed", "kill.test")
    done = threading.Event()
    thread = _traffic(real_stack, key, MESSAGES, done)
    kills = 0
    while not done.is_set() and kills < 6:
        time.sleep(0.6)
        real_stack.kill(victim, signal.SIGKILL)
        kills += 1
        real_stack.start(victim, *ARGS[victim])
    thread.join(timeout=120)
    assert kills >= 3, "the traffic ended before the process was killed three times"
    _settle(real_stack, key, MESSAGES)


def test_kafka_outage_accepts_sends_and_catches_up(real_stack: Stack) -> None:
    script = os.environ.get("MAILERLOGIC_SERVICES_SCRIPT", "scripts/services.sh")
    key = real_stack.create_customer("Outage", "outage.test")
    first = [real_stack.send(key, f"before{i}@example.org") for i in range(10)]
    wait_for(lambda: real_stack.stats(key)["sent"] == 10, "sends before the outage")
    subprocess.run(["bash", script, "kafka-stop"], check=True, timeout=120)
    try:
        during = [real_stack.send(key, f"during{i}@example.org") for i in range(25)]
        for message_id in during[:10]:
            real_stack.open(message_id)
        assert len(set(first + during)) == 35
        time.sleep(2)
        assert real_stack.stats(key)["sent"] == 10  # nothing can reach ClickHouse yet
    finally:
        subprocess.run(["bash", script, "kafka-start"], check=True, timeout=180)
    want = {"sent": 35, "opens": 10}
    wait_for(lambda: {k: real_stack.stats(key)[k] for k in want} == want, f"totals {want}",
             seconds=120, every=1)


@pytest.mark.parametrize("victim", ["projector", "relay"])
def test_sigterm_stops_cleanly_and_a_restart_resumes(real_stack: Stack, victim: str) -> None:
    key = real_stack.create_customer("Polite", "polite.test")
    for i in range(20):
        real_stack.send(key, f"t{i}@example.org")
    real_stack.procs[victim].send_signal(signal.SIGTERM)
    assert real_stack.wait_exit(victim, seconds=20) == 0
    for i in range(20, 30):
        real_stack.send(key, f"t{i}@example.org")
    real_stack.start(victim, *ARGS[victim])
    want = {"sent": 30}
    wait_for(lambda: {k: real_stack.stats(key)[k] for k in want} == want, f"totals {want}", seconds=60)

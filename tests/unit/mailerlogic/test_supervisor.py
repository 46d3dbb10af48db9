"""The supervisor restarts real child processes that exit (a kill -9 included), with backoff."""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from pathlib import Path

import pytest

from mailerlogic import supervisor
from mailerlogic.supervisor import Child
from mailerlogic.supervisor import Policy


class Script(Child):
    """A child running a small Python script instead of ``mailerlogic``."""

    def __init__(self, name: str, code: str) -> None:
        super().__init__(name, ())
        self.code = code

    def command(self) -> list[str]:
        return [sys.executable, "-c", self.code]


def _wait(condition: object, seconds: float = 20.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.05)


def _in_thread(children: list[Child], policy: Policy
               ) -> tuple[threading.Event, threading.Thread, list[BaseException]]:
    stop, failed = threading.Event(), list[BaseException]()

    def run() -> None:
        try:
            supervisor.supervise(children, dict(os.environ), stop, policy)
        except BaseException as exc:  # reported by the test
            failed.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    return stop, thread, failed


def test_a_killed_child_is_started_again_and_stop_terminates_every_child(tmp_path: Path) -> None:
    starts = tmp_path / "starts"
    code = f"import time; open({str(starts)!r}, 'a').write('x'); time.sleep(60)"
    child = Script("sleeper", code)
    stop, thread, failed = _in_thread([child], Policy(first_delay_s=0.1, grace_s=5))
    _wait(lambda: child.process is not None and starts.exists())
    first = child.process
    assert first is not None
    os.kill(first.pid, signal.SIGKILL)
    _wait(lambda: child.process is not None and child.process is not first and len(starts.read_text()) == 2)
    second = child.process
    assert second is not None
    stop.set()
    thread.join(timeout=20)
    assert failed == []
    assert child.restarts == 1
    assert second.poll() == -signal.SIGTERM


def test_a_child_failing_fast_waits_longer_each_time_up_to_the_cap() -> None:
    child = Script("crasher", "raise SystemExit(3)")
    stop, thread, failed = _in_thread([child], Policy(first_delay_s=0.1, max_delay_s=0.4, steady_s=60))
    _wait(lambda: child.restarts >= 4)
    stop.set()
    thread.join(timeout=20)
    assert failed == []
    assert child.delay_s == 0.4


def test_with_max_failures_a_child_that_keeps_failing_stops_the_supervisor() -> None:
    child = Script("crasher", "raise SystemExit(3)")
    stop, thread, failed = _in_thread([child], Policy(first_delay_s=0.05, max_delay_s=0.05, max_failures=3))
    thread.join(timeout=20)
    assert [str(exc) for exc in failed] == ["crasher failed 3 times in 60 s"]
    stop.set()


def test_the_process_table_of_the_real_services() -> None:
    table = supervisor.process_table(kafka=True, clickhouse_server=True, projectors=3, delivery=2)
    assert [(c.name, c.args) for c in table] == [
        ("api", ("api",)), ("relay", ("relay",)),
        ("projector-1", ("consume", "projector")), ("projector-2", ("consume", "projector")),
        ("projector-3", ("consume", "projector")),
        ("delivery-1", ("consume", "delivery")), ("delivery-2", ("consume", "delivery")),
        ("webhooks-1", ("consume", "webhooks")),
        ("exports", ("consume", "exports")), ("scheduler", ("scheduler",))]


def test_without_kafka_delivery_runs_as_shards_and_one_projector_only() -> None:
    table = supervisor.process_table(kafka=False, clickhouse_server=True, delivery=2)
    assert [c.args for c in table if c.name.startswith("delivery")] == [
        ("consume", "delivery", "--shard", "0/2"), ("consume", "delivery", "--shard", "1/2")]
    with pytest.raises(ValueError, match="without Kafka the projector reads the log under one reader"):
        supervisor.process_table(kafka=False, clickhouse_server=True, projectors=2)
    assert [c.args for c in supervisor.process_table(kafka=False, clickhouse_server=False)] == [("run-all",)]

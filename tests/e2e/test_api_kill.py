"""kill -9 of every API process mid-traffic on the SQLite event store: no answered write is lost.

`mailerlogic api --workers 2` (gunicorn) on the embedded SQLite event store, where saves share
one WAL flush across processes (event_store/sqlite_append.py). Four client threads send and
open messages while the master and both workers are killed with SIGKILL three times; every
`200` must be in the event store afterwards, and at most the requests in flight at each kill
may be stored without an answer.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from uuid import UUID

import pytest

from event_store.application import open_application
from security import tokens
from tests.e2e.conftest import _running
from tests.e2e.stack import SECRET
from tests.e2e.stack import Stack
from tests.e2e.stack import wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.clickhouse]

THREADS, KILLS, MAX_ROUNDS = 4, 3, 3000
QUEUED = "event_store.aggregates.message:Message.Queued"
OPENED = "event_store.aggregates.engagement:Engagement.Recorded"


@pytest.fixture
def sqlite_stack(tmp_path: Path, clickhouse_url: str) -> Iterator[Stack]:
    stack = Stack({"MAILERLOGIC_DATA_DIR": str(tmp_path / "data"), "CLICKHOUSE_URL": clickhouse_url},
                  tmp_path)
    for name in ("EVENT_STORE_URL", "KAFKA_BOOTSTRAP_SERVERS"):
        stack.env.pop(name, None)
    yield from _running(stack, {"api": ("api", "--workers", "2")})


def _tree(root: int) -> list[int]:
    """``root`` and its children (gunicorn's workers), from /proc."""
    found = [root]
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            if int(stat[stat.rindex(")") + 2:].split()[1]) == root:
                found.append(int(entry))
    return found


def _kill_all(stack: Stack) -> None:
    master = stack.procs.pop("api")
    pids = _tree(master.pid)
    assert len(pids) == 3, pids  # the master and two workers
    for pid in pids:
        os.kill(pid, signal.SIGKILL)
    master.wait(timeout=30)
    wait_for(lambda: not any(Path(f"/proc/{pid}").exists() and "Z" not in _state(pid) for pid in pids),
             "every API process gone", 30, 0.05)


def _state(pid: int) -> str:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return "Z"
    return stat[stat.rindex(")") + 2:].split()[0]


def _client(stack: Stack, key: str, stop: threading.Event, sent: list[str], opened: list[str]) -> None:
    for n in range(MAX_ROUNDS):
        if stop.is_set():
            return
        status, body = stack.request("POST", "/api/send", {"to": f"k{n}@example.org", "subject": "Hi",
                                                           "text": "Hi"}, key=key, expect=None)
        if status != 200:
            time.sleep(0.05)  # the API is down: wait for its restart
            continue
        sent.append(body["message_id"])
        token = tokens.mint(SECRET.encode(), "o", UUID(body["message_id"]))
        if stack.request("GET", f"/track/o/{token}", expect=None)[0] == 200:
            opened.append(body["message_id"])


def _stored(path: Path, topic: str) -> list[str]:
    events = open_application(None, str(path))
    try:
        return [str(n.originator_id if topic == QUEUED else events.mapper.to_domain_event(n).email_id)
                for n in events.recorder_.select_notifications(1, 1_000_000, topics=[topic])]
    finally:
        events.close()


def test_kill_9_of_every_api_process_loses_no_answered_write(sqlite_stack: Stack, tmp_path: Path) -> None:
    key = sqlite_stack.create_customer("Killed API", "killapi.test")
    stop = threading.Event()
    sent: list[str] = []
    opened: list[str] = []
    clients = [threading.Thread(target=_client, args=(sqlite_stack, key, stop, sent, opened), daemon=True)
               for _ in range(THREADS)]
    for client in clients:
        client.start()
    try:
        for _ in range(KILLS):
            count = len(sent)
            wait_for(lambda count=count: len(sent) >= count + 40, "traffic before the kill", 60, 0.05)
            _kill_all(sqlite_stack)
            sqlite_stack.start("api", "api", "--workers", "2")
            sqlite_stack.wait_healthy()
        count = len(sent)
        wait_for(lambda: len(sent) >= count + 40, "traffic after the last restart", 60, 0.05)
    finally:
        stop.set()
        for client in clients:
            client.join(60)
    in_flight = THREADS * KILLS
    queued = _stored(tmp_path / "data" / "events.sqlite", QUEUED)
    assert set(sent) <= set(queued), f"lost {len(set(sent) - set(queued))} answered sends"
    assert len(sent) <= len(queued) <= len(sent) + in_flight
    opens = _stored(tmp_path / "data" / "events.sqlite", OPENED)
    assert set(opened) <= set(opens), f"lost {len(set(opened) - set(opens))} answered opens"
    assert len(opened) <= len(opens) <= len(opened) + in_flight
    assert len(sent) >= 4 * 40

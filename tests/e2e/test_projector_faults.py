"""The fault e2e of issue 10: `mailerlogic supervise --projectors N` on the real services, under load,
while a projector child is killed with SIGKILL every 2-3 s, ClickHouse restarts once and Kafka
restarts once.

The test starts the supervisor only, never a projector (or any other process) itself: every
projector killed must come back through the supervisor. At the end every total of
``/api/stats/outbound``, the hourly and daily series and the Events API equal what the event store
(the notification log in PostgreSQL, read directly) holds for the customer, while ClickHouse's
``event_positions`` may hold positions more than once. The figures are printed (``pytest -s``)
so they can be quoted: answered, stored, shown, kills, restarts, relay resume, time to settle.
"""

from __future__ import annotations

import http.client
import json
import os
import random
import re
import signal
import socket
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
from clickhouse_driver import Client

from event_store.application import open_application
from event_store.envelope import EMAIL_EVENT_TYPES
from event_store.envelope import Envelope
from event_store.feed import NotificationFeed
from event_store.relay import READER as RELAY_READER
from projections import events as event_rows
from projections import scanner
from security import tokens
from tests.e2e.stack import SECRET
from tests.e2e.stack import Stack
from tests.e2e.stack import child_processes
from tests.e2e.stack import wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.kafka, pytest.mark.postgres, pytest.mark.clickhouse]

SCRIPT = os.environ.get("MAILERLOGIC_SERVICES_SCRIPT") or str(
    Path(__file__).resolve().parents[2] / "scripts" / "services.sh")
MESSAGES = 200  # per case; every 2nd opened, every 6th opened twice, every 8th clicked
PACE_S = 0.2  # between sends: the load lasts about 40 s
KILL_EVERY_S = (2.0, 3.0)
CLICKHOUSE_DOWN_AT_S, CLICKHOUSE_DOWN_FOR_S = 4.0, 4.0
KAFKA_DOWN_AT_S, KAFKA_DOWN_FOR_S = 14.0, 3.0
SETTLE_S = 180.0
PROJECTOR = "consume projector"
BROWSER = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) Thunderbird/128.0"
GATEWAY = "Barracuda Sentinel (EE)"  # a mail security gateway: a scanner open
SCORE = event_rows.COLUMNS.index("scanner_score")


# ------------------------------------------------------------------------------ the system


@pytest.fixture(params=[2, 3], ids=["2-projectors", "3-projectors"])
def supervised(request: pytest.FixtureRequest, real_env: dict[str, str], tmp_path: Path
               ) -> Iterator[tuple[Stack, subprocess.Popen[bytes], int]]:
    """`mailerlogic supervise --projectors N` with the e2e stack's environment and API port."""
    projectors = int(request.param)
    stack = Stack(real_env, tmp_path)
    stack.start("supervise", "supervise", "--projectors", str(projectors))
    supervisor = stack.procs["supervise"]
    try:
        stack.wait_healthy()
        wait_for(lambda: len(_projectors(supervisor.pid)) == projectors, f"{projectors} projectors", 30)
        yield stack, supervisor, projectors
    finally:
        _stop(stack, supervisor)
        print(stack.log_tail())  # shown by pytest only when the test failed


def _stop(stack: Stack, supervisor: subprocess.Popen[bytes]) -> None:
    """SIGTERM to the supervisor (it stops its children, 30 s grace); nothing is left behind."""
    stack.procs.pop("supervise", None)
    children = child_processes(supervisor.pid)
    supervisor.send_signal(signal.SIGTERM)
    try:
        supervisor.wait(timeout=45)
    except subprocess.TimeoutExpired:
        children = child_processes(supervisor.pid)
        for pid in children:
            _kill(pid)
        supervisor.kill()
        supervisor.wait(timeout=10)
    for pid in children:  # a child that outlived its supervisor (should not happen)
        _kill(pid)


def _kill(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def _projectors(supervisor_pid: int) -> list[int]:
    return sorted(pid for pid, cmd in child_processes(supervisor_pid).items() if PROJECTOR in cmd)


def _services(command: str) -> float:
    """Run a services.sh command; its duration in seconds."""
    began = time.monotonic()
    subprocess.run(["bash", SCRIPT, command], check=True, timeout=180, stdin=subprocess.DEVNULL,
                   capture_output=True)
    return time.monotonic() - began


# ------------------------------------------------------------------------------ the load


@dataclass
class Load:
    """What the API answered: message ids of sends answered 200, and the other answers."""

    sent: list[str] = field(default_factory=list)
    opens: int = 0
    clicks: int = 0
    refused: Counter[str] = field(default_factory=Counter)  # "send 503": how many
    done: threading.Event = field(default_factory=threading.Event)
    failures: list[BaseException] = field(default_factory=list)


def _track(stack: Stack, kind: str, message_id: str, user_agent: str) -> int:
    """Fetch a pixel (``o``) or follow a link (``c``, not following the redirect); the status."""
    url = "https://example.org/sale"
    token = tokens.mint(SECRET.encode(), kind, UUID(message_id), *([url] if kind == "c" else []))
    conn = http.client.HTTPConnection("127.0.0.1", stack.port, timeout=30)
    try:
        conn.request("GET", f"/track/{kind}/{token}", headers={"User-Agent": user_agent})
        response = conn.getresponse()
        response.read()
        return response.status
    except OSError:
        return 0
    finally:
        conn.close()


def _traffic(stack: Stack, key: str, load: Load) -> threading.Thread:
    """Send ``MESSAGES`` messages at ``PACE_S``, opening and clicking some, in a thread."""

    def run() -> None:
        began = time.monotonic()
        try:
            for i in range(MESSAGES):
                time.sleep(max(0.0, began + i * PACE_S - time.monotonic()))
                status, body = stack.request("POST", "/api/send", {
                    "to": f"f{i}@example.org", "subject": "Hello", "text": "Hi",
                    "track_opens": True, "track_clicks": True}, key=key, expect=None)
                if status != 200:
                    load.refused[f"send {status}"] += 1
                    continue
                message_id = str(body["message_id"])
                load.sent.append(message_id)
                wanted = [("o", BROWSER if i % 4 else GATEWAY)] * (i % 2 == 0)
                wanted += [("o", BROWSER)] * (i % 6 == 0) + [("c", BROWSER)] * (i % 8 == 0)
                for kind, agent in wanted:
                    status = _track(stack, kind, message_id, agent)
                    if status == (200 if kind == "o" else 302):
                        load.opens += kind == "o"
                        load.clicks += kind == "c"
                    else:
                        load.refused[f"{kind} {status}"] += 1
        except BaseException as exc:  # reported by the test, not as an unhandled thread error
            load.failures.append(exc)
        finally:
            load.done.set()

    thread = threading.Thread(target=run, name="traffic", daemon=True)
    thread.start()
    return thread


@dataclass
class Kills:
    """Projector pids killed (when, which); ticks that found no projector alive."""

    killed: list[tuple[float, int]] = field(default_factory=list)
    idle_ticks: int = 0
    stop: threading.Event = field(default_factory=threading.Event)
    failures: list[BaseException] = field(default_factory=list)


def _killer(supervisor_pid: int, rng: random.Random, kills: Kills) -> threading.Thread:
    """SIGKILL a random live projector child of the supervisor every 2-3 s until stopped."""

    def run() -> None:
        try:
            while not kills.stop.wait(rng.uniform(*KILL_EVERY_S)):
                alive = _projectors(supervisor_pid)
                if not alive:
                    kills.idle_ticks += 1  # all of them waiting for their restart
                    continue
                victim = rng.choice(alive)
                _kill(victim)
                kills.killed.append((time.monotonic(), victim))
        except BaseException as exc:
            kills.failures.append(exc)

    thread = threading.Thread(target=run, name="killer", daemon=True)
    thread.start()
    return thread


# ---------------------------------------------------------------------- the source of truth


def _stored(event_store_url: str, tmp_path: Path, customer_id: UUID) -> list[Envelope]:
    """Every envelope of the customer in the notification log (what the relay publishes)."""
    app = open_application(event_store_url, str(tmp_path / "unused.sqlite"))
    try:
        feed, after, found = NotificationFeed(app), 0, []
        while True:
            page = feed.read(after, 5000)
            if page.last_position == after:
                return found
            found += [e for e in page.envelopes if e.customer_id == customer_id]
            after = page.last_position
    finally:
        app.close()


def _class(envelope: Envelope) -> int:
    """The scanner class the projection gives an open or click (its own deterministic rule)."""
    return scanner.classify(int(event_rows.row(envelope)[SCORE]))


def _percent(part: int, whole: int) -> float:
    return round(100.0 * part / whole, 2) if whole else 0.0


def _expected(stored: list[Envelope]) -> dict[str, Any]:
    """What every read must show for the stored envelopes."""
    by_type = Counter(e.event_type for e in stored)
    opened = [e for e in stored if e.event_type == "opened"]
    clicked = [e for e in stored if e.event_type == "clicked"]
    totals: dict[str, Any] = {
        "sent": by_type["queued"], "delivered": by_type["delivered"], "bounced": by_type["bounced"],
        "failed": by_type["failed"], "opens": len(opened), "unique_opens": len({e.email_id for e in opened}),
        "clicks": len(clicked), "unique_clicks": len({e.email_id for e in clicked}),
        "complaints": by_type["complained"], "unsubscribes": by_type["unsubscribed"],
        "human_opens": sum(_class(e) == scanner.HUMAN for e in opened),
        "scanner_opens": sum(_class(e) == scanner.SCANNER for e in opened),
        "human_clicks": sum(_class(e) == scanner.HUMAN for e in clicked),
        "scanner_clicks": sum(_class(e) == scanner.SCANNER for e in clicked),
    }
    engaged = totals["delivered"] or totals["sent"]
    totals |= {
        "delivery_rate": _percent(totals["delivered"], totals["sent"]),
        "open_rate": _percent(totals["unique_opens"], engaged),
        "click_rate": _percent(totals["unique_clicks"], engaged),
        "bounce_rate": _percent(totals["bounced"], totals["sent"]),
        "complaint_rate": _percent(totals["complaints"], engaged),
    }
    series = {
        "sends": {k: totals[k] for k in ("sent", "delivered", "bounced", "failed")},
        "opens": {k: totals[k] for k in ("opens", "unique_opens", "human_opens", "scanner_opens")},
        "clicks": {k: totals[k] for k in ("clicks", "unique_clicks", "human_clicks", "scanner_clicks")},
    }
    public = Counter(e.event_type for e in stored if e.event_type in EMAIL_EVENT_TYPES)
    return {"outbound": totals, "series": {f"{kind} {interval}": want for kind, want in series.items()
                                           for interval in ("hour", "day")},
            "events_api": {"total": sum(public.values()), "by_type": dict(sorted(public.items())),
                           "ids": {str(e.event_id) for e in stored if e.event_type in EMAIL_EVENT_TYPES}}}


# ------------------------------------------------------------------------------ what is shown


def _events_api(stack: Stack, key: str) -> dict[str, Any] | None:
    """The Events API walked by cursor, 1,000 a page; None while a page does not answer 200."""
    ids: list[str] = []
    types: Counter[str] = Counter()
    cursor, total = "", -1
    for _ in range(50):
        status, body = stack.request("GET", f"/api/events?limit=1000{cursor}", key=key, expect=None)
        if status != 200:
            return None
        total = body["pagination"]["total"] if total < 0 else total
        ids += [event["id"] for event in body["events"]]
        types.update(event["event_type"] for event in body["events"])
        if body["pagination"]["next_cursor"] is None:
            break
        cursor = f"&cursor={body['pagination']['next_cursor']}"
    return {"total": total, "by_type": dict(sorted(types.items())), "ids": set(ids), "listed": len(ids)}


def _shown(stack: Stack, key: str) -> dict[str, Any] | None:
    """What the read API shows, shaped like :func:`_expected`; None while a read fails."""
    status, totals = stack.request("GET", "/api/stats/outbound", key=key, expect=None)
    if status != 200:
        return None
    series: dict[str, Any] = {}
    for kind in ("sends", "opens", "clicks"):
        for interval in ("hour", "day"):
            status, body = stack.request("GET", f"/api/stats/outbound/{kind}?interval={interval}",
                                         key=key, expect=None)
            if status != 200:
                return None
            series[f"{kind} {interval}"] = body["total"]
            series[f"{kind} {interval} buckets"] = {  # the buckets add up to the total (plain counts)
                k: sum(bucket[k] for bucket in body["days"]) for k in body["total"] if "unique" not in k}
    listing = _events_api(stack, key)
    if listing is None:
        return None
    return {"outbound": totals, "series": series, "events_api": listing}


def _sent(stack: Stack, key: str) -> int | None:
    """``sent`` of the outbound totals; None while the read does not answer 200."""
    status, body = stack.request("GET", "/api/stats/outbound", key=key, expect=None)
    return int(body["sent"]) if status == 200 else None


def _differences(expected: dict[str, Any], shown: dict[str, Any]) -> list[str]:
    """Every figure shown that differs from the event store's (empty when all are exact)."""
    wrong = [f"outbound {k}: shown {shown['outbound'].get(k)}, stored {v}"
             for k, v in expected["outbound"].items() if shown["outbound"].get(k) != v]
    unchecked = sorted(set(shown["outbound"]) - set(expected["outbound"]))
    wrong += [f"outbound has figures this test does not check: {unchecked}"] * bool(unchecked)
    for name, want in expected["series"].items():
        if shown["series"][name] != want:
            wrong.append(f"series {name} total: shown {shown['series'][name]}, stored {want}")
        plain = {k: v for k, v in want.items() if "unique" not in k}
        if shown["series"][f"{name} buckets"] != plain:
            wrong.append(f"series {name} buckets sum to {shown['series'][f'{name} buckets']}, stored {plain}")
    listing, want = shown["events_api"], expected["events_api"]
    for k in ("total", "by_type"):
        if listing[k] != want[k]:
            wrong.append(f"events API {k}: shown {listing[k]}, stored {want[k]}")
    if listing["ids"] != want["ids"]:
        wrong.append(f"events API ids: {len(want['ids'] - listing['ids'])} stored not listed, "
                     f"{len(listing['ids'] - want['ids'])} listed not stored")
    if listing["listed"] != len(listing["ids"]):
        wrong.append(f"events API listed {listing['listed']} rows for {len(listing['ids'])} events")
    return wrong


def _clickhouse(url: str, customer_id: UUID) -> dict[str, int]:
    client = Client.from_url(url)
    try:
        [(rows, distinct)] = client.execute("SELECT count(), uniqExact(position) FROM event_positions")
        [(listed,)] = client.execute("SELECT count() FROM stats_duplicates")
        positions = {p for (p,) in client.execute(
            "SELECT DISTINCT position FROM events WHERE customer_id = %(c)s", {"c": customer_id})}
    finally:
        client.disconnect()
    return {"event_positions rows": rows, "distinct positions": distinct,
            "positions stored twice or more": rows - distinct, "stats_duplicates rows": listed,
            "customer positions": len(positions), "_positions": positions}  # type: ignore[dict-item]


# ------------------------------------------------------------------------------ the test


def _supervisor_log(stack: Stack) -> tuple[Counter[str], list[tuple[str, int, float]]]:
    """From the supervisor's log: starts per child, and (child, status, restart delay) of each exit."""
    text = (stack.logs / "supervise.log").read_text(errors="replace")
    starts = Counter(re.findall(r"mailerlogic\.supervisor: (\S+): started, pid \d+", text))
    exits = [(name, int(code), float(delay)) for name, code, delay in re.findall(
        r"mailerlogic\.supervisor: (\S+) exited with status (-?\d+) after [\d.]+ s; restarting in ([\d.]+) s",
        text)]
    return starts, exits


def _retries(stack: Stack) -> dict[str, int]:
    """How often the consumers and the relay retried a failed step in the process (from their log)."""
    text = (stack.logs / "supervise.log").read_text(errors="replace")
    found = Counter(f"{who}: {what}" for who, what in re.findall(
        r" (consumers\.loop|event_store\.relay|mailerlogic): ([a-z][a-z -]*?) (?:failed|not ready) \(", text))
    return dict(sorted(found.items()))


def _revocations(stack: Stack) -> dict[str, int]:
    """Revocations the projectors' loops saw, and the polled records they dropped for them."""
    text = (stack.logs / "supervise.log").read_text(errors="replace")
    dropped = [int(n) for n in re.findall(
        r"consumers\.loop: partitions \[[\d, ]*\] revoked: (\d+) polled", text)]
    kafka = len(re.findall(r"Revoking previously assigned partitions .* for group projector\.", text))
    return {"revocations seen by the loops": len(dropped), "polled records dropped": sum(dropped),
            "partition revocations logged by the client": kafka}


def _projected(url: str, customer_id: UUID) -> int:
    """Distinct positions of the customer in ClickHouse now (-1 while it does not answer)."""
    try:
        client = Client.from_url(url)
        try:
            [(count,)] = client.execute("SELECT uniqExact(position) FROM events WHERE customer_id = %(c)s",
                                        {"c": customer_id})
        finally:
            client.disconnect()
    except Exception:  # noqa: BLE001 - a figure only
        return -1
    return int(count)


def _tracebacks(stack: Stack) -> list[str]:
    """The first tracebacks in the supervised processes' log that no warning announced (a client
    library's own warnings carry one), each with the line before it and 30 after."""
    lines = (stack.logs / "supervise.log").read_text(errors="replace").splitlines()
    return ["\n".join(lines[n - 1:n + 30]) for n, line in enumerate(lines)
            if line.startswith("Traceback") and n and " WARNING " not in lines[n - 1]][:5]


def _relay_resume(event_store_url: str, tmp_path: Path) -> dict[str, float]:
    """Restart Kafka; seconds from its return (port open, kafka-start done) to the relay's next publish.

    The relay records its position only after the broker acknowledged a page, so the first
    position past the one it had while the broker was down is the first publish after the return.
    """
    app = open_application(event_store_url, str(tmp_path / "unused.sqlite"))
    try:
        return _restart_kafka(NotificationFeed(app))
    finally:
        app.close()


def _restart_kafka(feed: NotificationFeed) -> dict[str, float]:
    down = _services("kafka-stop")
    frozen = feed.position(RELAY_READER)
    time.sleep(KAFKA_DOWN_FOR_S)
    frozen = max(frozen, feed.position(RELAY_READER))  # a page acknowledged just before the stop
    port_open: list[float] = []
    watching = threading.Event()

    def watch_port() -> None:
        while not watching.is_set():
            try:
                socket.create_connection(("127.0.0.1", _kafka_port()), timeout=0.2).close()
                port_open.append(time.monotonic())
                return
            except OSError:
                time.sleep(0.05)

    watcher = threading.Thread(target=watch_port, daemon=True)
    watcher.start()
    began = time.monotonic()
    _services("kafka-start")
    back = time.monotonic()
    published = wait_for(lambda: feed.position(RELAY_READER) > frozen and time.monotonic(),
                         "the relay to publish after Kafka's return", 90, 0.02)
    watching.set()
    watcher.join(5)
    opened = port_open[0] if port_open else back
    return {"kafka-stop s": round(down, 1), "kafka-start s": round(back - began, 1),
            "relay resumed after port open s": round(published - opened, 2),
            "relay resumed after kafka-start returned s": round(published - back, 2)}


def _kafka_port() -> int:
    return int(os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:29092").rsplit(":", 1)[1])


@pytest.mark.timeout(420)
def test_projectors_under_kill_9_and_restarts_stay_exact(
        supervised: tuple[Stack, subprocess.Popen[bytes], int], real_env: dict[str, str], tmp_path: Path
) -> None:
    stack, supervisor, projectors = supervised
    began, seed = time.monotonic(), random.randrange(1 << 32)
    rng = random.Random(seed)
    url = real_env["EVENT_STORE_URL"]
    created = json.loads(stack.cli("customers", "create", "--name", "Faulty", "--email", "ops@faults.test",
                                   "--tier", "enterprise", "--domain", "faults.test", "--json"))
    key, customer_id = str(created["api_key"]), UUID(created["customer"]["id"])
    first = stack.send(key, "first@example.org")
    wait_for(lambda: _sent(stack, key) == 1, "the first send in the statistics", 60, 0.2)
    ready = time.monotonic()

    load, kills = Load(), Kills()
    traffic = _traffic(stack, key, load)
    killer = _killer(supervisor.pid, rng, kills)
    outages: dict[str, Any] = {}
    try:
        time.sleep(max(0.0, ready + CLICKHOUSE_DOWN_AT_S - time.monotonic()))
        outages["clickhouse-stop s"] = round(_services("clickhouse-stop"), 1)
        time.sleep(CLICKHOUSE_DOWN_FOR_S)
        outages["clickhouse-start s"] = round(_services("clickhouse-start"), 1)
        time.sleep(max(0.0, ready + KAFKA_DOWN_AT_S - time.monotonic()))
        outages |= _relay_resume(url, tmp_path)
        traffic.join(timeout=MESSAGES * PACE_S + 120)
    finally:
        kills.stop.set()
        killer.join(10)
        for command in ("clickhouse-start", "kafka-start"):  # no-ops unless a step above failed
            _services(command)
    assert not traffic.is_alive() and not load.failures, load.failures
    assert not kills.failures, kills.failures
    load_done = time.monotonic()
    at_load_end = {"stored": len(_stored(url, tmp_path, customer_id)),
                   "projected": _projected(real_env["CLICKHOUSE_URL"], customer_id)}

    # Settling: every figure shown equals the event store's, and every message has its outcome.
    last: dict[str, Any] = {}

    def settled() -> bool:
        stored = _stored(url, tmp_path, customer_id)
        expected, shown = _expected(stored), _shown(stack, key)
        totals = expected["outbound"]
        finals = totals["delivered"] + totals["bounced"] + totals["failed"]
        wrong = [f"delivery: {finals} of {totals['sent']} messages have an outcome"] * (
            finals != totals["sent"])
        wrong += ["a read did not answer 200"] if shown is None else _differences(expected, shown)
        last.update(stored=stored, expected=expected, shown=shown, wrong=wrong)
        return not wrong

    deadline = load_done + SETTLE_S
    while not settled():
        assert time.monotonic() < deadline, (
            f"not exact {SETTLE_S:.0f} s after the load (seed {seed}): " + "; ".join(last["wrong"][:12]))
        time.sleep(1.0)
    settle_s = time.monotonic() - load_done
    time.sleep(2.0)  # a late duplicate would show now
    assert settled(), "exact, then not: " + "; ".join(last["wrong"])

    # The supervisor, alone, brought every killed projector back; nothing else exited.
    wait_for(lambda: len(_projectors(supervisor.pid)) == projectors, f"{projectors} projectors back", 60, 0.2)
    assert supervisor.poll() is None, "the supervisor exited"
    starts, exits = _supervisor_log(stack)
    projector_exits = [(n, c) for n, c, _ in exits if n.startswith("projector-")]
    others = [(n, c) for n, c, _ in exits if not n.startswith("projector-")]
    restarts = sum(n for name, n in starts.items() if name.startswith("projector-")) - projectors
    assert not others, f"processes exited that nobody killed: {others}\n" + "\n".join(_tracebacks(stack))
    assert all(code == -signal.SIGKILL for _, code in projector_exits), (
        f"a projector exited by itself: {projector_exits}\n" + "\n".join(_tracebacks(stack)))
    assert len(projector_exits) == len(kills.killed) == restarts, (
        f"exits {len(projector_exits)}, kills {len(kills.killed)}, restarts {restarts}")
    assert len(kills.killed) >= 5, f"only {len(kills.killed)} kills"

    stored, expected = last["stored"], last["expected"]
    totals = expected["outbound"]
    answered = set(load.sent) | {first}
    queued = {str(e.email_id) for e in stored if e.event_type == "queued"}
    assert answered <= queued, f"{len(answered - queued)} sends answered 200 are not in the event store"
    refused = {kind: sum(n for k, n in load.refused.items() if k.startswith(kind)) for kind in "soc"}
    assert len(queued) <= len(answered) + refused["s"], "sends stored that were never asked"
    for kind, asked, kept in (("o", load.opens, totals["opens"]), ("c", load.clicks, totals["clicks"])):
        assert asked <= kept <= asked + refused[kind], f"{kind}: answered {asked}, stored {kept}"
    clickhouse = _clickhouse(real_env["CLICKHOUSE_URL"], customer_id)
    assert clickhouse.pop("_positions") == {e.position for e in stored}  # type: ignore[comparison-overlap]

    figures = {
        "projectors": projectors, "seed": seed,
        "answered": {"sends": len(answered), "opens": load.opens, "clicks": load.clicks,
                     "not 200": dict(load.refused)},
        "stored": {"queued": totals["sent"], "delivered": totals["delivered"], "opened": totals["opens"],
                   "clicked": totals["clicks"], "customer events": len(stored)},
        "shown": {k: last["shown"]["outbound"][k] for k in
                  ("sent", "delivered", "opens", "unique_opens", "clicks", "unique_clicks", "human_opens",
                   "scanner_opens")}
        | {"sends hour total": last["shown"]["series"]["sends hour"]["sent"],
           "events API total": last["shown"]["events_api"]["total"]},
        "clickhouse": clickhouse,
        "kills": len(kills.killed), "ticks with no projector alive": kills.idle_ticks,
        "restarts by the supervisor": restarts,
        "longest restart delay s": max((delay for _, _, delay in exits), default=0.0),
        "retried in the process": _retries(stack), "rebalances": _revocations(stack),
        "customer events at the load's end": at_load_end, "outages": outages,
        "load s": round(load_done - ready, 1), "settle s": round(settle_s, 1),
        "case s": round(time.monotonic() - began, 1),
    }
    print(f"\nFAULT E2E FIGURES {json.dumps(figures)}")

"""kill -9 of the delivery worker, again and again, during a 5,000-message run on the real services.

``mailerlogic consume delivery`` hands mail to the recording SMTP server
(``tests/support/smtp_server.py``) with 8 sessions while 5,000 messages arrive through
``POST /api/batch`` (2% to ``reject-*``, refused with 550 5.1.1 at RCPT; 1% to ``defer-*``,
451 at RCPT until a 5 s retry budget is spent). The worker is killed with SIGKILL ``KILLS``
times, each time after a random number of new hand-overs since its restart (so the kill lands
mid-stream: during a batch, between the relay's 250s and the batch's recorded outcomes, or
while retries are claimed), and restarted with the same settings; the last one runs to the end.

Afterwards, exactly: the statistics count every message once with its one outcome; the event
store and the Events API hold one final event per message, of the expected type; the server
received each delivered message's Message-ID at least once and no refused message; and all
copies of one Message-ID are the same bytes apart from ``DKIM-Signature`` (signing time).
A copy too many is allowed, and counted: a kill between the relay's 250 and the recorded
outcome sends the identical message again (``consumers/delivery/worker.py``).

Kills are paced by hand-overs, not by the clock: after a SIGKILL the new member of the
consumer group gets its partitions only when the dead one's session ends (about 10 s), so a
kill every 2-4 s would mostly hit a worker that had not started. The wait for ``failed`` is
longer than the retry lease: a deferred message claimed by a worker that dies is invisible
until the lease ends (5 min today), and with 1 s retries some claim is nearly always open.
"""

from __future__ import annotations

import json
import random
import signal
import threading
import time
from collections import Counter
from datetime import UTC
from datetime import datetime
from datetime import timedelta
from functools import partial
from typing import TYPE_CHECKING
from typing import Any

import dkim
import pytest

from event_store.application import open_application
from tests.e2e.stack import wait_for
from tests.support.received_mail import by_message_id
from tests.support.received_mail import differences
from tests.support.smtp_server import start_smtp_server

if TYPE_CHECKING:
    from pathlib import Path

    from tests.e2e.stack import Stack
    from tests.support.smtp_server import SmtpServer

pytestmark = [pytest.mark.e2e, pytest.mark.kafka, pytest.mark.postgres, pytest.mark.clickhouse,
              pytest.mark.smtp]

TOTAL, BATCH, KILLS = 5_000, 500, 6
HANDOVERS = (20, 600)  # new hand-overs since the restart before the next kill, drawn per kill
# A retry claimed by a worker that is killed comes back when its lease ends (retry_store.py).
LEASE_S = 15  # a killed worker's claimed retries come back after this (MAILERLOGIC_RETRY_LEASE)
SETTLE_S = LEASE_S + 240
DOMAIN = "killrun.test"
DELIVERY = ("consume", "delivery")
WORKER_ENV = {"MAILERLOGIC_RETRY_SCHEDULE": "first=1,factor=1,max=1,budget=5",
              "MAILERLOGIC_DELIVERY_SESSIONS": "8", "MAILERLOGIC_RETRY_LEASE": str(LEASE_S)}
FINAL_TOPICS = {f"event_store.aggregates.message:Message.{name}": name.lower()
                for name in ("Sent", "Delivered", "Bounced", "Failed")}


def recipient(index: int) -> str:
    """2% refused for good, 1% refused for now (until the budget is spent), the rest accepted."""
    if index % 50 == 7:
        return f"reject-{index}@example.org"
    if index % 100 == 13:
        return f"defer-{index}@example.org"
    return f"r{index}@example.org"


def outcome_of(address: str) -> str:
    """The one final outcome a recipient's message must end with."""
    return {"reject": "bounced", "defer": "failed"}.get(address.partition("-")[0], "delivered")


def _email(index: int) -> dict[str, Any]:
    link = f"https://shop.example.org/item/{index}?ref=kill&x=1"
    return {"to": recipient(index), "subject": f"Offer {index}", "tag": "killrun",
            "html": f'<p>Hello {index}, <a href="{link.replace("&", "&amp;")}">see it</a></p>',
            "text": f"Hello {index}, see {link}", "headers": {"X-Run": "kill"},
            "track_opens": True, "track_clicks": True}


def _submit(stack: Stack, key: str, ids: dict[str, str], failures: list[BaseException]) -> None:
    """POST the messages in batches of ``BATCH``; ``ids`` maps message id -> recipient."""
    try:
        for start in range(0, TOTAL, BATCH):
            _, body = stack.request("POST", "/api/batch",
                                    {"emails": [_email(i) for i in range(start, start + BATCH)]}, key=key)
            assert (body["queued"], body["failed"]) == (BATCH, 0), body["results"][:3]
            for result in body["results"]:
                ids[result["message_id"]] = recipient(start + result["index"])
    except BaseException as exc:  # re-raised by the test thread
        failures.append(exc)


def _reached(smtp: SmtpServer, count: int) -> bool:
    return len(smtp.handler.received) >= count


def _kill_while_busy(stack: Stack, smtp: SmtpServer, env: dict[str, str], rng: random.Random
                     ) -> list[tuple[float, int]]:
    """SIGKILL and restart the worker ``KILLS`` times, each after new hand-overs; (time, received)."""
    kills: list[tuple[float, int]] = []
    started = time.monotonic()
    for n in range(KILLS):
        want = len(smtp.handler.received) + rng.randint(*HANDOVERS)
        wait_for(partial(_reached, smtp, want), f"{want} hand-overs before kill {n + 1}",
                 seconds=180, every=0.02)
        stack.kill("delivery", signal.SIGKILL)
        kills.append((round(time.monotonic() - started, 1), len(smtp.handler.received)))
        stack.start("delivery", *DELIVERY, env=env)
    return kills


def _totals(stack: Stack, key: str) -> dict[str, int]:
    today = datetime.now(UTC).date()
    query = f"fromdate={today - timedelta(days=2)}&todate={today + timedelta(days=1)}"
    _, body = stack.request("GET", f"/api/stats/outbound?{query}", key=key)
    return {k: body[k] for k in ("sent", "delivered", "bounced", "failed")}


def _settle(stack: Stack, key: str, expected: dict[str, int]) -> tuple[float, float]:
    """Wait for ``expected``; seconds until all but ``failed`` matched, and until all did."""
    began = time.monotonic()
    last: dict[str, int] = {}
    others_at: list[float] = []

    def check() -> bool:
        last.update(_totals(stack, key))
        if not others_at and all(last[k] == expected[k] for k in expected if k != "failed"):
            others_at.append(time.monotonic() - began)
        return last == expected

    try:
        wait_for(check, f"totals {expected}", SETTLE_S, 1)
    except AssertionError as exc:
        raise AssertionError(f"{exc}; totals then: {last}") from None
    return others_at[0], time.monotonic() - began


def _api_finals(stack: Stack, key: str) -> list[dict[str, Any]]:
    """Every delivered/bounced/failed event through the Events API, 1,000 a page, by cursor."""
    events: list[dict[str, Any]] = []
    cursor = ""
    for _ in range(TOTAL // 1000 + 3):
        _, body = stack.request("GET", f"/api/events?type=delivered,bounced,failed&limit=1000{cursor}",
                                key=key)
        events += body["events"]
        if body["pagination"]["next_cursor"] is None:
            return events
        cursor = f"&cursor={body['pagination']['next_cursor']}"
    raise AssertionError(f"more pages than {TOTAL} final events need; {len(events)} so far")


def _stored_finals(event_store_url: str, tmp_path: Path) -> list[tuple[str, str]]:
    """(message id, outcome) of every final event in the event store, the source of truth."""
    events = open_application(event_store_url, str(tmp_path / "unused.sqlite"))
    try:
        return [(str(n.originator_id), FINAL_TOPICS[n.topic])
                for n in events.recorder_.select_notifications(1, 1_000_000, topics=list(FINAL_TOPICS))]
    finally:
        events.close()


def _dnsfunc(stack: Stack, key: str) -> Any:
    """A dkimpy DNS lookup answering with the DKIM record the API tells the customer to publish."""
    _, body = stack.request("GET", "/api/customer/domains", key=key)
    records = {r["host"]: r["value"] for d in body["domains"] for r in d["dns_records"]
               if r["purpose"] == "dkim"}

    def lookup(name: bytes, timeout: int = 5) -> bytes:
        return str(records.get(name.decode().rstrip("."), "")).encode()

    return lookup


def _check_one_final_each(finals: list[tuple[str, str]], ids: dict[str, str], where: str) -> None:
    per_message = Counter(message for message, _ in finals)
    twice = {m: n for m, n in per_message.items() if n > 1}
    assert not twice, f"{where}: {len(twice)} messages with more than one final event, e.g. " \
                      f"{sorted(twice.items())[:5]}"
    assert set(per_message) == set(ids), f"{where}: {len(set(ids) - set(per_message))} without one"
    wrong = [(m, o, ids[m]) for m, o in finals if o != outcome_of(ids[m])]
    assert not wrong, f"{where}: unexpected outcomes {wrong[:5]}"


def _check_received(stack: Stack, key: str, smtp: SmtpServer, ids: dict[str, str]) -> int:
    """Each delivered message at least once, nothing else, copies alike; the extra copies."""
    groups = by_message_id(smtp.received)
    delivered = {f"<{m}@{DOMAIN}>": to for m, to in ids.items() if outcome_of(to) == "delivered"}
    assert len(groups) == len(delivered) and set(groups) == set(delivered), \
        (len(set(delivered) - set(groups)), sorted(set(groups) - set(delivered))[:5])
    assert all(copies[0].rcpt_tos == (delivered[mid],) for mid, copies in groups.items())
    differing = {mid: diff for mid, copies in groups.items() if (diff := differences(copies))}
    assert not differing, f"{len(differing)} Message-IDs with different copies, e.g. " + \
        "\n".join(next(iter(differing.values()))[:40])
    lookup = _dnsfunc(stack, key)
    again = [copy for copies in groups.values() if len(copies) > 1 for copy in copies]
    assert all(dkim.verify(copy.data, dnsfunc=lookup) for copy in again)  # each copy signed anew
    return sum(len(copies) - 1 for copies in groups.values())


def _enterprise_customer(stack: Stack) -> str:
    """A new enterprise customer (the Events API, 6,000 requests a minute) with a verified domain."""
    out = stack.cli("customers", "create", "--name", "Killrun", "--email", f"ops@{DOMAIN}",
                    "--tier", "enterprise", "--domain", DOMAIN, "--json")
    return str(json.loads(out)["api_key"])


@pytest.mark.timeout(SETTLE_S + 300)
def test_kill_9_of_the_delivery_worker_delivers_each_message_once(
        real_stack: Stack, real_env: dict[str, str], tmp_path: Path) -> None:
    began, seed = time.monotonic(), random.randrange(1 << 32)
    smtp = start_smtp_server()
    try:
        env = {"SMTP_RELAY_URL": smtp.url, **WORKER_ENV}
        real_stack.start("delivery", *DELIVERY, env=env)
        key = _enterprise_customer(real_stack)
        ids: dict[str, str] = {}
        failures: list[BaseException] = []
        sender = threading.Thread(target=_submit, args=(real_stack, key, ids, failures), daemon=True)
        sender.start()
        kills = _kill_while_busy(real_stack, smtp, env, random.Random(seed))
        sender.join(timeout=120)
        assert not sender.is_alive() and not failures, failures
        kills_done = time.monotonic() - began

        expected = {"sent": TOTAL, "delivered": TOTAL - TOTAL // 50 - TOTAL // 100,
                    "bounced": TOTAL // 50, "failed": TOTAL // 100}
        but_failed, settled = _settle(real_stack, key, expected)
        time.sleep(2)  # a late second outcome would show up now
        assert _totals(real_stack, key) == expected

        _check_one_final_each(_stored_finals(real_env["EVENT_STORE_URL"], tmp_path), ids, "event store")
        api = _api_finals(real_stack, key)
        assert len({e["id"] for e in api}) == len(api) == TOTAL
        _check_one_final_each([(e["email_id"], e["event_type"]) for e in api], ids, "Events API")
        extra = _check_received(real_stack, key, smtp, ids)
        delivery = real_stack.procs.pop("delivery")
        delivery.send_signal(signal.SIGTERM)
        assert delivery.wait(timeout=30) == 0  # the last worker stops cleanly
        print(f"\ndelivery kill run (seed {seed}): {len(kills)} kills at (s, hand-overs) {kills}; "
              f"{len(smtp.received)} hand-overs, {extra} duplicate copies; totals {expected}; "
              f"kills done {kills_done:.1f}s after the start; delivered and bounced settled "
              f"{but_failed:.1f}s later, failed {settled:.1f}s later; {time.monotonic() - began:.1f}s in all")
    finally:
        smtp.stop()

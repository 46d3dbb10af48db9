"""The retry and bounce paths under load: 1,000 messages into a sink that defers and rejects.

``mailerlogic run-all`` (embedded default, fresh data dir) delivers to ``bench.delivery_sink``
with ``MAILERLOGIC_RETRY_SCHEDULE=first=1,factor=1,max=1,budget=3``, so a deferred message
ends as ``failed`` within seconds. Message n goes (by ``n % 10``) to ``defer-n@`` (451 at RCPT:
retried, then failed), ``reject-n@`` (550: bounced), ``ok-n@`` with a cc ``reject-n@`` (one
recipient accepted, one bounced), or ``ok-n@`` alone (accepted).

Printed: the sink's counts (accepted messages, 550s, 451s) and the statistics' ``delivered`` /
``bounced`` / ``failed`` (``bench.delivery_checks``; expected: messages with an accepted
recipient, messages with a rejected recipient, deferred messages). Figure: messages/s from the
first request until every message had its first decisive answer at the sink (DATA accepted,
550, or the first 451), against ``smtp-source`` sending as many messages of the same size into
the same kind of sink.
"""

from __future__ import annotations

import random
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench import delivery_content as content
from bench import delivery_stack
from bench.common import Options
from bench.common import Result
from bench.delivery_api import Client
from bench.delivery_api import submit_all
from bench.delivery_checks import Expected
from bench.delivery_checks import check_outbound
from bench.delivery_sink import SinkLog
from bench.delivery_sink import SinkProcess
from bench.delivery_sink import read_log
from bench.delivery_smtp import smtp_source

MESSAGES = 1_000
SCHEDULE = "first=1,factor=1,max=1,budget=3"
TARGET = 0.1
TIMEOUT_S = 300.0
PROGRESS_S = 5.0


def kind(n: int) -> str:
    """What message ``n`` meets at the sink: defer, reject, cc-reject or ok."""
    return {0: "defer", 1: "reject", 2: "cc-reject"}.get(n % 10, "ok")


def messages(seed: int) -> list[dict[str, Any]]:
    """The phase's messages, each to the recipient its kind names."""
    rng = random.Random(seed * 7_919 + 1)
    found = []
    for n in range(MESSAGES):
        what = kind(n)
        to = f"{what}-{n}@example.com" if what in ("defer", "reject") else f"ok-{n}@example.com"
        cc = (f"reject-cc-{n}@example.com",) if what == "cc-reject" else ()
        found.append(content.body(rng, n, to, cc))
    return found


def run(options: Options, directory: Path) -> list[Result]:
    """The phase, its sink counts against the statistics, and its throughput figure."""
    bodies = messages(options.seed)
    batches = [b for b, _ in content.pack(bodies)]
    directory.mkdir(parents=True, exist_ok=True)
    sink = SinkProcess(directory / "sink.jsonl")
    try:
        with delivery_stack.embedded(directory / "stack", sink.url,
                                     {"MAILERLOGIC_RETRY_SCHEDULE": SCHEDULE}) as (stack, keys):
            done = submit_all(stack.port, keys[0], batches)
            print(f"  retry phase: {done.line()}", file=sys.stderr)
            if len(done.queued) != MESSAGES:
                raise RuntimeError(f"retry phase: the API queued {len(done.queued)} of {MESSAGES}")
            decided = _wait_decided(lambda: read_log(sink.log_path), bodies, stack)
            log = read_log(sink.log_path)
            expected = Expected(MESSAGES, len(log.accepted),
                                bounced=sum(kind(n) in ("reject", "cc-reject") for n in range(MESSAGES)),
                                failed=sum(kind(n) == "defer" for n in range(MESSAGES)))
            client = Client(stack.port, keys[0])
            # Settled = unchanged for 5 x the retry budget: a deferred message still due then is stuck.
            verdict = check_outbound(client, expected, "retry phase", timeout_s=120.0, settle_s=15.0)
            client.close()
    finally:
        sink.stop()
    log = read_log(sink.log_path)
    _print_sink(log)
    seconds = max(decided) - done.started if decided else float("inf")
    ours = len(decided) / seconds
    size = int(sum(log.sizes) / len(log.sizes)) if log.sizes else 50_000
    base = _baseline(directory, stack.sessions, size)
    print(f"  retry phase: {len(decided):,} messages decided in {seconds:.1f}s = {ours:,.1f} msg/s; "
          f"smtp-source -s {stack.sessions} -l {size} into the same aiosmtpd sink: {base:,.0f} msg/s",
          file=sys.stderr)
    return [Result("delivery_retry_msgs_per_s", "msg/s", ours, base,
                   f"smtp-source -s {stack.sessions} -l {size} into the same aiosmtpd sink", TARGET),
            Result("delivery_retry_outcomes", "msgs", float(verdict.stats.get("delivered") or 0),
                   float(expected.delivered), "accepted by the sink; bounced, failed checked too",
                   1.0 if verdict.ok else float("inf"))]


def _wait_decided(read: Callable[[], SinkLog], bodies: list[dict[str, Any]],
                  stack: delivery_stack.Stack) -> list[float]:
    """Until every message had its first decisive answer at the sink: their times."""
    start = time.monotonic()
    printed = start
    while True:
        log = read()
        decided = [at for body in bodies if (at := _decided_at(log, body)) is not None]
        now = time.monotonic()
        if len(decided) == len(bodies) or now - start > TIMEOUT_S:
            if len(decided) < len(bodies):
                print(f"  retry phase: INCOMPLETE: {len(decided)} of {len(bodies)} decided after "
                      f"{now - start:.0f}s", file=sys.stderr)
            return decided
        if now - printed >= PROGRESS_S:
            printed = now
            print(f"  retry phase: {len(decided):,} of {len(bodies):,} decided at the sink "
                  f"({now - start:.0f}s)", file=sys.stderr)
        stack.check_alive()
        time.sleep(0.5)


def _decided_at(log: SinkLog, body: dict[str, Any]) -> float | None:
    to = body["to"]
    if to.startswith(("defer-", "reject-")):
        return log.first_answer.get(to)  # the first 451 or the 550
    return log.delivered_to.get(to)


def _print_sink(log: SinkLog) -> None:
    codes = {code: 0 for code in (250, 451, 550)}
    attempts: Counter[int] = Counter()  # attempts -> deferred recipients that had that many
    for (_, code), times in log.codes.items():
        codes[code] = codes.get(code, 0) + times
        if code == 451:
            attempts[times] += 1
    print(f"  retry phase sink: {len(log.accepted):,} messages accepted ({log.accepted_total:,} "
          f"DATA 250s), {codes[550]:,} RCPTs rejected 550, {codes[451]:,} RCPT 451s for "
          f"{sum(attempts.values()):,} deferred recipients (attempts: recipients = "
          f"{dict(sorted(attempts.items()))})", file=sys.stderr)


def _baseline(directory: Path, sessions: int, size: int) -> float:
    """smtp-source's messages/s into a fresh aiosmtpd sink (everything accepted)."""
    sink = SinkProcess(directory / "baseline.jsonl")
    try:
        seconds = smtp_source(sink.port, MESSAGES, sessions, size)
        deadline = time.monotonic() + 10
        while read_log(sink.log_path).accepted_total < MESSAGES and time.monotonic() < deadline:
            time.sleep(0.1)
        accepted = read_log(sink.log_path).accepted_total
    finally:
        sink.stop()
    if accepted != MESSAGES:
        raise RuntimeError(f"the aiosmtpd sink accepted {accepted} of smtp-source's {MESSAGES}")
    return MESSAGES / seconds

"""Delivery end to end (issue 9, item 5): ``python -m bench --only delivery``.

Realistic messages (``bench.delivery_content``: 10-50 KB HTML, ~20 links, a text part, seeded)
go the whole way: ``POST /api/batch`` -> event store -> relay -> Kafka -> delivery worker ->
DKIM -> SMTP, into Postfix's ``smtp-sink`` on loopback (``bench.delivery_smtp``), on two
configurations (``bench.delivery_stack``): the embedded default (``run-all``) and the real
services (api x2, relay, projector, delivery x ``MAILERLOGIC_BENCH_DELIVERY_PROCESSES``, default 2).
``--events`` plays no part; N is ``MAILERLOGIC_BENCH_DELIVERY_N`` (default 5,000).

Figures per configuration, each next to a baseline measured in the same run:

* throughput: N messages submitted as fast as the API takes them (batches <= 500 and < 8 MB);
  delivered msg/s = N / (first request -> the last of them in the sink, by dump file mtime).
  Baseline: ``smtp-source`` sending N messages of the same mean size over as many parallel
  sessions into a fresh sink of the same mode. Target ratio 0.1 (stretch 0.2); absolute >= 300/s.
  The API's own acceptance rate is printed.
* latency at offered load: 10 messages every 0.1 s for 20 s (at most 4 requests in flight, so
  a slower API lowers the offered load, which is printed); queue-to-handoff = sink mtime - the
  batch's answer time. p50/p95/p99 in ms (ratio baseline/ours, as ``bench.http_api``); baseline:
  ``smtp-source``, one session, mean time per message; p95 limit 2 s (row target = baseline/limit).
* correctness (``bench.delivery_checks``): the statistics' ``delivered`` = distinct messages in
  the sink; messages handed over twice and queued messages that never arrived are printed.

Once per run: the DKIM sign rate (``bench.signing.sign_rates``, ours vs dkimpy; target 1.0), and
the retry and bounce phase (``bench.delivery_retry``). ``MAILERLOGIC_DELIVERY_SESSIONS`` and
(run-all) ``MAILERLOGIC_DELIVERY_PROCESSES`` reach the worker only when set here; the baselines
use as many sessions as all delivery processes together.
"""

from __future__ import annotations

import os
import shutil
import signal
import sys
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path

from bench import delivery_content as content
from bench import delivery_retry
from bench import delivery_stack
from bench.common import DATA_DIR
from bench.common import Options
from bench.common import Result
from bench.common import fresh_hex
from bench.common import register
from bench.delivery_api import Client
from bench.delivery_api import Submitted
from bench.delivery_api import submit_all
from bench.delivery_api import submit_paced
from bench.delivery_checks import Expected
from bench.delivery_checks import check_outbound
from bench.delivery_smtp import Arrival
from bench.delivery_smtp import SmtpSink
from bench.delivery_smtp import ensure_postfix_tools
from bench.delivery_smtp import smtp_source
from bench.http_api import LowerIsBetter
from bench.read_side import Latency

N = int(os.environ.get("MAILERLOGIC_BENCH_DELIVERY_N") or 5_000)
PROCESSES = int(os.environ.get("MAILERLOGIC_BENCH_DELIVERY_PROCESSES") or 2)
WARMUP = 20
LOAD_BATCH, LOAD_INTERVAL_S, LOAD_SECONDS = 10, 0.1, 20  # 100 messages/s offered for 20 s
LATENCY_BASELINE_MESSAGES = 200
P95_LIMIT_S = 2.0
TARGET, STRETCH, ABSOLUTE_TARGET = 0.1, 0.2, 300.0
SIGN_TARGET = 1.0


@register("delivery")
def delivery(options: Options) -> list[Result]:
    """Throughput, latency and correctness on both configurations; sign rate; retries and bounces."""
    ensure_postfix_tools()
    previous = signal.signal(signal.SIGTERM, _exit_on_sigterm)  # so every `finally` kills its children
    try:
        return _all(options)
    finally:
        signal.signal(signal.SIGTERM, previous)


def _exit_on_sigterm(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)


def _all(options: Options) -> list[Result]:
    results = _sign_rate()
    run_dir = DATA_DIR / "runs" / f"delivery-{fresh_hex()}"
    load_n = LOAD_BATCH * int(LOAD_SECONDS / LOAD_INTERVAL_S)
    start = time.monotonic()
    messages = content.bodies(options.seed, WARMUP + N + load_n)
    batches = ([b for b, _ in content.pack(messages[:WARMUP])],
               [b for b, _ in content.pack(messages[WARMUP:WARMUP + N])],
               [b for b, _ in content.pack(messages[WARMUP + N:], max_items=LOAD_BATCH)])
    size = sum(len(m["html"]) + len(m["text"]) for m in messages) / len(messages)
    del messages
    print(f"  {WARMUP + N + load_n:,} messages generated (mean html + text {size / 1e3:.1f} KB; "
          f"{len(batches[1])} batches for N) in {time.monotonic() - start:.1f}s", file=sys.stderr)
    try:
        results += _configuration("embedded", options, run_dir, batches)
        if os.environ.get("EVENT_STORE_URL", "").startswith("postgresql://"):
            results += _configuration("services", options, run_dir, batches)
        else:
            print("  services configuration SKIPPED: EVENT_STORE_URL is not postgresql://",
                  file=sys.stderr)
        results += delivery_retry.run(options, run_dir / "retry")
    finally:
        if not options.keep:
            shutil.rmtree(run_dir, ignore_errors=True)
    return results


def _sign_rate() -> list[Result]:
    try:
        from bench.signing import sign_rates
    except ModuleNotFoundError as exc:
        if exc.name != "bench.signing":
            raise
        print("  sign rate SKIPPED: bench/signing.py (sign_rates) does not exist yet", file=sys.stderr)
        return []
    dkimpy, ours = sign_rates()
    print(f"  DKIM sign rate: ours {ours:,.0f}/s, dkimpy {dkimpy:,.0f}/s", file=sys.stderr)
    return [Result("dkim_sign_per_s", "sig/s", ours, dkimpy, "dkimpy, same key and message",
                   SIGN_TARGET)]


def _open(name: str, options: Options, directory: Path,
          relay_url: str) -> AbstractContextManager[tuple[delivery_stack.Stack, list[str]]]:
    if name == "embedded":
        return delivery_stack.embedded(directory, relay_url)
    return delivery_stack.services(directory, relay_url, options.services, PROCESSES, options.keep)


def _configuration(name: str, options: Options, run_dir: Path,
                   batches: tuple[list[bytes], list[bytes], list[bytes]]) -> list[Result]:
    """One configuration: warm-up, throughput, latency, correctness; then the baselines."""
    warm, bulk, load = batches
    sink = SmtpSink(f"{name}-sink")
    try:
        with _open(name, options, run_dir / name, sink.url) as (stack, keys):
            print(f"  {name}: up ({stack.delivery_processes} delivery process(es), "
                  f"{stack.sessions} SMTP sessions in the baseline)", file=sys.stderr)
            warmed = submit_all(stack.port, keys[0], warm)
            if not stack.wait_count(_arrived(sink, warmed), len(warmed.queued), f"{name} warm-up", 180.0):
                raise RuntimeError(f"{name}: the warm-up messages did not reach the sink; logs in "
                                   f"{stack.dir} (run with --keep to keep them)")
            bulk_done = submit_all(stack.port, keys[0], bulk)
            print(f"  {name}: {bulk_done.line()}", file=sys.stderr)
            stack.wait_count(_arrived(sink, bulk_done), len(bulk_done.queued), f"{name} throughput",
                             60.0 + N / 10)
            paced = submit_paced(stack.port, keys[0], load, LOAD_INTERVAL_S)
            print(f"  {name} latency load: {paced.line()}", file=sys.stderr)
            stack.wait_count(_arrived(sink, paced), len(paced.queued), f"{name} latency",
                             120.0 + len(paced.queued) / 10)
            waited = time.time()
            total = len(warmed.queued) + len(bulk_done.queued) + len(paced.queued)
            client = Client(stack.port, keys[0])
            verdict = check_outbound(client, Expected(total, len(_first(sink.scan()))), name)
            client.close()
        arrivals = sink.scan()  # the stack is gone: the sink is idle, its counter final
    finally:
        sink.remove()
    first = _first(arrivals)
    _print_sink(name, sink, arrivals, first, total)
    mean_size = int(sum(a.size for a in arrivals) / len(arrivals)) if arrivals else 30_000
    results = _throughput(name, bulk_done, first, stack.sessions, mean_size)
    results += _latency(name, paced, first, waited, mean_size)
    results.append(Result(f"delivery_{name}_delivered", "msgs", float(verdict.stats.get("delivered") or 0),
                          float(len(first)), "distinct messages in the sink (statistics' delivered)",
                          1.0 if verdict.ok else float("inf")))
    return results


def _arrived(sink: SmtpSink, done: Submitted) -> Callable[[], int]:
    """How many of ``done``'s messages the sink has finished receiving."""
    return lambda: sum(1 for m in {a.message_id for a in sink.scan()} if m in done.queued)


def _first(arrivals: list[Arrival]) -> dict[str, float]:
    """Message id -> when the sink first finished receiving it."""
    first: dict[str, float] = {}
    for arrival in arrivals:
        first[arrival.message_id] = min(arrival.at, first.get(arrival.message_id, arrival.at))
    return first


def _print_sink(name: str, sink: SmtpSink, arrivals: list[Arrival], first: dict[str, float],
                queued: int) -> None:
    twice = len(arrivals) - len(first)
    print(f"  {name} sink: {sink.count:,} messages counted by smtp-sink, {len(arrivals):,} finished "
          f"files, {len(first):,} distinct Message-IDs of {queued:,} queued"
          + (f", {sink.unparsable()} files unparsable" if sink.unparsable() else ""), file=sys.stderr)
    if twice:
        print(f"  DUPLICATES ({name}): {twice} handovers of a message the sink already had",
              file=sys.stderr)
    if sink.count != len(arrivals) + sink.unparsable():
        print(f"  SINK COUNT MISMATCH ({name}): smtp-sink counted {sink.count:,}, "
              f"{len(arrivals) + sink.unparsable():,} files", file=sys.stderr)
    if len(first) < queued:
        print(f"  MISSING ({name}): {queued - len(first):,} queued messages never reached the sink",
              file=sys.stderr)


def _throughput(name: str, done: Submitted, first: dict[str, float], sessions: int,
                size: int) -> list[Result]:
    arrived = [first[m] for m in done.queued if m in first]
    seconds = (max(arrived) - done.started) if arrived else float("inf")
    ours = len(arrived) / seconds
    base_sink = SmtpSink(f"{name}-baseline")
    try:
        base_s = smtp_source(base_sink.port, N, sessions, size, base_sink)
    finally:
        base_sink.remove()
    base = N / base_s
    missing = len(done.queued) - len(arrived)
    print(f"  {name} throughput: {len(arrived):,} delivered in {seconds:.1f}s = {ours:,.1f} msg/s"
          + (f" (INCOMPLETE: {missing:,} never reached the sink)" if missing else "")
          + f"; absolute target >= {ABSOLUTE_TARGET:.0f} msg/s: "
          f"{'met' if ours >= ABSOLUTE_TARGET else 'NOT met'}; smtp-source -s {sessions} -l {size}: "
          f"{base:,.0f} msg/s; ratio {ours / base:.3f} (target {TARGET}, stretch {STRETCH})",
          file=sys.stderr)
    return [Result(f"delivery_{name}_msgs_per_s", "msg/s", ours, base,
                   f"smtp-source -s {sessions} -l {size} into the same smtp-sink; "
                   f"stretch {STRETCH}, absolute {ABSOLUTE_TARGET:.0f}/s", TARGET)]


def _latency(name: str, done: Submitted, first: dict[str, float], waited: float,
             size: int) -> list[Result]:
    # A message that never arrived counts with its wait so far: a lower bound, never left out.
    samples = [(first.get(m, waited) - at) * 1e3 for m, at in done.queued.items()]
    missing = sum(m not in first for m in done.queued)
    latency = Latency(samples)
    base_sink = SmtpSink(f"{name}-latency-baseline")
    try:
        base = smtp_source(base_sink.port, LATENCY_BASELINE_MESSAGES, 1, size, base_sink)
    finally:
        base_sink.remove()
    base *= 1e3 / LATENCY_BASELINE_MESSAGES
    offered = len(done.queued) / done.seconds
    wanted = LOAD_BATCH / LOAD_INTERVAL_S
    if offered < 0.95 * wanted:
        print(f"  {name} latency: the API took only {offered:,.0f} of the {wanted:,.0f} msg/s offered "
              f"(at most 4 requests in flight): the offered load was lower", file=sys.stderr)
    limit_ms = P95_LIMIT_S * 1e3
    print(f"  {name} latency at {offered:,.0f} msg/s offered: queue-to-handoff {latency.line()}, "
          f"p99 {latency.pct(99):.1f} ms, max {max(samples):.1f} ms"
          + (f" ({missing} MISSING: counted with their wait so far)" if missing else "")
          + f"; p95 limit {limit_ms:.0f} ms: {'met' if latency.pct(95) < limit_ms else 'NOT met'}"
          f"; smtp-source alone {base:.1f} ms per message", file=sys.stderr)
    baseline_name = "smtp-source, 1 session: mean ms per message"
    return [LowerIsBetter(f"delivery_{name}_p{pct}_ms", "ms", latency.pct(pct), base,
                          baseline_name + (f"; limit {limit_ms:.0f} ms" if pct == 95 else ""),
                          round(base / limit_ms, 4) if pct == 95 else 0.0)
            for pct in (50, 95, 99)]

"""Child processes restarted when they exit: ``mailerlogic supervise`` and run-all's delivery shards.

A child that exits (any status, a kill -9 included) is started again after a delay that begins
at ``first_delay_s`` and doubles up to ``max_delay_s`` while it keeps failing; a child that ran
for ``steady_s`` or longer before exiting starts again after the first delay. With
``max_failures`` set, a child that exits that many times within ``failure_window_s`` makes
:func:`supervise` raise (run-all's shards: a failing thread stops run-all too); without it the
supervisor never gives up (``mailerlogic supervise``: the process table stays up through any
outage, each process waiting for its dependencies in its own backoff loop).

On stop, every child gets SIGTERM (stop polling, finish the batch, commit, exit) and is killed if
it is still running after ``grace_s``.
"""

from __future__ import annotations

import logging
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from dataclasses import field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import threading
    from collections.abc import Mapping
    from collections.abc import Sequence

log = logging.getLogger("mailerlogic.supervisor")


@dataclass(frozen=True)
class Policy:
    """When a child is restarted, and when the supervisor gives up."""

    first_delay_s: float = 1.0
    max_delay_s: float = 10.0
    steady_s: float = 60.0
    max_failures: int | None = None
    failure_window_s: float = 60.0
    grace_s: float = 30.0


@dataclass
class Child:
    """One supervised process: its name, its ``mailerlogic`` arguments, its recent exits."""

    name: str
    args: tuple[str, ...]
    process: subprocess.Popen[bytes] | None = None
    started: float = 0.0
    failures: list[float] = field(default_factory=list)
    delay_s: float = 0.0
    due: float = 0.0  # when a child waiting to restart starts again (monotonic)
    restarts: int = 0

    def command(self) -> list[str]:
        """``python -m mailerlogic ARGS`` with this interpreter."""
        return [sys.executable, "-m", "mailerlogic", *self.args]


def supervise(children: Sequence[Child], env: Mapping[str, str], stop: threading.Event,
              policy: Policy = Policy()) -> None:
    """Run ``children`` until ``stop``, restarting each that exits; raises per ``max_failures``."""
    try:
        for child in children:
            _start(child, env)
        while not stop.wait(0.2):
            for child in children:
                _check(child, env, policy)
    finally:
        _stop_all(children, policy.grace_s)


def _start(child: Child, env: Mapping[str, str]) -> None:
    child.process = subprocess.Popen(child.command(), env=dict(env), stdin=subprocess.DEVNULL)
    child.started = time.monotonic()
    log.info("%s: started, pid %d", child.name, child.process.pid)


def _check(child: Child, env: Mapping[str, str], policy: Policy) -> None:
    now = time.monotonic()
    if child.process is None:  # waiting for its restart
        if now >= child.due:
            child.restarts += 1
            _start(child, env)
        return
    code = child.process.poll()
    if code is None:
        return
    ran = now - child.started
    child.process = None
    child.failures = [t for t in child.failures if now - t < policy.failure_window_s] + [now]
    if policy.max_failures is not None and len(child.failures) >= policy.max_failures:
        raise RuntimeError(f"{child.name} failed {policy.max_failures} times in "
                           f"{policy.failure_window_s:.0f} s")
    steady = ran >= policy.steady_s or not child.delay_s
    child.delay_s = policy.first_delay_s if steady else min(child.delay_s * 2, policy.max_delay_s)
    child.due = now + child.delay_s
    log.error("%s exited with status %d after %.1f s; restarting in %.1f s", child.name, code, ran,
              child.delay_s)


def _stop_all(children: Sequence[Child], grace_s: float) -> None:
    running = [c.process for c in children if c.process is not None and c.process.poll() is None]
    for process in running:
        process.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    for process in running:
        try:
            process.wait(timeout=max(deadline - time.monotonic(), 0.1))
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def process_table(*, kafka: bool, clickhouse_server: bool, projectors: int = 1, delivery: int = 1,
                  webhooks: int = 1) -> list[Child]:
    """The README's process table as children: one of each, ``projectors`` projectors and so on.

    Without a ClickHouse server (the embedded default: chdb opens in one process) the table is
    ``run-all`` alone, supervised all the same.
    """
    if not clickhouse_server:
        return [Child("run-all", ("run-all",))]
    if not kafka and projectors > 1:
        raise ValueError("without Kafka the projector reads the log under one reader name: run one "
                         "(more projectors share a Kafka topic's partitions)")
    children = [Child("api", ("api",))]
    if kafka:
        children.append(Child("relay", ("relay",)))
    children += [Child(f"projector-{n + 1}", ("consume", "projector")) for n in range(projectors)]
    if kafka or delivery == 1:
        children += [Child(f"delivery-{n + 1}", ("consume", "delivery")) for n in range(delivery)]
    else:  # the in-process log has one reader per name: shards of it
        children += [Child(f"delivery-{n + 1}", ("consume", "delivery", "--shard", f"{n}/{delivery}"))
                     for n in range(delivery)]
    if not kafka and webhooks > 1:
        raise ValueError("without Kafka run one webhooks process")
    children += [Child(f"webhooks-{n + 1}", ("consume", "webhooks")) for n in range(webhooks)]
    children += [Child("exports", ("consume", "exports")), Child("scheduler", ("scheduler",))]
    return children

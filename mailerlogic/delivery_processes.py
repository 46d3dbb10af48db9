"""Several delivery processes under ``run-all`` (``MAILERLOGIC_DELIVERY_PROCESSES`` > 1).

On the embedded default every consumer is a thread of ``run-all``, so rendering, signing and
recording share one interpreter lock. With ``N`` > 1, ``run-all`` instead starts ``N`` child
processes ``mailerlogic consume delivery --shard K/N``: each reads the whole notification log
under its own reader name and delivers the messages whose id modulo ``N`` is ``K``, so every
message has exactly one owner (the retry schedule is shared and claimed with leases).

A child that exits is started again after a second; one that fails ``MAX_FAILURES`` times
within ``FAILURE_WINDOW_S`` stops ``run-all`` (exit status 1), as a failing thread would.
On stop, every child gets SIGTERM (stop polling, finish the batch, commit, exit) and is
killed if it is still running after ``GRACE_S``. Changing ``N`` gives the shards new reader
names, which read the log from the start: finished messages are skipped, nothing is resent.
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

log = logging.getLogger("mailerlogic.delivery")
MAX_FAILURES = 5
FAILURE_WINDOW_S = 60.0
GRACE_S = 30.0
RESTART_DELAY_S = 1.0


@dataclass
class Child:
    """One shard's process and its recent failures."""

    shard: int
    count: int
    process: subprocess.Popen[bytes] | None = None
    failures: list[float] = field(default_factory=list)

    def command(self) -> list[str]:
        """``mailerlogic consume delivery --shard K/N`` with this interpreter."""
        return [sys.executable, "-m", "mailerlogic", "consume", "delivery",
                "--shard", f"{self.shard}/{self.count}"]


def run_delivery_processes(count: int, env: Mapping[str, str], stop: threading.Event) -> None:
    """Run ``count`` delivery shards until ``stop``; raises when one keeps failing."""
    children = [Child(shard, count) for shard in range(count)]
    try:
        for child in children:
            _start(child, env)
        while not stop.wait(0.5):
            for child in children:
                _check(child, env)
    finally:
        _stop_all(children)


def _start(child: Child, env: Mapping[str, str]) -> None:
    child.process = subprocess.Popen(child.command(), env=dict(env), stdin=subprocess.DEVNULL)
    log.info("delivery shard %d/%d: pid %d", child.shard, child.count, child.process.pid)


def _check(child: Child, env: Mapping[str, str]) -> None:
    assert child.process is not None
    code = child.process.poll()
    if code is None:
        return
    now = time.monotonic()
    child.failures = [t for t in child.failures if now - t < FAILURE_WINDOW_S] + [now]
    log.error("delivery shard %d/%d exited with status %d", child.shard, child.count, code)
    if len(child.failures) >= MAX_FAILURES:
        raise RuntimeError(f"delivery shard {child.shard}/{child.count} failed {MAX_FAILURES} "
                           f"times in {FAILURE_WINDOW_S:.0f} s")
    time.sleep(RESTART_DELAY_S)
    _start(child, env)


def _stop_all(children: list[Child]) -> None:
    running = [c.process for c in children if c.process is not None and c.process.poll() is None]
    for process in running:
        process.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + GRACE_S
    for process in running:
        try:
            process.wait(timeout=max(deadline - time.monotonic(), 0.1))
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)

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

from typing import TYPE_CHECKING

from mailerlogic.supervisor import Child
from mailerlogic.supervisor import Policy
from mailerlogic.supervisor import supervise

if TYPE_CHECKING:
    import threading
    from collections.abc import Mapping

MAX_FAILURES = 5
FAILURE_WINDOW_S = 60.0
GRACE_S = 30.0
RESTART_DELAY_S = 1.0
POLICY = Policy(first_delay_s=RESTART_DELAY_S, max_delay_s=RESTART_DELAY_S, max_failures=MAX_FAILURES,
                failure_window_s=FAILURE_WINDOW_S, grace_s=GRACE_S)


def shards(count: int) -> list[Child]:
    """``mailerlogic consume delivery --shard K/N`` for each K."""
    return [Child(f"delivery shard {shard}/{count}", ("consume", "delivery", "--shard", f"{shard}/{count}"))
            for shard in range(count)]


def run_delivery_processes(count: int, env: Mapping[str, str], stop: threading.Event) -> None:
    """Run ``count`` delivery shards until ``stop``; raises when one keeps failing."""
    supervise(shards(count), env, stop, POLICY)

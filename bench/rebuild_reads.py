"""A rebuild on the 10 M-event data set, and the read side's latency while it runs (issue 10).

One run: the read benchmark's set-up (``bench.read_side``: 10 x ``--events`` generated events in
a fresh database of the ClickHouse server, the real API under gunicorn x2, a typical and a big
customer); a SQLite event store of the same number of events (``bench.stored_events``, cached in
``bench/data/``). Then ``consumers.rebuild.rebuild`` replays that store into the API's database
(shadow tables, swap, catch-up) in a child process, as ``mailerlogic projections rebuild`` does,
while this process asks ``GET /api/stats/outbound`` for the typical and the big customer in
turn, sequentially. Figures, each against a baseline of the same run:

* the rebuild's events/s against reading the same log alone (no ClickHouse);
* the p95 of the statistics during the rebuild against their p95 just before it (limits: the
  read benchmark's, 15 ms typical and 50 ms big).
"""

from __future__ import annotations

import json
import subprocess
import sys
import time

from bench.common import REPO_DIR
from bench.common import Options
from bench.common import Result
from bench.common import register
from bench.http_api import LowerIsBetter
from bench.read_side import BIG_P95_MS
from bench.read_side import TYPICAL_P95_MS
from bench.read_side import Http
from bench.read_side import Latency
from bench.read_side import _setup
from bench.read_side import timed
from bench.rebuild import BASELINE
from bench.rebuild import feed_alone
from bench.rebuild import store_path

CHILD = """
import json, sys
from pathlib import Path
from bench.rebuild import replay
from warehouse.clients import connect
print(json.dumps(replay(sys.argv[1], connect(sys.argv[2], Path("unused")))))
"""


@register("rebuild-reads")
def rebuild_reads(options: Options) -> list[Result]:
    """Rebuild 10 x --events stored events under the API; stats p95 before and during."""
    total = options.events * 10
    path = str(store_path(total, options.seed))
    baseline = total / feed_alone(path)
    with _setup(options, total) as setup:
        question = "/api/stats/outbound"  # the last 30 days, as the read benchmark asks
        apis = {who: Http(setup.port, setup.keys[who]) for who in ("typical", "big")}
        before = {who: timed(lambda api=api: api.get(question)) for who, api in apis.items()}  # type: ignore[misc]
        child = subprocess.Popen([sys.executable, "-c", CHILD, path,
                                  options.services.clickhouse_url(setup.database)],
                                 cwd=REPO_DIR, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        during: dict[str, list[float]] = {who: [] for who in apis}
        started = time.monotonic()
        while child.poll() is None and time.monotonic() - started < 3600:
            for who, api in apis.items():
                tick = time.perf_counter()
                api.get(question)
                during[who].append((time.perf_counter() - tick) * 1000)
        out, _ = child.communicate(timeout=600)
        figures = json.loads(out.decode().strip().splitlines()[-1])
        for api in apis.values():
            api.conn.close()
    rate = figures["replayed"] / figures["replay_s"]
    print(f"  rebuild of {figures['replayed']:,.0f} events: {figures['replay_s']:.1f}s replay, "
          f"{figures['total_s']:.1f}s in all ({rate:,.0f} events/s); "
          f"{sum(len(v) for v in during.values()):,} stats requests answered meanwhile", file=sys.stderr)
    results = [Result("rebuild_10m_server", "events/s", rate, baseline, BASELINE, 0.5)]
    for who, limit in (("typical", TYPICAL_P95_MS), ("big", BIG_P95_MS)):
        while_rebuilding = Latency(sorted(during[who]))
        print(f"  stats ({who}): before {before[who].line()}; during the rebuild "
              f"{while_rebuilding.line()}", file=sys.stderr)
        results.append(LowerIsBetter(
            f"stats_{who}_p95_ms_during_rebuild", "ms", while_rebuilding.pct(95), before[who].pct(95),
            f"p95 just before the rebuild; limit {limit:.0f} ms", round(before[who].pct(95) / limit, 3)))
    return results

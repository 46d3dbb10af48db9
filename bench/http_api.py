"""HTTP benchmarks: ``POST /api/send`` and ``GET /track/o/{token}`` under gunicorn, with wrk.

Each figure is measured against a bare Flask endpoint (``bench.bare_app``) in the same run, on
the same gunicorn configuration (sync workers, as many as ``MAILERLOGIC_API_WORKERS``, default 2;
loopback only):

* ``send``: the real API (``mailerlogic api --workers 2``) with real customer keys, on the
  embedded SQLite event store and, when ``EVENT_STORE_URL`` is set, on a throwaway PostgreSQL
  database of that server; baseline: a Flask endpoint parsing the same body with the same
  ``SendSchema``.
* ``pixel``: the real open pixel for ~1000 queued messages (tokens minted with the run's
  secret, rotated by the wrk script); baseline: a Flask endpoint returning the same GIF.

Load: wrk, 32 connections, 2 threads, a 2 s warm-up then 10 s measured. Figures: successful
(200) requests/s, and p99 latency (ratio baseline/ours, so higher is better; the row's target
is the bare p99 over the absolute limit, so ``ratio >= target`` means ``p99 < limit``).

Durability: the API is killed with SIGKILL after its runs, then the event store is read: it must
hold at least one event per 200 answer (wrk's Lua ``response()`` counts them), and at most
one more per connection and wrk run (requests in flight when wrk stops are committed by the
server but never counted by wrk).

ClickHouse (usage reads) is a throwaway database ``bench_http_<hex>`` on the services' server, so
the API may run several workers; it is dropped afterwards, as is the PostgreSQL database.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit
from urllib.parse import urlunsplit
from uuid import UUID

from bench import warehouse
from bench.common import DATA_DIR
from bench.common import LOOPBACK
from bench.common import REPO_DIR
from bench.common import Options
from bench.common import Result
from bench.common import fresh_hex
from bench.common import register

# The API's workers (MAILERLOGIC_API_WORKERS, default 2), and as many for the bare app.
WORKERS = int(os.environ.get("MAILERLOGIC_API_WORKERS") or 2)
CONNECTIONS = 32
THREADS = 2
WARMUP_S = 2
DURATION_S = 10
CUSTOMERS = 16  # keys rotated per request: 16 x 6000/min keeps the rate limit out of the way
PIXEL_MESSAGES = 1000
SEND_TARGET, SEND_P99_MS = 0.5, 25.0
PIXEL_TARGET, PIXEL_P99_MS = 0.7, 15.0
START_TIMEOUT_S = 60.0
BARE_SEND = f"bare Flask + SendSchema (gunicorn sync x{WORKERS})"
BARE_PIXEL = f"bare Flask GIF (gunicorn sync x{WORKERS})"
SEND_BODY = {"to": "reader@example.com", "from": "news@bench.test", "subject": "Benchmark",
             "text": "Hello from the benchmark.",
             "html": '<p>Hello from the <a href="https://example.org/">benchmark</a>.</p>'}

LUA_COMMON = r"""
local threads = {}
function setup(thread)
  thread:set("tid", #threads)
  table.insert(threads, thread)
end

ok, bad, last_bad = 0, 0, 0
function response(status, headers, body)
  if status == 200 then ok = ok + 1 else bad = bad + 1; last_bad = status end
end

function done(summary, latency, reqs)
  local good, nbad, last = 0, 0, 0
  for _, t in ipairs(threads) do
    good = good + t:get("ok")
    nbad = nbad + t:get("bad")
    if t:get("last_bad") ~= 0 then last = t:get("last_bad") end
  end
  local e = summary.errors
  io.write(string.format("BENCH requests=%d duration_us=%d ok=%d bad=%d last_bad=%d "
    .. "connect=%d read=%d write=%d status=%d timeout=%d\n", summary.requests, summary.duration,
    good, nbad, last, e.connect, e.read, e.write, e.status, e.timeout))
  io.write(string.format("BENCH p50_us=%d p90_us=%d p99_us=%d max_us=%d\n",
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max))
end

local prepared, count, i = {}, 0, 0
function request()
  i = i % count + 1
  return prepared[i]
end
"""
LUA_SEND = LUA_COMMON + r"""
-- args: body file, keys file. The same body; the API key rotates per request.
function init(args)
  local f = assert(io.open(args[1], "rb"))
  local body = f:read("*a")
  f:close()
  for key in io.lines(args[2]) do
    count = count + 1
    prepared[count] = wrk.format("POST", nil,
      {["Host"] = wrk.headers["Host"], ["Content-Type"] = "application/json", ["X-API-Key"] = key},
      body)
  end
  i = (tid * 5) % count
end
"""
LUA_PIXEL = LUA_COMMON + r"""
-- args: tokens file. Each request opens the next message's pixel.
function init(args)
  for token in io.lines(args[1]) do
    count = count + 1
    prepared[count] = wrk.format("GET", "/track/o/" .. token,
      {["Host"] = wrk.headers["Host"], ["User-Agent"] = "wrk-bench"})
  end
  i = (tid * math.floor(count / 2)) % count
end
"""


@dataclass(frozen=True)
class LowerIsBetter(Result):
    """A latency: the ratio is baseline / ours, so higher is still better."""

    @property
    def ratio(self) -> float:
        """baseline / ours."""
        return self.baseline / self.ours if self.ours else 0.0


@dataclass(frozen=True)
class Load:
    """What one wrk run measured."""

    requests: int
    seconds: float
    ok: int
    bad: int
    last_bad: int
    socket_errors: int
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float

    @property
    def ok_per_s(self) -> float:
        """Successful (200) requests per second."""
        return self.ok / self.seconds if self.seconds else 0.0

    def line(self) -> str:
        """One human line for stderr."""
        extra = f", {self.bad} non-200 (last {self.last_bad})" if self.bad else ""
        extra += f", {self.socket_errors} socket errors" if self.socket_errors else ""
        return (f"{self.ok_per_s:,.0f} ok req/s ({self.ok:,} x 200 in {self.seconds:.1f}s{extra}); "
                f"p50 {self.p50_ms:.1f} ms, p90 {self.p90_ms:.1f} ms, p99 {self.p99_ms:.1f} ms, "
                f"max {self.max_ms:.1f} ms")


@dataclass(frozen=True)
class Measured:
    """The warm-up and the measured run against one server."""

    warmup: Load
    load: Load

    @property
    def ok_total(self) -> int:
        """200 answers over both runs."""
        return self.warmup.ok + self.load.ok


# ---------------------------------------------------------------------------------- benchmarks

@register("send")
def send(options: Options) -> list[Result]:
    """``POST /api/send`` on the real API (SQLite, and PostgreSQL if configured) vs bare Flask."""
    with _run(options) as run:
        body_path = run.dir / "send.json"
        body_path.write_text(json.dumps(SEND_BODY), encoding="utf-8")
        keys_path = run.dir / "bare-keys.txt"
        keys_path.write_text("ml_live_bare\n", encoding="utf-8")
        bare = _bare(run, "/api/send", LUA_SEND, [str(body_path), str(keys_path)])
        results: list[Result] = []
        for store in run.stores():
            with _api(run, store) as api:
                keys = api.customers(CUSTOMERS)
                keys_path = api.dir / "keys.txt"
                keys_path.write_text("".join(f"{k}\n" for k in keys), encoding="utf-8")
                api.post_send(keys[0])  # one checked answer before the load: fail fast
                ours = _measure(api.port, "/api/send", LUA_SEND, [str(body_path), str(keys_path)],
                                api.dir, f"ours send ({store.name})")
                api.kill()
                stored = api.count("event_store.aggregates.message:Message.Queued")
            results += _figures(f"send{store.suffix}", "send", ours, bare, BARE_SEND, SEND_TARGET,
                                SEND_P99_MS, stored, ours.ok_total + 1)
        return results


@register("pixel")
def pixel(options: Options) -> list[Result]:
    """``GET /track/o/{token}`` for ~1000 real messages vs a bare Flask GIF."""
    from security import tokens

    with _run(options) as run:
        results: list[Result] = []
        bare: Measured | None = None
        for store in run.stores():
            with _api(run, store) as api:
                keys = api.customers(2)
                ids = [api.post_send(keys[n % len(keys)]) for n in range(PIXEL_MESSAGES)]
                tokens_path = api.dir / "tokens.txt"
                tokens_path.write_text("".join(f"{tokens.mint(run.secret, 'o', i)}\n" for i in ids),
                                       encoding="utf-8")
                if bare is None:  # the same tokens (ignored by the bare app), measured once
                    bare = _bare(run, "/track/o/x", LUA_PIXEL, [str(tokens_path)])
                api.get_pixel(tokens.mint(run.secret, "o", ids[0]))
                ours = _measure(api.port, "/track/o/x", LUA_PIXEL, [str(tokens_path)], api.dir,
                                f"ours pixel ({store.name})")
                api.kill()
                stored = api.count("event_store.aggregates.engagement:Engagement.Recorded")
            results += _figures(f"pixel{store.suffix}", "pixel", ours, bare, BARE_PIXEL,
                                PIXEL_TARGET, PIXEL_P99_MS, stored, ours.ok_total + 1)
        return results


def _figures(name: str, what: str, ours: Measured, bare: Measured, baseline_name: str,
             target: float, p99_limit_ms: float, stored: int, answered: int) -> list[Result]:
    """The req/s, p99 and durability rows of one server, with the durability verdict printed."""
    slack = CONNECTIONS * 2  # in flight when wrk stopped the warm-up and the measured run
    durable = answered <= stored <= answered + slack
    print(f"  durability ({name}): {answered:,} answers 200, {stored:,} {what} events stored "
          f"({stored - answered} committed while in flight at wrk's cut-off, <= {slack} allowed): "
          f"{'OK' if durable else 'MISMATCH'}", file=sys.stderr)
    if stored < answered:
        print(f"  LOST: {answered - stored} accepted requests are not in the event store",
              file=sys.stderr)
    return [
        Result(f"{name}_rps", "req/s", ours.load.ok_per_s, bare.load.ok_per_s, baseline_name, target),
        LowerIsBetter(f"{name}_p99_ms", "ms", ours.load.p99_ms, bare.load.p99_ms,
                      f"{baseline_name} p99; limit {p99_limit_ms:.0f} ms",
                      round(bare.load.p99_ms / p99_limit_ms, 3)),
        Result(f"{name}_durable", "events/200s", float(stored), float(answered),
               "200 answers counted by wrk", 1.0 if durable else float("inf")),
    ]


# ---------------------------------------------------------------------------------- one run

@dataclass(frozen=True)
class Store:
    """One event store the API runs on."""

    name: str
    suffix: str
    url: str  # "" = embedded SQLite


@dataclass
class Run:
    """A run's directory, secret, ClickHouse database and optional PostgreSQL server."""

    hex: str
    dir: Path
    secret: bytes
    clickhouse_url: str
    postgres_url: str

    def stores(self) -> Iterator[Store]:
        """SQLite, then a throwaway PostgreSQL database if ``EVENT_STORE_URL`` is set."""
        yield Store("sqlite", "", "")
        if self.postgres_url:
            database = f"bench_http_{self.hex}"
            _pg_admin(self.postgres_url, f'CREATE DATABASE "{database}"')
            try:
                yield Store("postgresql", "_pg", _with_path(self.postgres_url, database))
            finally:
                _pg_admin(self.postgres_url, f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')


@contextmanager
def _run(options: Options) -> Iterator[Run]:
    from warehouse import schema
    from warehouse.clients import connect

    ensure_wrk()
    hex_ = fresh_hex()
    run_dir = DATA_DIR / "runs" / f"http-{hex_}"
    run_dir.mkdir(parents=True, exist_ok=True)
    database = f"bench_http_{hex_}"
    postgres_url = os.environ.get("EVENT_STORE_URL", "")
    if postgres_url and urlsplit(postgres_url).hostname not in LOOPBACK:
        raise SystemExit(f"bench only talks to loopback services, got {postgres_url!r}")
    ch = warehouse.admin(options.services)
    try:
        ch.execute(f"CREATE DATABASE IF NOT EXISTS {database}")
        url = options.services.clickhouse_url(database)
        client = connect(url, run_dir)
        try:
            schema.apply(client)
        finally:
            client.close()
        yield Run(hex_, run_dir, os.urandom(16).hex().encode(), url, postgres_url)
    finally:
        if not options.keep:
            warehouse.drop(ch, [database])
            shutil.rmtree(run_dir, ignore_errors=True)
        ch.disconnect()


def _with_path(url: str, database: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{database}"))


def _pg_admin(url: str, statement: str) -> None:
    import psycopg

    with psycopg.connect(url, autocommit=True, connect_timeout=10) as conn:
        conn.execute(statement.encode())


# ---------------------------------------------------------------------------------- servers

class Api:
    """``mailerlogic api --workers 2`` on a free loopback port, in its own process group."""

    def __init__(self, run: Run, store: Store) -> None:
        self.run, self.store = run, store
        self.dir = run.dir / f"api-{store.name}"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.port = _free_port()
        self.env = {**os.environ, "PORT": str(self.port), "MAILERLOGIC_DATA_DIR": str(self.dir / "var"),
                    "EVENT_STORE_URL": store.url, "CLICKHOUSE_URL": run.clickhouse_url,
                    "MAILERLOGIC_SECRET_KEY": run.secret.decode(), "MAILERLOGIC_LOG_LEVEL": "WARNING",
                    "MAILERLOGIC_API_WORKERS": str(WORKERS)}
        self.process: subprocess.Popen[bytes] | None = None

    def customers(self, count: int) -> list[str]:
        """``count`` enterprise customers with the verified domain bench.test: their API keys."""
        keys = []
        for n in range(count):
            out = subprocess.run(
                [_mailerlogic(), "customers", "create", "--name", f"Bench {n}", "--email",
                 f"bench{n}@bench.test", "--tier", "enterprise", "--domain", "bench.test", "--json"],
                env=self.env, cwd=REPO_DIR, capture_output=True, check=True, timeout=60)
            keys.append(str(json.loads(out.stdout)["api_key"]))
        return keys

    def start(self) -> None:
        """Start and wait (bounded) for ``/healthz``."""
        log = (self.dir / "api.log").open("wb")
        self.process = subprocess.Popen([_mailerlogic(), "api", "--workers", str(WORKERS)],
                                        env=self.env, cwd=REPO_DIR, stdout=log,
                                        stderr=subprocess.STDOUT, start_new_session=True)
        _wait_healthy(self.port, self.process, self.dir / "api.log")

    def post_send(self, key: str) -> UUID:
        """One ``POST /api/send``; its message id (raise unless 200)."""
        status, body = _request(self.port, "POST", "/api/send", json.dumps(SEND_BODY).encode(),
                                {"Content-Type": "application/json", "X-API-Key": key})
        if status != 200:
            raise RuntimeError(f"POST /api/send answered {status}: {body[:500]!r}")
        return UUID(json.loads(body)["message_id"])

    def get_pixel(self, token: str) -> None:
        """One open (raise unless 200)."""
        status, body = _request(self.port, "GET", f"/track/o/{token}", None, {})
        if status != 200:
            raise RuntimeError(f"GET /track/o answered {status}: {body[:200]!r}")

    def kill(self) -> None:
        """SIGKILL the whole process group: what was answered must already be durable."""
        if self.process is not None and self.process.poll() is None:
            with suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=30)

    def count(self, topic: str) -> int:
        """Events of ``topic`` in the event store (read after the API is gone)."""
        from event_store.application import open_application

        events = open_application(self.store.url or None, str(self.dir / "var" / "events.sqlite"))
        try:
            recorder = events.recorder_
            total, start = 0, 1
            for _ in range(100_000):  # bounded: 10^8 notifications
                page = recorder.select_notifications(start, 1000, topics=[topic])
                total += len(page)
                if len(page) < 1000:
                    return total
                start = page[-1].id + 1
            raise RuntimeError("event store count did not finish")
        finally:
            events.close()


@contextmanager
def _api(run: Run, store: Store) -> Iterator[Api]:
    api = Api(run, store)
    try:
        yield _started(api)
    finally:
        api.kill()


def _started(api: Api) -> Api:
    api.start()
    return api


def _bare(run: Run, path: str, lua: str, args: list[str]) -> Measured:
    """The bare Flask app under the same gunicorn configuration, measured."""
    port = _free_port()
    log_path = run.dir / "bare.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "--workers", str(WORKERS), "--worker-class", "sync",
             "--bind", f"127.0.0.1:{port}", "--graceful-timeout", "10", "bench.bare_app:app"],
            cwd=REPO_DIR, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            _wait_healthy(port, process, log_path)
            return _measure(port, path, lua, args, run.dir, f"bare {path}")
        finally:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)


# ---------------------------------------------------------------------------------- wrk

def ensure_wrk() -> str:
    """The wrk binary; installed with apt-get (when root) if missing."""
    found = shutil.which("wrk")
    if found:
        return found
    if os.geteuid() != 0:
        raise SystemExit("the HTTP benchmarks need wrk: apt-get install wrk")
    for command in (["apt-get", "install", "-y", "wrk"], ["apt-get", "update"],
                    ["apt-get", "install", "-y", "wrk"]):
        print(f"  wrk is missing: running {' '.join(command)}", file=sys.stderr)
        done = subprocess.run(command, env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"},
                              capture_output=True, text=True, timeout=600, check=False)
        print(f"  ... exit {done.returncode}: {done.stdout.strip().splitlines()[-1:]}",
              file=sys.stderr)
        found = shutil.which("wrk")
        if found:
            return found
    raise SystemExit("could not install wrk")


def _measure(port: int, path: str, lua: str, args: list[str], where: Path, what: str) -> Measured:
    """A warm-up then the measured run; both printed."""
    script = where / f"{abs(hash(lua)):x}.lua"
    script.write_text(lua, encoding="utf-8")
    warmup = _wrk(port, path, script, args, WARMUP_S)
    load = _wrk(port, path, script, args, DURATION_S)
    print(f"  {what}: {load.line()}", file=sys.stderr)
    return Measured(warmup, load)


def _wrk(port: int, path: str, script: Path, args: list[str], seconds: int) -> Load:
    command = [ensure_wrk(), f"-t{THREADS}", f"-c{CONNECTIONS}", f"-d{seconds}s", "--timeout", "10s",
               "--latency", "-s", str(script), f"http://127.0.0.1:{port}{path}", "--", *args]
    done = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 60, check=False)
    if done.returncode:
        raise RuntimeError(f"wrk failed ({done.returncode}): {done.stderr[-2000:]}")
    values: dict[str, int] = {}
    for key, value in re.findall(r"(\w+)=(-?\d+)", "\n".join(
            line for line in done.stdout.splitlines() if line.startswith("BENCH "))):
        values[key] = int(value)
    if "ok" not in values or "p99_us" not in values:
        raise RuntimeError(f"unexpected wrk output: {done.stdout[-2000:]}")
    return Load(requests=values["requests"], seconds=values["duration_us"] / 1e6, ok=values["ok"],
                bad=values["bad"], last_bad=values["last_bad"],
                socket_errors=sum(values[k] for k in ("connect", "read", "write", "timeout")),
                p50_ms=values["p50_us"] / 1e3, p90_ms=values["p90_us"] / 1e3,
                p99_ms=values["p99_us"] / 1e3, max_ms=values["max_us"] / 1e3)


# ---------------------------------------------------------------------------------- helpers

def _mailerlogic() -> str:
    return str(Path(sys.executable).parent / "mailerlogic")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _request(port: int, method: str, path: str, body: bytes | None,
             headers: dict[str, str]) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request(method, path, body=body, headers=headers)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def _wait_healthy(port: int, process: subprocess.Popen[bytes], log_path: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited {process.returncode}: "
                               f"{log_path.read_text(errors='replace')[-2000:]}")
        with suppress(OSError):
            if _request(port, "GET", "/healthz", None, {})[0] == 200:
                return
        time.sleep(0.2)
    raise TimeoutError(f"server on port {port} not healthy after {START_TIMEOUT_S:.0f}s")

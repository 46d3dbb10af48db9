"""``mailerlogic projections rebuild`` and ``reset-offsets``: where they run, and their output.

Rebuild (``consumers.rebuild``): with ``CLICKHOUSE_URL`` set, this process opens the event store
and the ClickHouse server and runs it. On the embedded default chdb can be open in one process
only: when a process serves the API at ``MAILERLOGIC_API_URL`` (``run-all``), the rebuild runs
inside it (``web.operator_api``, with the operator token) and this process shows its
progress; when nothing answers there, this process opens the chdb files itself.

Reset offsets: Kafka consumer groups through ``consumers.kafka_offsets`` (refused while the group
has members); on the embedded default the reader position in the event store's tracking table
(refused while an API process answers at ``MAILERLOGIC_API_URL``: ``run-all`` runs the readers).
"""

from __future__ import annotations

import http.client
import json
import time
from datetime import UTC
from datetime import datetime
from typing import TYPE_CHECKING
from typing import Any
from urllib.parse import urlsplit

from tqdm import tqdm

from consumers.rebuild import Plan
from consumers.rebuild import Step
from consumers.rebuild import rebuild
from web.operator_api import operator_token

if TYPE_CHECKING:
    from collections.abc import Callable
    from collections.abc import Sequence

    from event_store.application import EmailEvents
    from mailerlogic.config import Settings
    from warehouse.port import ClickHouse

POLL_S = 0.5
TIMEOUT_S = 10.0


class RebuildError(Exception):
    """The rebuild could not run or failed; the message says why."""


class Unreachable(Exception):
    """Nothing answers at the API URL."""


def run(settings: Settings, api_url: str, tables: Sequence[str], show: bool = True) -> dict[str, Any]:
    """Rebuild ``tables`` (all when empty) where the data can be opened; the result as a dict."""
    Plan.of("check", tables)  # refuse bad choices before anything runs
    with Bars(show) as bars:
        if settings.clickhouse_url is None:
            remote = Operator(api_url, operator_token(settings.secret_key))
            try:
                return remote.rebuild(tables, bars.update)
            except Unreachable:
                pass  # no run-all: open the embedded files here
        from dataclasses import asdict

        return asdict(run_here(settings, tables, bars.update))


def run_here(settings: Settings, tables: Sequence[str], progress: Callable[[Step], None], *,
             events: EmailEvents | None = None) -> Any:
    """Run the rebuild in this process (``events``: the process's application, if it has one)."""
    from event_store.feed import NotificationFeed
    from mailerlogic.retention_job import longest_retention_days
    from mailerlogic.wiring import build_events
    from warehouse import retention
    from warehouse.schema import current_database

    client = open_clickhouse(settings)
    app = events or build_events(settings)
    try:
        plan = Plan.of(current_database(client), tables)
        cutoff = retention.cutoff(datetime.now(UTC), longest_retention_days(settings))
        return rebuild(NotificationFeed(app), client, plan, cutoff=cutoff, progress=progress)
    finally:
        if settings.clickhouse_url is not None:
            client.close()  # chdb: the process's one session stays open for its other users
        if events is None:
            app.close()


def open_clickhouse(settings: Settings) -> ClickHouse:
    """A client of the live database, without applying the schema (the rebuild does, or upgrades)."""
    from warehouse.clients import connect

    try:
        return connect(settings.clickhouse_url, settings.data_dir, settings.clickhouse_http_url)
    except RuntimeError as exc:
        if settings.clickhouse_url is not None:
            raise
        raise RebuildError(
            f"cannot open the embedded ClickHouse in {settings.data_dir} ({str(exc)[:200]}); another "
            "process holds it: run the command while `mailerlogic run-all` serves the API at "
            "MAILERLOGIC_API_URL (the rebuild then runs inside it), or stop that process") from None


class Operator:
    """The operator endpoints of a running ``run-all`` (loopback, operator token)."""

    def __init__(self, base: str, token: str) -> None:
        self.parts, self.token = urlsplit(base), token

    def call(self, method: str, path: str, body: Any = None) -> tuple[int, dict[str, Any]]:
        """One JSON request; raises :class:`Unreachable` when nothing listens."""
        connection = http.client.HTTPConnection(self.parts.hostname or "127.0.0.1", self.parts.port,
                                                timeout=TIMEOUT_S)
        headers = {"Authorization": f"Bearer {self.token}", "Content-Type": "application/json"}
        try:
            connection.request(method, self.parts.path.rstrip("/") + path,
                               body=None if body is None else json.dumps(body), headers=headers)
            response = connection.getresponse()
            raw = response.read()
        except ConnectionRefusedError:
            raise Unreachable(self.parts.geturl()) from None
        except OSError as exc:
            raise RebuildError(f"cannot reach {self.parts.geturl()}: {exc}") from None
        finally:
            connection.close()
        try:
            return response.status, json.loads(raw)
        except ValueError:
            return response.status, {"error": f"HTTP {response.status}", "message": raw[:200].decode()}

    def rebuild(self, tables: Sequence[str], progress: Callable[[Step], None]) -> dict[str, Any]:
        """Start the rebuild in the running process and follow it to its end; its result."""
        status, answer = self.call("POST", "/operator/projections/rebuild", {"tables": list(tables)})
        if status == 404:
            raise RebuildError(f"the process at {self.parts.geturl()} has no operator endpoints "
                               "(it is not `mailerlogic run-all` on the embedded default); stop it, "
                               "then run the command again")
        if status != 202:
            raise RebuildError(f"{answer.get('error')}: {answer.get('message')}")
        while True:
            job = answer["job"]
            progress(Step(job["phase"], job["position"], job["head"], job["written"], job["start"]))
            if job["state"] == "completed":
                result = dict(job["result"])  # finished between polls: show the bars complete
                progress(Step("replay", result["head"], result["head"], result["replayed"]))
                progress(Step("catch-up", result["caught_up_to"], result["caught_up_to"],
                              result["caught_up"], result["caught_up_to"]))
                return result
            if job["state"] == "failed":
                raise RebuildError(f"the rebuild failed in {self.parts.geturl()}: {job['error']}")
            time.sleep(POLL_S)
            status, answer = self.call("GET", "/operator/projections/rebuild")
            if status != 200:
                raise RebuildError(f"{answer.get('error')}: {answer.get('message')}")


class Bars:
    """One progress bar per phase: positions of the log read, rows written, events/s."""

    def __init__(self, show: bool) -> None:
        self.show = show
        self.bar: tqdm[Any] | None = None
        self.phase = ""

    def __enter__(self) -> Bars:
        return self

    def __exit__(self, *_exc: object) -> None:
        if self.bar is not None:
            self.bar.close()

    def update(self, step: Step) -> None:
        """Show one progress report."""
        if step.phase in ("prepare", "done"):
            return
        if step.phase != self.phase or self.bar is None:
            if self.bar is not None:
                self.bar.close()
            self.phase = step.phase
            self.bar = tqdm(total=step.head - step.start, unit=" events", unit_scale=True,
                            desc=step.phase, disable=not self.show)
        self.bar.total = max(step.head, step.position) - step.start
        self.bar.update(step.position - step.start - self.bar.n)
        self.bar.set_postfix_str(f"{step.written:,} rows written")


def reset_offsets(settings: Settings, api_url: str, group: str, to: str) -> list[str]:
    """Reset ``group`` to the ``earliest`` or ``latest`` position; lines to print."""
    if settings.kafka_bootstrap_servers:
        from consumers import kafka_offsets

        name = settings.kafka_group(group)
        try:
            offsets = kafka_offsets.reset(settings.kafka_bootstrap_servers, settings.kafka_topic,
                                          name, to)
        except (kafka_offsets.GroupActive, ValueError) as exc:
            raise RebuildError(str(exc)) from None
        return [f"partition {p}: offset {o}" for p, o in offsets.items()] + [
            f"consumer group {name} on {settings.kafka_topic} reset to the {to} offsets"]
    try:
        Operator(api_url, "").call("GET", "/healthz")
    except Unreachable:
        pass
    else:
        raise RebuildError(f"a process serves the API at {api_url} (`mailerlogic run-all` runs the "
                           f"log readers, {group} among them): stop it, then reset the offsets")
    from event_store.feed import NotificationFeed
    from mailerlogic.wiring import build_events

    app = build_events(settings)
    try:
        feed = NotificationFeed(app)
        before, position = feed.position(group), 0 if to == "earliest" else feed.head()
        feed.rewind(group, position)
    finally:
        app.close()
    return [f"reader {group}: position {before} -> {position} ({to}) in the event store's log"]

"""Rebuild projections from the event store: replay into shadow tables, swap, catch up.

The event store's notification log is the source of truth; Kafka's retention plays no part.
:func:`rebuild` runs four steps for the ``chosen`` tables of the live database ``D`` (a *whole*
rebuild: every table; or any of ``stats_hourly``, ``health_history``, ``suppressions``):

1. **prepare** — finish or discard what an interrupted run left (below); create ``D`` and its
   schema if missing (a wiped ClickHouse; tables of an older shape among the chosen ones are left
   for the swap); create the shadow database ``D_rebuild`` with the chosen tables, their
   companions (``stats_duplicates`` with ``stats_hourly``) and the views filling them.
   ``events`` is always there, as every view reads it; in a partial rebuild it is
   ``ENGINE = Null``, so only the chosen tables store rows.
2. **replay** — read the log from 0 to its head ``H`` in pages and insert each page with one
   ``INSERT INTO D_rebuild.events``; the shadow views fill the shadow tables from it, as the
   projector's insert fills the live ones. The log yields each position once and the shadow
   starts empty, so nothing needs de-duplicating. Then again from ``H`` to the new head, until a
   pass finds less than a page (at most ``passes`` times). The API and the projector go on with
   the live tables meanwhile.
3. **swap** — drop the shadow views; whole rebuild: drop the ``events`` partitions older than the
   retention cutoff (as the retention job would: expired raw events are not resurrected, the
   aggregates keep them); partial ``stats_hourly``: list in the new ``stats_duplicates`` the
   replayed positions the live ``event_positions`` lacks (the projector's backlog: it will insert
   them again). Write ``H`` to ``D_rebuild.rebuild_state``; drop the live views into the chosen
   tables; swap each chosen table with its live namesake (``EXCHANGE TABLES`` on an Atomic
   database such as chdb's, one multi-table ``RENAME`` otherwise, as on 18.16); create those views
   again from the DDL files. The old tables, now in ``D_rebuild``, have no view left: nothing
   writes into them.
4. **catch up** — read the log from ``H - margin`` to its head ``H2`` (read after the swap) and
   write what the replay did not into the live tables; drop ``D_rebuild``. Whole rebuild: through
   :class:`~consumers.clickhouse_sink.ClickHouseSink` (the new ``event_positions`` was filled by
   the same inserts as every new table, so its look-up is exact). Partial: into the chosen tables
   only, through views from ``D_rebuild.events``, each position also listed in
   ``stats_duplicates`` (the projector may have written it into the new table already).

Guarantee: when :func:`rebuild` returns, each chosen table holds what projecting the log up to
``H2`` gives, and the projector carries on from there; every read-API number stays exact.
Why nothing is lost: a position ``p <= H`` is in the shadow set from step 2 (both event stores
make ids visible in commit order; ``margin`` covers a late one anyway). A position ``p > H``
written by the projector before the swap (into the old tables), or while the views were being
replaced, was committed before ``H2`` was read, so step 4 writes it. Later ones the projector
writes into the new tables. Why nothing counts twice: ``events``, ``health_history`` and
``suppressions`` keep one row per key (ReplacingMergeTree); ``stats_hourly`` holds sets of
positions, and every position that may be stored twice is listed in ``stats_duplicates`` (by the
sink, the backlog list or step 4), so reads merge those customers' states exactly.
Reads: until the swap the API reads the old tables. ``EXCHANGE`` swaps one table atomically;
18.16's multi-table ``RENAME`` renames one table after the other under their locks (958 swaps
under concurrent reads and inserts failed none; were one to fail, readers answer 503 and the
projector retries). Between the views' drop and their creation (milliseconds) the projector's
inserts reach ``events`` only; step 4 writes those positions again.

On a crash (of this process):
* before the swap: the live tables are untouched; the next run drops ``D_rebuild`` (no state
  row) and starts over;
* during or after the swap: ``rebuild_state`` holds ``H`` and the tables; the next run first
  creates any missing live view, re-runs step 4 from ``H - margin`` (idempotent, as above), drops
  ``D_rebuild``, then does its own rebuild. A table left unswapped keeps its live version, which
  the projector kept complete.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING

from consumers.clickhouse_sink import ClickHouseSink
from consumers.rebuild_pages import Log
from consumers.rebuild_pages import Progress
from consumers.rebuild_pages import Step
from consumers.rebuild_pages import Write
from consumers.rebuild_pages import copy
from consumers.rebuild_pages import drop_expired
from consumers.rebuild_pages import sunk
from consumers.rebuild_pages import teller
from consumers.rebuild_pages import writer
from warehouse import schema
from warehouse.schema import quote

if TYPE_CHECKING:
    from collections.abc import Sequence
    from datetime import datetime

    from event_store.envelope import Envelope
    from warehouse.port import ClickHouse

__all__ = ["Plan", "Replayed", "Result", "Step", "rebuild"]
log = logging.getLogger(__name__)
PAGE, MARGIN, PASSES = 20_000, 1_000, 5
BACKLOG_CHUNK = 1_000_000
REPLAYED = "replayed"  # partial stats_hourly rebuild: (position, customer) of every replayed row
REPLAYED_SQL = ("CREATE TABLE {s}.replayed (position UInt64, customer_id UUID) "
                "ENGINE = MergeTree() ORDER BY position",
                "CREATE MATERIALIZED VIEW {s}.replayed_mv TO {s}.replayed AS "
                "SELECT position, customer_id FROM {s}.events")
BACKLOG_SQL = (
    "INSERT INTO {s}.stats_duplicates (customer_id, position) SELECT customer_id, position "
    "FROM {s}.replayed WHERE position >= %(lo)s AND position <= %(hi)s AND position NOT IN "
    "(SELECT position FROM {d}.event_positions WHERE position >= %(lo)s AND position <= %(hi)s)")


@dataclass(frozen=True)
class Plan:
    """What to rebuild: the ``chosen`` tables (companions included) of the live ``database``."""

    database: str
    chosen: tuple[str, ...]
    page: int = PAGE
    margin: int = MARGIN
    passes: int = PASSES

    @classmethod
    def of(cls, database: str, chosen: Sequence[str] = (), **options: int) -> Plan:
        """A plan for ``chosen`` (default and with every table: a whole rebuild)."""
        unknown = sorted(set(chosen) - set(schema.rebuildable()))
        if unknown:
            raise ValueError(f"unknown table(s) {', '.join(unknown)}; "
                             f"known: {', '.join(schema.rebuildable())}")
        tables = schema.with_companions(chosen) if chosen else schema.tables()
        if set(tables) != set(schema.tables()) and set(tables) & set(schema.WHOLE_ONLY):
            raise ValueError(f"{' and '.join(schema.WHOLE_ONLY)} are rebuilt only with every "
                             "table (give no --table)")
        return cls(database, tuple(tables), **options)

    @property
    def shadow(self) -> str:
        """The shadow database."""
        return schema.shadow_name(self.database)

    @property
    def whole(self) -> bool:
        """Every table is rebuilt."""
        return set(self.chosen) == set(schema.tables())

    @property
    def lists_backlog(self) -> bool:
        """A partial rebuild of ``stats_hourly``: the projector's backlog must be listed."""
        return not self.whole and "stats_hourly" in self.chosen


@dataclass(frozen=True)
class Replayed:
    """Step 2's outcome: the head reached, rows written, the positions of its last ``margin``."""

    head: int
    written: int
    tail: frozenset[int]


@dataclass(frozen=True)
class Result:
    """What a rebuild did."""

    tables: tuple[str, ...]
    head: int
    caught_up_to: int
    replayed: int
    caught_up: int
    dropped_partitions: tuple[str, ...]
    replay_s: float
    total_s: float
    finished_interrupted: bool


def rebuild(log_: Log, client: ClickHouse, plan: Plan, *, cutoff: datetime | None,
            progress: Progress | None = None) -> Result:
    """Run every step; see the module docstring. ``client`` must be bound to ``plan.database``."""
    started = time.monotonic()
    interrupted = prepare(log_, client, plan, progress)
    replayed = replay(log_, client, plan, progress)
    replay_s = time.monotonic() - started
    dropped = swap(client, plan, replayed.head, cutoff)
    caught_up_to, caught_up = catch_up(log_, client, plan, replayed.head, replayed.tail, progress)
    finish(client, plan)
    return Result(plan.chosen, replayed.head, caught_up_to, replayed.written, caught_up, dropped,
                  replay_s, time.monotonic() - started, interrupted)


def prepare(log_: Log, client: ClickHouse, plan: Plan, progress: Progress | None = None) -> bool:
    """Step 1; True when an interrupted run had to be finished first."""
    bound = schema.current_database(client)
    if bound != plan.database:
        raise ValueError(f"the client is bound to {bound}, not to {plan.database}")
    interrupted = recover(log_, client, plan, progress)
    client.execute(f"CREATE DATABASE IF NOT EXISTS {quote(plan.database)}")
    outdated = schema.outdated_tables(client, plan.database)
    stray = [table for table in outdated if table not in plan.chosen]
    if stray:
        raise schema.SchemaOutdated(f"{', '.join(stray)} in {plan.database} has an older shape: "
                                    f"rebuild it too (--table {' --table '.join(stray)})")
    schema.ensure(client, plan.database, skip=outdated)
    schema.create_shadow(client, plan.shadow, plan.chosen)
    if plan.lists_backlog:
        for sql in REPLAYED_SQL:
            client.execute(sql.format(s=quote(plan.shadow)))
    return interrupted


def recover(log_: Log, client: ClickHouse, plan: Plan, progress: Progress | None = None) -> bool:
    """Finish (after its swap) or drop (before it) what an interrupted run left."""
    if not schema.exists(client, plan.shadow):
        return False
    state = swapped(client, plan.shadow)
    if state is None:
        log.warning("rebuild: dropping %s, left by a run that stopped before its swap", plan.shadow)
    else:
        head, tables = state
        previous = Plan(plan.database, tables, plan.page, plan.margin, plan.passes)
        log.warning("rebuild: a run stopped after its swap; catching up from %d first", head)
        for sql in schema.view_statements(plan.database, schema.views_into(tables)):
            client.execute(sql)  # IF NOT EXISTS: the views a crash may have left dropped
        catch_up(log_, client, previous, head, frozenset(), progress)
    finish(client, plan)
    return state is not None


def replay(log_: Log, client: ClickHouse, plan: Plan, progress: Progress | None = None) -> Replayed:
    """Step 2: the log up to its head into the shadow set, in passes until it stays behind."""
    last, written, tail = 0, 0, deque[int](maxlen=plan.margin)
    head = log_.head()
    for _ in range(plan.passes):
        into = writer(client, f"{plan.shadow}.events", tail)
        written = copy(log_, plan.page, last, head, written, into, teller(progress, "replay", head))
        last, head = head, log_.head()
        if head - last < plan.page:
            break
    return Replayed(last, written, frozenset(tail))


def swap(client: ClickHouse, plan: Plan, head: int, cutoff: datetime | None) -> tuple[str, ...]:
    """Step 3: retire the shadow views, prepare the shadow tables, swap them in."""
    shadow, live = quote(plan.shadow), quote(plan.database)
    schema.drop_views(client, plan.shadow, [*schema.views_into(plan.chosen), f"{REPLAYED}_mv"])
    if plan.lists_backlog:
        for lo in range(0, head + 1, BACKLOG_CHUNK):
            client.execute(BACKLOG_SQL.format(s=shadow, d=live),
                           {"lo": lo, "hi": lo + BACKLOG_CHUNK - 1})
    dropped = drop_expired(client, plan.shadow, cutoff) if plan.whole else ()
    client.execute(f"CREATE TABLE {shadow}.{schema.REBUILD_STATE} (head UInt64, tables String) "
                   "ENGINE = TinyLog")
    client.execute(f"INSERT INTO {shadow}.{schema.REBUILD_STATE} SELECT toUInt64(%(head)s), "
                   "%(tables)s", {"head": head, "tables": ",".join(plan.chosen)})
    views = schema.views_into(plan.chosen)
    exchange = schema.can_exchange(client, plan.database)
    schema.drop_views(client, plan.database, views)
    for statement in schema.swap_statements(plan.database, plan.shadow, plan.chosen, exchange):
        client.execute(statement)
    for statement in schema.view_statements(plan.database, views):
        client.execute(statement)
    log.info("rebuild: swapped %s into %s with %s", ", ".join(plan.chosen), plan.database,
             "EXCHANGE" if exchange else "RENAME")
    return dropped


def catch_up(log_: Log, client: ClickHouse, plan: Plan, head: int, seen: frozenset[int],
             progress: Progress | None = None) -> tuple[int, int]:
    """Step 4: what the replay did not write, from ``head - margin`` to the current head."""
    after, now = max(head - plan.margin, 0), log_.head()
    if plan.whole:
        sink = ClickHouseSink(client)
        write: Write = lambda found: sunk(sink, found)  # noqa: E731
    else:
        client.execute(schema.null_events(plan.shadow))  # IF NOT EXISTS: there unless recovering
        for sql in schema.retargeted_views(plan.shadow, plan.database, schema.views_into(plan.chosen)):
            client.execute(sql)
        write = writer(client, f"{plan.shadow}.events", listed="stats_hourly" in plan.chosen,
                        database=plan.database)
    def unseen(found: Sequence[Envelope]) -> int:
        return write([e for e in found if e.position not in seen])

    return now, copy(log_, plan.page, after, now, 0, unseen, teller(progress, "catch-up", now, after))


def finish(client: ClickHouse, plan: Plan) -> None:
    """Drop the shadow database (the old tables after a swap)."""
    client.execute(f"DROP DATABASE IF EXISTS {quote(plan.shadow)}")


def swapped(client: ClickHouse, shadow: str) -> tuple[int, tuple[str, ...]] | None:
    """The head and tables an interrupted run recorded before its swap, or None."""
    if not schema.exists(client, shadow, schema.REBUILD_STATE):
        return None
    rows = client.execute(f"SELECT head, tables FROM {quote(shadow)}.{schema.REBUILD_STATE}")
    return (int(rows[0][0]), tuple(str(rows[0][1]).split(","))) if rows else None


